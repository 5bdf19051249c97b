"""Our topics (spec §2.1), each declared with the configured partition count so Faust can create them."""
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
QUOTA = "issue-platform-quota"

# Records up to 8 MiB on every topic (spec §2.1.1).
_TOPIC_CONFIG = {"max.message.bytes": str(MAX_RECORD_BYTES)}


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


async def declare_output_topics() -> None:
    """Faust creates the topics its agents read; the ones we only write to are declared here."""
    for topic in (dlq_topic, post_process_topic, activity_topic):
        await topic.maybe_declare()


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
    config={**_TOPIC_CONFIG, "cleanup.policy": "compact"},
)
