"""Every table of the worker, with its key, value, window and expiry (design §4): state declared in one place.

Values are plain dicts, JSON in the changelog (Faust picks json for non-Record types). Each table
partition is one RocksDB with the bounded options of `table_store_options`.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import Any

from faust import EventT

from streams.app import app, settings
from streams.core.decide import keep_seconds
from streams.core.group_state import KeyState, type_rules
from streams.core.noise import window_step
from streams.faust_compat import rocksdb_memory
from streams.faust_compat.window_expiry import expire_restored_windows
from streams.services import registry
from streams.topics import COMPACTED_CONFIG, windowed_changelog_config

log = logging.getLogger(__name__)

MIB = 1024 * 1024

# One memtable budget and one block cache for every table partition of this worker, however many it owns
# (applied by the faust_compat patch of RocksDBOptions.as_options; databases open after this line).
rocksdb_memory.configure(block_cache_bytes=settings.rocksdb_block_cache_mb * MIB,
                         memtable_bytes=settings.rocksdb_memtables_mb * MIB)


def table_store_options() -> dict[str, int]:
    """RocksDB options for every table. A fresh dict each time: Faust's store pops keys from the one it gets."""
    return {
        "write_buffer_size": settings.rocksdb_write_buffer_mb * MIB,
        # Two memtables: one filling while the other is flushed, so the write-ahead log stays short. It is
        # bounded by them (one column family: a log file goes once its memtable is flushed; measured at most
        # 17 MB while 120 MB were written). `max_total_wal_size` could not be set anyway: Faust 0.15.3's
        # rocksdict path (RocksDBOptions.as_options) builds the options from its own fields only, and
        # passes extra keys to python-rocksdb alone, which is not installed.
        "max_write_buffer_number": 2,
        # Used only where the shared cache is not installed (rocksdb_memory patch off: unit tests).
        "block_cache_size": settings.rocksdb_block_cache_mb * MIB,
    }


# group key → KeyState (live group, pending quota request, watermark); co-partitioned with the grouping topic.
groups = app.Table(
    "groups",
    key_type=str,
    value_type=None,
    partitions=settings.partitions,
    options=table_store_options(),
    extra_topic_configs=COMPACTED_CONFIG,
    help="Per group key: the live group, a pending creation, the offset watermark (spec §1.1, §2.4.2)",
)

DEDUPE_SECONDS = settings.dedupe_window_seconds


def _ids_in_dedupe_windows(name: str, help: str) -> Any:
    """A table of ids in tumbling windows of the dedupe size: an id recorded at t0 is in the window of T or
    the one before while t0 > T − W. Read and written relative to an explicit time (spec §0.2)."""
    # `default=dict`: Faust's window operations read every window first, and a missing one must read as empty.
    table = app.Table(
        f"{name}-{DEDUPE_SECONDS}s", default=dict, value_type=None, partitions=settings.partitions,
        options=table_store_options(),
        extra_topic_configs=windowed_changelog_config(DEDUPE_SECONDS, DEDUPE_SECONDS, DEDUPE_SECONDS),
        help=help,
    ).tumbling(timedelta(seconds=DEDUPE_SECONDS), expires=timedelta(seconds=DEDUPE_SECONDS)).relative_to_stream()
    expire_restored_windows(table)
    return table


# "{group key}/{id}" → {t, offset}: ids recorded within the dedupe window (spec §12.3).
seen_ids = _ids_in_dedupe_windows("seen-ids", "Occurrence and status-change ids seen per group key (spec §12.3)")


def _noise_tables() -> dict[int, Any]:
    """group key → noise count: one hopping windowed table per distinct NoiseConfig expiry (§10.4.1, §13.1.3)."""
    tables: dict[int, Any] = {}
    for group_type in registry.all():
        rules = type_rules(group_type)
        if rules.has_noise_gate and rules.noise_seconds not in tables:
            size = rules.noise_seconds
            assert size is not None
            table = app.Table(
                f"noise-{size}s", default=dict, value_type=None, partitions=settings.partitions,
                options=table_store_options(),
                extra_topic_configs=windowed_changelog_config(size, window_step(size), size),
                help=f"Noise windows of {size}s, hopping by {window_step(size)}s (spec §13.1.3)",
            ).hopping(size, window_step(size), expires=timedelta(seconds=size)).relative_to_stream()
            expire_restored_windows(table)
            tables[size] = table
    return tables


