"""Keep the root logger at the worker's `-l` level: Faust's progress spinner lowers it to DEBUG.

Evidence: with `-l warn` (or any level from WARN up) Faust's `Worker._setup_spinner_handler` adds a handler
that spins a terminal spinner on every log record and sets the *root logger* to DEBUG so that it sees them
all. Every `log.debug(...)` in aiokafka and Faust (one or more per produced record) then builds a LogRecord
that the output handler drops: a py-spy profile of a worker under `make bench` at `-l warn` showed 10.9 %
of its CPU in `Logger.debug` → `LogRecord.__init__`. Here the spinner handler is added as before, but the
root logger keeps the level the worker was started with.

Upstream: unchanged in faust-streaming's newest code (181b1840, 2026-08-20).
"""
from __future__ import annotations

import logging
from typing import Any

from faust.worker import Worker

from streams.faust_compat.patch import Patch

_original_setup_spinner_handler = Worker._setup_spinner_handler


def _setup_spinner_handler_keeping_level(self: Any, logger: logging.Logger, level: int) -> None:
    _original_setup_spinner_handler(self, logger, level)
    if level:
        logger.setLevel(level)


PATCHES = (Patch(Worker, "_setup_spinner_handler", _setup_spinner_handler_keeping_level,
                 _original_setup_spinner_handler),)
