"""`GET /metrics` (alias `/api/0/metrics/`, spec §23) and the pure parts of `GET /api/0/ready/` (spec §20.4)."""
from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from faust.web import Request, Response, View
from prometheus_client import REGISTRY, generate_latest

from streams import metrics
from streams.faust_compat.internals import read_positions

log = logging.getLogger(__name__)

# The classic text format generate_latest writes, which every Prometheus version reads (newer clients announce
# 1.0.0, which older servers do not know).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
CHANGELOG_SUFFIX = "-changelog"  # Faust's table changelogs: restored, not consumed, so no lag worth a gauge


class MetricsView(View):
    """The Prometheus text format of this worker's registry; the consumer lag is read at the scrape."""

    async def get(self, request: Request) -> Response:
        try:
            metrics.set_consumer_lag(partition_lags(self.app.consumer))
        except Exception as error:  # noqa: BLE001  # a consumer not started yet: every other metric still
            log.debug("metrics: no consumer lag: %r", error)
        body = generate_latest(REGISTRY)
        # aiohttp refuses a content type with parameters; the header carries the text format's version.
        return self.bytes(body, headers={"Content-Type": CONTENT_TYPE})


def partition_lags(consumer: Any) -> Iterator[tuple[str, int, int]]:
    """(topic, partition, lag) of each assigned partition of a consumed topic whose highwater is known.

    The highwater is the one of the consumer's last fetch response (no broker round trip at the scrape);
    the position the last offset its streams read (Faust's own `_read_offset`), or the committed one.
    """
    read_offsets, committed = read_positions(consumer)
    for tp in sorted(consumer.assignment()):
        if tp.topic.endswith(CHANGELOG_SUFFIX):
            continue
        lag = metrics.consumer_lag(consumer.highwater(tp), read_offsets.get(tp), committed.get(tp))
        if lag is not None:
            yield tp.topic, tp.partition, lag


def readiness(*, assigned: bool, recovered: bool, postgres: str) -> tuple[int, dict[str, Any]]:
    """(status, body) of `/api/0/ready/`: 200 only when every check is ok, else 503 naming those that are not."""
    checks = {
        "assignment": "ok" if assigned else "waiting",
        "recovery": "ok" if recovered else "in_progress",
        "postgres": postgres,
    }
    failing = sorted(name for name, state in checks.items() if state != "ok")
    if not failing:
        return 200, {"status": "ready", "checks": checks}
    return 503, {"status": "not_ready", "checks": checks, "missing": failing}


def worker_state(app: Any) -> tuple[bool, bool]:
    """(assigned, recovered): the consumer holds a settled assignment, and table recovery has finished for it."""
    try:
        assigned = not app.rebalancing and bool(app.consumer.assignment())
    except Exception:  # noqa: BLE001  # the consumer has not started yet
        assigned = False
    recovered = assigned and app.tables.recovery.completed.is_set() and not app.in_recovery
    return assigned, recovered