noise_tables = _noise_tables()
# Stands in for the noise window of a key state that does not record its own (see `keep_seconds`).
LONGEST_NOISE_SECONDS = max(noise_tables, default=0)


def idle_keep_seconds(state: KeyState) -> float:
    """How long a `groups` key without a group is kept after its last message (design §4 "Bounded state")."""
    return keep_seconds(state, dedupe_seconds=DEDUPE_SECONDS, longest_noise_seconds=LONGEST_NOISE_SECONDS)


# "{project_id}:{type_id}" → QuotaState: grants per granule and the offset watermark (spec §13.2.5 step 2);
# co-partitioned with the quota topic.
quotas = app.Table(
    "quotas", key_type=str, value_type=None, partitions=settings.partitions, options=table_store_options(),
    extra_topic_configs=COMPACTED_CONFIG,
    help="Creation quota per (project, type): grants per granule (spec §13.2.2)",
)

# "{quota key}/{request id}" → {"granted", "offset"}: the answer given to each request, under its own key
# (spec §2.4.11), so a request sent again gets the same answer (§13.2.3). Windows of the request's T, like
# the dedupe ids: a request is sent again by an owner that decided its occurrence again after a crash,
# within the same windows as the ids it dedupes by.
quota_answers = _ids_in_dedupe_windows("quota-answers",
                                       "The answer given to each creation-quota request (spec §13.2.3)")


# "{check}|{project}|{ms}|{group key}" → the entry's time: the due-time index of spec §15.1 (streams.core.timers),
# written by the grouping owner beside the key's state, read in time order by the timers' scan.
timer_index = app.Table(
    "timer-index", key_type=str, value_type=None, partitions=settings.partitions, options=table_store_options(),
    extra_topic_configs=COMPACTED_CONFIG, help="Per group and timer check, when it is due (spec §15.1)",
)


async def _log_changelog_event(event: EventT) -> None:
    # Every worker reads the changelog, the writer too: this line shows when a change reached each of them.
    name = event.key if isinstance(event.key, str) else repr(event.message.key)  # never raise in recovery
    log.info("options: change of %s read from the changelog (offset %s)", name, event.message.offset)


# option name → {"value": stored value, "offset": options-topic offset of that value} (spec §2.4.2).
# A GlobalTable: every worker reads the whole changelog, so a change written here by the one worker that
# owns the options partition reaches every worker, and a restarted worker recovers it (spec §10.4.1).
options_table = app.GlobalTable(
    "options",
    key_type=str,
    value_type=None,
    # One changelog partition, like the one-partition topic that writes it: a table's changelog must
    # match its source topic (PartitionsMismatch otherwise, design §5).
    partitions=1,
    options=table_store_options(),
    extra_topic_configs=COMPACTED_CONFIG,
    # Faust 0.15.3 assigns a global table's changelog to every worker as active *and* standby, and keeps
    # reading it after recovery, but applies what it reads in batches of recovery_buffer_size (default
    # 1000): with 1 a change applies on arrival, not after 999 more. It is also Faust's documented
    # workaround for global tables stuck in recovery with several workers.
    recovery_buffer_size=1,
    on_changelog_event=_log_changelog_event,
    help="Runtime options: release flags and settings (spec §10.4)",
)

# Every table, whose changelogs `migrate` and a starting worker declare (streams.topic_admin); a windowed
# table by the Table under its window wrapper.
TABLES: tuple[Any, ...] = (groups, seen_ids.table, *(noise.table for noise in noise_tables.values()), quotas,
                           quota_answers.table, options_table, timer_index)


class _OptionsView(Mapping[str, object]):
    """Option name → stored value, read live from `options_table` (spec §10.4.1).

    Live rather than a snapshot: a change applied from the table's changelog is seen by the very next
    occurrence, on every worker. The table's entries also carry their source offset; callers see only
    the value.
    """

    def __getitem__(self, name: str) -> object:
        entry = options_table.get(name)
        if entry is None:
            raise KeyError(name)
        return entry["value"]

    def __iter__(self) -> Iterator[str]:
        return iter(list(options_table.keys()))

    def __len__(self) -> int:
        return len(options_table)


_OPTIONS = _OptionsView()


def current_options() -> Mapping[str, object]:
    """Runtime options every worker reads (spec §10.4): release flags and settings that change without restart."""
    return _OPTIONS
