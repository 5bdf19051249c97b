"""Fingerprint hashing and the group key (spec §1.2)."""
from __future__ import annotations

import hashlib

import pytest

from streams.core.fingerprint import group_key, hash_fingerprint


def test_every_element_is_md5_hex_even_if_it_already_looks_like_a_hash() -> None:  # spec §1.2.1
    already_hash = "0" * 32
    assert hash_fingerprint(["a", already_hash]) == [
        hashlib.md5(b"a").hexdigest(),
        hashlib.md5(already_hash.encode()).hexdigest(),
    ]


def test_non_ascii_elements_hash_their_utf8_bytes() -> None:
    assert hash_fingerprint(["é"]) == [hashlib.md5("é".encode()).hexdigest()]


def test_only_the_first_hash_decides_the_group_key() -> None:  # spec §1.2.2, §1.2.3
    assert group_key(7, hash_fingerprint(["x", "y"])) == group_key(7, hash_fingerprint(["x", "z"]))
    assert group_key(7, hash_fingerprint(["x"])) == f"7:{hashlib.md5(b'x').hexdigest()}"


def test_the_same_fingerprint_in_another_project_is_another_group() -> None:
    assert group_key(1, hash_fingerprint(["x"])) != group_key(2, hash_fingerprint(["x"]))


def test_an_empty_fingerprint_has_no_group_key() -> None:
    with pytest.raises(ValueError):
        group_key(1, [])
