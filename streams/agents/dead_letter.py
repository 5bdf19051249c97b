"""Dead-letter one rejected input: its original key and bytes, with the reason in headers (spec §7.1)."""
from __future__ import annotations

import logging

from streams.core.dlq import dlq_headers
from streams.core.messages import SourceCoordinates
from streams.core.payload import derive_id
from streams.core.rejection import Rejection
from streams.outbox import Outbox
from streams.topics import dlq_topic

log = logging.getLogger(__name__)


def dead_letter(
    outbox: Outbox, key: bytes | None, value: bytes, rejection: Rejection, *, source: SourceCoordinates, t: float,
    stage: str = "ingest", replay_of: str | None = None,
) -> None:
    """`replay_of`: the DLQ id this input is a replay of (spec §3.3, §7.3.1), if its headers named one.

    The record goes out with the outbox's other records; `outbox.send()` awaits its acknowledgement (§2.4.6).
    """
    dlq_id = derive_id(source.topic, source.partition or 0, source.offset or 0)
    headers = dlq_headers(
        dlq_id=dlq_id, reason=str(rejection.reason), message=rejection.message, field=rejection.field,
        stage=stage, source=source, at=t, replay_of=replay_of,
    )
    log.info("dead-lettered %s:%s:%s as %s: %s", source.topic, source.partition, source.offset,
             rejection.reason, rejection.message[:200])
    outbox.add(dlq_topic, key, value, headers=headers)
