"""A worker that meets a hole starts over in its own process, a bounded number of times (spec §2.4.9).

os.execve and os._exit are recorded here instead of run: what the worker would start again, with which
environment, and when it gives up and exits for its supervisor instead.
"""
from __future__ import annotations

import logging
import os
import sys
import time
from types import SimpleNamespace
from typing import Any

import pytest

from streams.agents import failure


class Started(Exception):
    """Raised in place of os.execve: the process would have been replaced here."""


@pytest.fixture
def process(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    seen: dict[str, Any] = {"exits": []}

    def execve(path: str, argv: list[str], env: dict[str, str]) -> None:
        seen.update(path=path, argv=argv, env=env, cwd=os.getcwd())
        raise Started

    def exit_(code: int) -> None:
        seen["exits"].append(code)
        raise SystemExit(code)

    monkeypatch.setattr(failure.os, "execve", execve)
    monkeypatch.setattr(failure.os, "_exit", exit_)
    monkeypatch.setattr(failure, "get_settings", lambda: SimpleNamespace(self_restarts_max=2))
    monkeypatch.delenv(failure.RESTARTS_ENV, raising=False)
    monkeypatch.setenv("ISSUE_PLATFORM_FAULT_INJECTION", "skip_delivery:issue-platform-grouping:2")
    return seen


def test_the_first_hole_starts_the_same_command_again_in_the_same_directory(
    process: dict[str, Any], caplog: pytest.LogCaptureFixture, tmp_path: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    started_in = os.getcwd()
    monkeypatch.chdir(tmp_path)  # Faust or a plugin may have moved; a relative --datadir must mean the same
    with caplog.at_level(logging.CRITICAL), pytest.raises(Started):
        failure.restart_worker_now("hole in t partition 0: expected offset 2, got offset 3")
    assert process["path"] == sys.executable
    assert process["argv"] == sys.orig_argv
    assert process["cwd"] == started_in == failure._START_DIRECTORY
    assert process["exits"] == []
    assert len(process["env"][failure.RESTARTS_ENV].split(",")) == 1
    assert "ISSUE_PLATFORM_FAULT_INJECTION" not in process["env"]  # a test's one fault does not fire again
    assert [record.getMessage() for record in caplog.records] == [
        "hole in t partition 0: expected offset 2, got offset 3; restarting the worker in place (1 of at most 2 "
        "in 10 minutes) to read again from the committed offset"]


def test_past_the_limit_in_ten_minutes_it_exits_for_its_supervisor(
    process: dict[str, Any], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = time.time()
    monkeypatch.setenv(failure.RESTARTS_ENV, f"{now - 900:.3f},{now - 300:.3f},{now - 5:.3f}")
    with caplog.at_level(logging.CRITICAL), pytest.raises(SystemExit):
        failure.restart_worker_now("hole in t partition 0: expected offset 2, got offset 3")
    assert process["exits"] == [failure.EXIT_CODE]
    assert "path" not in process
    assert [record.getMessage() for record in caplog.records] == [
        "hole in t partition 0: expected offset 2, got offset 3 (restarted in place 2 times in the last 10 minutes "
        "already); stopping the worker before any later offset is committed"]


def test_restarts_older_than_ten_minutes_are_forgotten(process: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
                                                       ) -> None:
    now = time.time()
    monkeypatch.setenv(failure.RESTARTS_ENV, f"{now - 1200:.3f},{now - 700:.3f},{now - 60:.3f}")
    with pytest.raises(Started):
        failure.restart_worker_now("hole")
    handed = [float(at) for at in process["env"][failure.RESTARTS_ENV].split(",")]
    assert len(handed) == 2 and now - 61 < handed[0] < now - 59 and handed[1] >= now - 0.001  # to the ms
