"""Fingerprint hashing and the group key (spec §1.2)."""
from __future__ import annotations

import hashlib
from collections.abc import Sequence


def hash_fingerprint_part(part: str) -> str:
    """md5 of the UTF-8 element as 32 lowercase hex, always, even if it already looks like a hash (§1.2.1)."""
    return hashlib.md5(part.encode("utf-8")).hexdigest()


def hash_fingerprint(parts: Sequence[str]) -> list[str]:
    return [hash_fingerprint_part(part) for part in parts]


def group_key(project_id: int, fingerprint_hashes: Sequence[str]) -> str:
    """`"{project_id}:{H0}"`: only the first hashed element decides the group (§1.2.2, §1.2.3)."""
    if not fingerprint_hashes:
        raise ValueError("a fingerprint needs at least one element")
    return f"{project_id}:{fingerprint_hashes[0]}"
