"""What every unit test shares."""
from __future__ import annotations

import os
from typing import NoReturn

import pytest


@pytest.fixture(autouse=True)
def no_process_replacement(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker restarts in place with os.execve (streams/agents/failure.py): in a unit test that would start
    the test run over, for ever. Fails the test instead; tests of the restart record it themselves."""
    def refuse(path: str, argv: object, env: object) -> NoReturn:
        raise AssertionError(f"a unit test would have replaced its process with {path} {argv}")

    monkeypatch.setattr(os, "execve", refuse)
