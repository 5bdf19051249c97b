"""A table's RocksDB gets a write only after the broker acknowledged its changelog record (at-least-once mode).

Evidence: Faust writes a table value to RocksDB at once (`Store._set`) and sends its changelog record a
moment later. A worker killed in between (kill -9, OOM, power loss) left RocksDB *ahead* of the changelog
and of the input offsets it committed: the re-read input then looked already applied (its offset under the
state's watermark, spec §2.4.2) and its effects were never produced. streams/lifecycle.py therefore threw
the whole local store away after every unclean stop and restored every changelog from its start: 147 s
after 1,000,000 occurrences (bench/recovery.py), against 6.5 s for a clean restart.

Here a write queued by changelog_batches.py is held in memory, per store, until `drain()` has its record
acknowledged; the drain then writes the acknowledged records of each partition *and* that partition's
persisted offset in one RocksDB WriteBatch (atomic, through the write-ahead log). So RocksDB only ever holds
a prefix of what the changelog holds, with the offset that prefix ends at: after an unclean stop Faust's
recovery reads the changelog on from that offset, exactly as after a clean stop, and the local store is kept.

Reads (`_get`, `_contains`, iteration) see held writes first, so the agents read their own writes as before.
A held key's `_set`/`_del` leaves RocksDB alone: its queued record carries the write. A delete that no
changelog record carries (Faust's expiry of an old window) still reaches RocksDB at once.

Under `processing_guarantee="exactly_once"` nothing is queued or held (changelog_batches keeps Faust's
transactional path) and lifecycle.py still discards the store after an unclean stop.

Upstream: unchanged in faust-streaming's newest code (181b1840, 2026-08-20): RocksDB is written before the
changelog is sent.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import rocksdict
from faust.stores.rocksdb import Store
from faust.streams import current_event

from streams.faust_compat.patch import Patch

_HELD = "_issue_platform_held"  # per store: key bytes → value bytes, or None for a delete
_MISSING = object()

_original_set = Store._set
_original_del = Store._del
_original_get = Store._get
_original_contains = Store._contains
_original_iteritems = Store._iteritems


def held_writes(store: Any) -> dict[bytes, bytes | None]:
    """The writes of `store` whose changelog records are not yet acknowledged (empty for other stores)."""
    held: dict[bytes, bytes | None] | None = store.__dict__.get(_HELD)
    if held is None:
        held = {}
        if isinstance(store, Store):
            store.__dict__[_HELD] = held
    return held


def hold(store: Any, key: bytes | None, value: bytes | None) -> None:
    """Called as the write's changelog record is queued, just before Faust writes the store."""
    if isinstance(store, Store) and key is not None:
        held_writes(store)[key] = value


def write_acknowledged(store: Any, tp: Any, records: list[tuple[bytes | None, bytes | None]], offset: int) -> None:
    """`records` of partition `tp` are acknowledged up to changelog `offset`: write them and the offset at once."""
    if not isinstance(store, Store):  # the memory store already holds them; only the offset is Faust's bookkeeping
        store.set_persisted_offset(tp, offset)
        return
    batch = rocksdict.WriteBatch(raw_mode=True)
    for key, value in records:
        if key is None:
            continue
        if value is None:
            batch.delete(key)
        else:
            batch.put(key, value)
    # What Faust's set_persisted_offset writes, in the same batch: the offset never runs ahead of the data.
    batch.put(store.offset_key, str(offset).encode())
    store._db_for_partition(tp.partition).write(batch)  # noqa: SLF001
    held = held_writes(store)
    for key, value in records:
        # A later write of the key, still queued, keeps its hold (and a later equal write needs none).
        if key is not None and held.get(key, _MISSING) == value:
            del held[key]


def _set(self: Any, key: bytes, value: bytes | None) -> None:
    held = self.__dict__.get(_HELD)
    if held and key in held:
        event = current_event()
        if event is not None:  # what the original keeps, for reads without a current event
            self._key_index[key] = event.message.partition  # noqa: SLF001
        return
    _original_set(self, key, value)


def _del(self: Any, key: bytes) -> None:
    held = self.__dict__.get(_HELD)
    if held and key in held:
        if held[key] is None:
            return
        del held[key]  # a delete without a changelog record: RocksDB now, like Faust
    _original_del(self, key)


def _get(self: Any, key: bytes) -> bytes | None:
    held = self.__dict__.get(_HELD)
    if held:
        value = held.get(key, _MISSING)
        if value is not _MISSING:
            return value  # type: ignore[return-value]
    result: bytes | None = _original_get(self, key)
    return result


def _contains(self: Any, key: bytes) -> bool:
    held = self.__dict__.get(_HELD)
    if held:
        value = held.get(key, _MISSING)
        if value is not _MISSING:
            return value is not None
    return bool(_original_contains(self, key))


def _iteritems(self: Any) -> Iterator[tuple[bytes, bytes]]:
    held = dict(self.__dict__.get(_HELD) or {})
    for key, value in _original_iteritems(self):
        if key not in held:
            yield key, value
    for key, held_value in held.items():
        if held_value is not None:
            yield key, held_value


def _iterkeys(self: Any) -> Iterator[bytes]:
    for key, _ in _iteritems(self):
        yield key


def _itervalues(self: Any) -> Iterator[bytes]:
    for _, value in _iteritems(self):
        yield value


def _size(self: Any) -> int:
    return sum(1 for _ in _iteritems(self))


PATCHES = (
    Patch(Store, "_set", _set, _original_set),
    Patch(Store, "_del", _del, _original_del),
    Patch(Store, "_get", _get, _original_get),
    Patch(Store, "_contains", _contains, _original_contains),
    Patch(Store, "_iteritems", _iteritems, _original_iteritems),
    Patch(Store, "_iterkeys", _iterkeys, Store._iterkeys),
    Patch(Store, "_itervalues", _itervalues, Store._itervalues),
    Patch(Store, "_size", _size, Store._size),
)
