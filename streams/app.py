"""The Faust app (`streams.app:app`), configured from the settings.

Nothing is registered here: topics and tables are declared in `streams.topics` and `streams.tables`, and
`streams.worker` holds the one list of agents, timers, pages and commands. Faust's patches are installed
by the entry point (`streams.cli`), never by an import.
"""
from __future__ import annotations

import faust

from streams.logs import logging_config
from streams.settings import MAX_RECORD_BYTES, Settings, get_settings


def create_app(settings: Settings) -> faust.App:
    """The App of one deployment; `streams.app:app` is the one built from the process's settings."""
    return faust.App(
        # The consumer group and the changelogs' names: prefixed, so a topic prefix isolates a deployment.
        settings.deployment_id,
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
        # Everything is registered explicitly by streams.worker; no module scanning.
        autodiscover=False,
        consumer_auto_offset_reset="earliest",
        # A topic missing from the metadata when the group was assigned stays unconsumed until the next
        # refresh; aiokafka's default of five minutes is too long a stall (see streams.faust_compat).
        consumer_metadata_max_age_ms=30_000,
        table_cleanup_interval=settings.table_cleanup_seconds,
        # A worker killed with kill -9 holds its partitions until the broker gives up on its heartbeats:
        # Faust's 60 s kept every partition it owned still for a minute and more after each crash.
        # Heartbeats come from the consumer's own thread, so a busy event loop does not miss them.
        broker_session_timeout=settings.group_session_timeout_seconds,
        broker_heartbeat_interval=settings.group_session_timeout_seconds / 4,
        logging_config=logging_config(settings.log_format),  # LOG_FORMAT=json: one JSON object per line
    )


settings = get_settings()
app = create_app(settings)
