"""Short id display and lookup (spec §13.4.2): `{SLUG_UPPER}-{base32(short_id)}`."""
from __future__ import annotations

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# Lookup is forgiving of the characters people confuse (spec §13.4.2).
_READ_AS = {"O": "0", "I": "1", "L": "1"}


def encode_base32(value: int) -> str:
    if value < 0:
        raise ValueError("short ids are non-negative")
    if value == 0:
        return "0"
    digits = []
    while value:
        value, remainder = divmod(value, 32)
        digits.append(ALPHABET[remainder])
    return "".join(reversed(digits))


def decode_base32(text: str) -> int:
    value = 0
    for char in text.upper():
        char = _READ_AS.get(char, char)
        index = ALPHABET.find(char)
        if index < 0:
            raise ValueError(f"{text!r} is not a short id")
        value = value * 32 + index
    return value


def display_short_id(project_slug: str, short_id: int) -> str:
    return f"{project_slug.upper()}-{encode_base32(short_id)}"


def parse_short_id(text: str) -> tuple[str, int]:
    """`P1-1A` → (`p1`, 42); the slug may itself contain dashes, so split at the last one."""
    slug, sep, code = text.rpartition("-")
    if not sep or not slug or not code:
        raise ValueError(f"{text!r} is not a short id")
    return slug.lower(), decode_base32(code)
