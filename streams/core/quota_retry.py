"""Which quota requests to send again (spec §2.4.11): those a pending key has waited on for the retry period.

A quiet key's T' never moves, so only a timer can notice that an answer never came (a request or an
answer lost after it was acknowledged). The owner's tick looks at its pending keys; a request is sent again,
under the same id, once it has been seen unanswered for `retry_seconds`, then every `retry_seconds` while
it stays unanswered. The quota agent answers a request id it decided before with the same answer (§13.2.5),
and an answer the key no longer waits for is ignored, so a request sent again needlessly changes nothing.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# (group key, request id): one creation's request
RequestKey = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Retries:
    due: list[RequestKey]  # to send again now
    noticed: dict[RequestKey, float]  # when each request still pending was first seen, or last sent again


def due_retries(pending: Iterable[RequestKey], noticed: Mapping[RequestKey, float], *, now: float,
                retry_seconds: float) -> Retries:
    """`pending`: every request a key of this worker waits on now; `noticed`: the previous tick's answer.

    Requests no longer pending are forgotten; `now` is a monotonic clock of this worker.
    """
    due: list[RequestKey] = []
    still: dict[RequestKey, float] = {}
    for request in pending:
        since = noticed.get(request, now)
        if now - since >= retry_seconds:
            due.append(request)
            since = now
        still[request] = since
    return Retries(due, still)
