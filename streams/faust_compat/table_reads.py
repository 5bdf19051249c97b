"""Table reads in one store lookup: what the grouping agent reads for every message.

Faust's `Table.__getitem__` (mode's FastUserDict) asks the store `key in data` and then `data[key]`: two key
encodings and two RocksDB lookups for a key that exists, then `__missing__` for one that does not; a
windowed read adds a WindowWrapper and a WindowSet on top. The grouping agent reads its key's state, its
dedupe records and its noise windows for every message, so these functions encode the key once and ask
the store once. They go through the store's `_get`, so writes still held for their changelog
acknowledgement (store_after_changelog) are read like any other, and they need Faust's current event to be
the key's (make_current), as Faust's own reads do. Table sensors (`on_key_get`) are not called: the
worker installs none.
"""
from __future__ import annotations

from typing import Any


def table_get(table: Any, key: Any) -> Any | None:
    """The table's value for `key`, or None when it has none (not the table's default)."""
    store = table.data
    encode = getattr(store, "_encode_key", None)
    if encode is None:  # a store that keeps objects, not bytes (memory://): its own lookup is one already
        return store.get(key)
    raw = store._get(encode(key))
    return None if raw is None else store._decode_value(raw)


def windowed_get(windowed: Any, key: Any, t: float) -> Any | None:
    """The value of `key` in the window of the windowed table (`table.tumbling(...)`/`hopping(...)` wrapper)
    that is current at `t`, as `windowed.relative_to(t)[key].value()` reads it; None when it has none."""
    table = windowed.table
    return table_get(table, (key, table.window.current(t)))
