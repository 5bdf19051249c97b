"""Stop the worker at once on an unexpected error, so the message that caused it is read again.

Faust acks a message whose handler raised and restarts the agent, which would skip it silently
(design §4). Exiting before the offset is committed keeps it: another worker, or this one restarted,
re-reads it, and the offset watermarks make the redelivery harmless.
"""
from __future__ import annotations

import logging
import os
import sys

EXIT_CODE = 70  # EX_SOFTWARE

log = logging.getLogger(__name__)


def stop_worker(what: str, error: BaseException) -> None:
    log.critical("%s failed, stopping the worker so the message is re-read: %r", what, error, exc_info=error)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(EXIT_CODE)
