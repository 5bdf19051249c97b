"""Any Kafka key is valid input (spec §2.1): internal messages carry it whatever its bytes."""
from __future__ import annotations

from streams.core.messages import SourceCoordinates, decode, encode, raw_key_bytes, status_change_message


def message_with_key(key: bytes | None) -> dict[str, object]:
    return decode(encode(status_change_message(status_change={"new_status": 1}, change_id="c", t=1.0,
                                               source=SourceCoordinates("in", 0, 5), raw_key=key, raw_value=b"{}")))


def test_a_key_that_is_not_utf_8_travels_as_base64_and_comes_back_as_it_was() -> None:
    # Decoded with surrogateescape, such a key made orjson raise on every retry: the worker stopped for good.
    for key in (b"\xff\xfe\x00key", b"plain key", "clé".encode(), b"", None):
        assert raw_key_bytes(message_with_key(key)) == key
    assert message_with_key(b"plain key")["raw_key"] == "plain key"  # text stays text
    assert message_with_key(b"\xff")["raw_key"] is None and message_with_key(b"\xff")["raw_key_b64"] == "/w=="
