"""The only code that touches Faust's or aiokafka's internals: patches (`apply`) and private reads (`internals`).

`apply()` is called by the entry point (`streams.cli`), never as a side effect of an import. Each patch
module's docstring states the evidence for it and what upstream did about it.
"""
from __future__ import annotations

import os

from streams.faust_compat import (
    batch_delivery,
    bulk_restore,
    changelog_batches,
    eager_delivery,
    idempotence,
    log_level,
    metadata_backoff,
    offset_trace,
    producer_flush,
    rocksdb_memory,
    seek,
    shutdown,
    store_after_changelog,
    topic_ready,
    window_expiry,
)
from streams.faust_compat.patch import Patch
from streams.faust_compat.versions import UnsupportedFrameworkVersion, check_installed_versions

__all__ = ["PATCHES", "UnsupportedFrameworkVersion", "apply"]

PATCHES: tuple[Patch, ...] = (*producer_flush.PATCHES, *topic_ready.PATCHES, *seek.PATCHES, *idempotence.PATCHES,
                               *log_level.PATCHES, *shutdown.PATCHES, *eager_delivery.PATCHES,
                               *changelog_batches.PATCHES, *store_after_changelog.PATCHES, *bulk_restore.PATCHES,
                               *rocksdb_memory.PATCHES, *window_expiry.PATCHES, *batch_delivery.PATCHES,
                               *metadata_backoff.PATCHES)

_applied = False


def apply() -> None:
    """Install every patch, once; refuse (`UnsupportedFrameworkVersion`) on any framework version but the pins."""
    global _applied
    if _applied:  # wrapping twice would make a wrapper call itself
        return
    check_installed_versions()
    if os.environ.get(offset_trace.OFFSET_TRACE_VARIABLE):
        offset_trace.apply()
    seek.wrap_current_perform_seek()  # after the trace: with it on, our perform_seek calls its wrapper
    for patch in PATCHES:
        patch.install()
    _applied = True
