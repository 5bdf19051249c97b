"""Every producer of the worker is idempotent with acks=all, not only Faust's transactional ones (spec §2.4.8).

Evidence: Faust 0.15.3's aiokafka driver passes `enable_idempotence=True` (and `acks="all"`) only when the
app runs in a transaction (`Producer._settings_extra`: `if self.app.in_transaction`); our worker runs with
`processing_guarantee="at_least_once"`, so its producer retried batches without sequence numbers. A retried
batch could then be written twice, or a later batch land after a failed one and leave a gap in a partition.
With idempotence the broker refuses out-of-sequence batches, so a failed batch fails every later batch to
the same partition instead (spec §2.4.8), and the worker stops on the first failure (agents/failure.py).

Upstream: unchanged in faust-streaming's newest code (181b1840, 2026-08-20); Faust has no setting for it.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from faust.transport.drivers import aiokafka as faust_aiokafka

from streams.faust_compat.patch import Patch

_original_settings_extra = faust_aiokafka.Producer._settings_extra


def _settings_extra_idempotent(self: Any) -> Mapping[str, Any]:
    return {**_original_settings_extra(self), "acks": "all", "enable_idempotence": True}


PATCHES = (Patch(faust_aiokafka.Producer, "_settings_extra", _settings_extra_idempotent, _original_settings_extra),)
