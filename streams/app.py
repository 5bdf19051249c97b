"""The Faust app (`streams.app:app`): settings applied, topics and tables declared, agents registered."""
from __future__ import annotations

import faust

from streams import faust_fixes
from streams.settings import MAX_RECORD_BYTES, get_settings

faust_fixes.apply()

settings = get_settings()

app = faust.App(
    settings.app_id,
    broker=settings.broker_urls,
    # On the App, not per table: a per-table store URL is silently ignored (design §5).
    store="rocksdb://",
    # JSON keys on the App, or table_route proxies web requests to the wrong worker (design §5).
    key_serializer="json",
    value_serializer="raw",
    topic_partitions=settings.partitions,
    topic_replication_factor=settings.topic_replication_factor,
    datadir=str(settings.data_dir),
    processing_guarantee=settings.processing_guarantee,
    web_host=settings.web_host,
    web_bind=settings.web_host,
    web_port=settings.web_port,
    producer_max_request_size=MAX_RECORD_BYTES,
    consumer_max_fetch_size=MAX_RECORD_BYTES,
    # Our agents are declared explicitly below; no module scanning.
    autodiscover=False,
    consumer_auto_offset_reset="earliest",
    # A topic missing from the metadata when the group was assigned stays unconsumed until the next
    # refresh; aiokafka's default of five minutes is too long a stall (see faust_fixes).
    consumer_metadata_max_age_ms=30_000,
    table_cleanup_interval=settings.table_cleanup_seconds,
)

MIB = 1024 * 1024


def table_store_options() -> dict[str, int]:
    """RocksDB options for every table. A fresh dict each time: Faust's store pops keys from the one it gets."""
    return {
        "write_buffer_size": settings.rocksdb_write_buffer_mb * MIB,
        # Two memtables: one filling while the other is flushed, so the write-ahead log stays short.
        "max_write_buffer_number": 2,
        "block_cache_size": settings.rocksdb_block_cache_mb * MIB,
    }


# Registering agents, tables and CLI commands is a side effect of importing their modules.
from streams import topics  # noqa: E402,F401
from streams.agents import dlq, grouping, ingest, options, quota, sink  # noqa: E402,F401
from streams import idle_keys  # noqa: E402,F401  # forgets idle keys of `groups` (design §4)
from streams import commands, diagnostics  # noqa: E402,F401
from streams.web import views  # noqa: E402,F401  # the /api/0/ pages (spec §20)
