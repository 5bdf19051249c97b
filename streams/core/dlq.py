"""Dead-letter record metadata (spec §7.1): the headers that travel with the original, untouched bytes."""
from __future__ import annotations

from datetime import UTC, datetime

from streams.core.messages import SourceCoordinates

MESSAGE_MAX_CHARS = 1024  # spec §7.1 x-dlq-message


def format_timestamp(epoch: float) -> str:
    """ISO-8601 UTC with microseconds and Z (spec §0.4)."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def dlq_headers(
    *,
    dlq_id: str,
    reason: str,
    message: str,
    field: str | None,
    stage: str,
    source: SourceCoordinates,
    at: float,
) -> list[tuple[str, bytes]]:
    headers = [
        ("x-dlq-id", dlq_id),
        ("x-dlq-reason", reason),
        ("x-dlq-message", message[:MESSAGE_MAX_CHARS]),
        ("x-dlq-stage", stage),
        ("x-dlq-source-topic", source.topic),
        ("x-dlq-at", format_timestamp(at)),
    ]
    if field:
        headers.append(("x-dlq-field", field))
    # API-originated changes have no partition or offset (spec §7.1).
    if source.partition is not None:
        headers.append(("x-dlq-source-partition", str(source.partition)))
    if source.offset is not None:
        headers.append(("x-dlq-source-offset", str(source.offset)))
    return [(name, value.encode("utf-8")) for name, value in headers]
