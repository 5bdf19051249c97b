"""Our topics (spec §2.1) with their broker configuration, and the configuration of the tables' changelogs.

Each topic carries its whole configuration on the Faust topic, so the topic is created the same way by
`issue-platform migrate`, by a starting worker (streams.topic_admin) and by Faust itself.
"""
from __future__ import annotations

from faust import TopicT

from streams.app import app, settings
from streams.settings import MAX_RECORD_BYTES

INGEST = "ingest-occurrences"
DLQ = "ingest-occurrences-dlq"
GROUPING = "issue-platform-grouping"
GROUP_CHANGES = "issue-platform-group-changes"
POST_PROCESS = "issue-platform-post-process"
ACTIVITY = "issue-platform-activity"
ANALYTICS = "issue-platform-analytics"
QUOTA = "issue-platform-quota"

MIB = 1024 * 1024
HOUR_MS = 3_600_000

# Records up to 8 MiB on every topic (spec §2.1.1).
_TOPIC_CONFIG = {"max.message.bytes": str(MAX_RECORD_BYTES)}

# A compacted topic whose size stays O(live keys). The broker never cleans a partition's active segment,
# and by default a segment rolls only after 7 days or 1 GiB, so a changelog rewritten on every message kept
# every write of the last days (issue 11: 985 MB for 17,842 keys in one partition). A segment rolled every
# ten minutes or 64 MiB becomes cleanable soon (with hourly segments bench.soak saw the `groups` changelog
# grow by 17 MB a minute for the whole 30-minute run at 200 occurrences/s: nothing is cleaned before the first
# roll, and a restore reads all of it); a dirty ratio of 0.1 (default 0.5) cleans it before the log has
# doubled; a delete marker (a forgotten key) is kept for a day after cleaning, so a reader that is up to a
# day behind (a worker restoring, a standby) still sees the delete.
COMPACTED_SEGMENT_MS = 10 * 60 * 1000
COMPACTED_CONFIG: dict[str, str] = {
    **_TOPIC_CONFIG,
    "cleanup.policy": "compact",
    "segment.ms": str(COMPACTED_SEGMENT_MS),
    "segment.bytes": str(64 * MIB),
    "min.cleanable.dirty.ratio": "0.1",
    "delete.retention.ms": str(24 * HOUR_MS),
}

# A record's clock may run ahead of the worker that expires its window (ingest workers' clocks differ,
# spec §0.2): its window is kept this much longer than the writer's own clock says.
WINDOW_CLOCK_MARGIN_SECONDS = 600


def windowed_changelog_config(size: float, step: float, expires: float) -> dict[str, str]:
    """Changelog of a windowed table: compacted, and each record deleted once its window is gone.

    Faust removes a window from the table when its end is `expires` behind the clock, so a record written at
    t (into windows ending at most `size` later, rounded up to a `step`) is needed until t + size + step +
    expires. Faust's own default, retention.ms = expires, deletes records of windows still in use: a worker
    restoring the table then would not see them. An expired window gets a delete marker from the worker's
    cleanup (streams/faust_compat/window_expiry.py; Faust writes none), which compaction acts on: `delete`
    alone cannot be relied on, as the log cleaner merges old segments into newer ones (a merged segment
    goes only once its newest record is older than the retention).
    """
    retention_ms = int((size + step + expires + WINDOW_CLOCK_MARGIN_SECONDS) * 1000)
    return {
        **COMPACTED_CONFIG,
        "cleanup.policy": "compact,delete",
        "retention.ms": str(retention_ms),
        # An expired window's delete marker (streams/faust_compat/window_expiry.py) is kept as long as a
        # window, not a day: the seen-ids table writes one per occurrence. A reader that misses one (a
        # restore more than that behind) expires the window it restored itself (expire_restored_windows).
        "delete.retention.ms": str(retention_ms),
        # Deletion removes whole segments only: a segment must roll well within the retention.
        "segment.ms": str(min(HOUR_MS, retention_ms // 4)),
    }


def _declare(name: str, *, raw_key: bool) -> TopicT:
    return app.topic(
        settings.topic_prefix + name,
        # Detectors send arbitrary keys and bytes; decoding them inside Faust would fail before the DLQ
        # could see them, so external-facing topics are raw on both sides (design §5).
        key_type=bytes if raw_key else str,
        value_type=bytes,
        key_serializer="raw" if raw_key else "json",
        value_serializer="raw",
        partitions=settings.partitions,
        internal=True,
        config=_TOPIC_CONFIG,
    )


ingest_topic = _declare(INGEST, raw_key=True)
dlq_topic = _declare(DLQ, raw_key=True)
# Keyed by group key (JSON string), co-partitioned with the tables that follow it.
grouping_topic = _declare(GROUPING, raw_key=False)
group_changes_topic = _declare(GROUP_CHANGES, raw_key=False)
# Keyed by "{project_id}:{type_id}": one writer per creation quota (spec §13.2.5).
quota_topic = _declare(QUOTA, raw_key=False)
# Downstream consumers get the group key as plain UTF-8 bytes.
post_process_topic = _declare(POST_PROCESS, raw_key=True)
activity_topic = _declare(ACTIVITY, raw_key=True)
# Nothing writes it yet (spec §24.4); declared so downstream consumers find it from the first deployment.
analytics_topic = _declare(ANALYTICS, raw_key=True)


OPTIONS = "issue-platform-options"

# Keyed by option name (UTF-8), value the JSON of the option's value (spec §2.1, §10.4.1). Compacted: the
# latest value of every option is kept for good. One partition: every change is applied in the order
# it was written, and the GlobalTable `options` it feeds has one changelog partition to match.
options_topic = app.topic(
    settings.topic_prefix + OPTIONS,
    key_type=bytes,
    value_type=bytes,
    key_serializer="raw",
    value_serializer="raw",
    partitions=1,
    internal=True,
    compacting=True,
    config=COMPACTED_CONFIG,
)

# Every topic of spec §2.1; `copartitioned` ones must have `settings.partitions` partitions (a worker refuses
# to start otherwise): each is read by an agent that writes a table keyed like the topic.
SPEC_TOPICS: tuple[TopicT, ...] = (
    ingest_topic, dlq_topic, grouping_topic, group_changes_topic, post_process_topic, activity_topic,
    analytics_topic, quota_topic, options_topic,
)
COPARTITIONED_TOPICS: tuple[TopicT, ...] = (grouping_topic, quota_topic)
