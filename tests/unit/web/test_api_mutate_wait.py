"""What a mutation answers after producing (spec §20.8.4, §20.9): `?wait=1` applied, gone, timed out, or PostgreSQL
failing once the changes are on the topic; a retried request whose changes are recorded produces nothing again."""
from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import pytest
from psycopg_pool import PoolTimeout

from streams.web import mutate
from streams.web.errors import ApiError
from streams.web.mutations import (
    PlannedChange,
    Target,
    UpdateBody,
    accepted_body,
    parse_update_body,
    plan_deletes,
    plan_updates,
)

TARGETS = [Target(11, "1:" + "a" * 32, 0), Target(12, "1:" + "b" * 32, 0)]


class Harness:
    def __init__(self, monkeypatch: pytest.MonkeyPatch, outcomes: dict[str, str], *, fail_after: int | None = None):
        self.outcomes = outcomes
        self.produced: list[list[PlannedChange]] = []
        self.reads = 0
        self.fail_after = fail_after
        monkeypatch.setattr(mutate, "WAIT_SECONDS", 0.05)
        monkeypatch.setattr(mutate, "WAIT_POLL_SECONDS", 0.01)
        monkeypatch.setattr(mutate, "_produce", self.produce)
        monkeypatch.setattr(mutate, "change_outcomes", self.change_outcomes)
        monkeypatch.setattr(mutate.queries, "groups_by_ids", self.groups_by_ids)
        monkeypatch.setattr(mutate, "issue_object", lambda row, registry: {"id": str(row.id)})

    async def produce(self, planned: Sequence[PlannedChange]) -> None:
        self.produced.append(list(planned))

    async def change_outcomes(self, conn: Any, ids: Sequence[str]) -> dict[str, str]:
        self.reads += 1
        if self.fail_after is not None and self.reads > self.fail_after:
            raise PoolTimeout("no connection within 5 s")
        return {change_id: self.outcomes[change_id] for change_id in ids if change_id in self.outcomes}

    async def groups_by_ids(self, conn: Any, ids: Sequence[int]) -> list[Any]:
        return [type("Row", (), {"id": group_id})() for group_id in ids]

    async def connect(self) -> Any:
        @asynccontextmanager
        async def connection() -> AsyncIterator[None]:
            yield None

        return connection()


def body() -> UpdateBody:
    return parse_update_body(b'{"status": "resolved"}')


def planned_updates() -> list[PlannedChange]:
    return plan_updates(body(), TARGETS, t=1.0, key="k")


async def carry_out(harness: Harness, planned: list[PlannedChange], *, wait: bool, retried: bool = False,
                    issues: str | None = "list") -> tuple[int, Any]:
    return await mutate._carry_out(harness.connect, planned, TARGETS, accepted_body(TARGETS, planned, {"x": 1}),
                                   wait=wait, retried=retried, issues=issues)


async def test_applied_is_200_with_the_issues(monkeypatch: pytest.MonkeyPatch) -> None:
    planned = planned_updates()
    harness = Harness(monkeypatch, {change.id: "applied" for change in planned})
    assert await carry_out(harness, planned, wait=True) == (200, [{"id": "11"}, {"id": "12"}])
    assert len(harness.produced) == 1
    assert await carry_out(harness, planned, wait=True, issues="one") == (200, {"id": "11"})


async def test_a_change_that_found_its_issue_gone_is_404_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    planned = planned_updates()
    harness = Harness(monkeypatch, {planned[0].id: "applied", planned[1].id: "group_not_found"})
    with pytest.raises(ApiError) as raised:
        await carry_out(harness, planned, wait=True)
    error = raised.value
    assert (error.status, error.code, error.details["ids"]) == (404, "not_found", ["12"])
    assert [change["outcome"] for change in error.details["changes"]] == ["applied", "group_not_found"]


async def test_a_delete_reports_each_outcome(monkeypatch: pytest.MonkeyPatch) -> None:
    planned = plan_deletes(TARGETS, t=1.0, key="k")
    harness = Harness(monkeypatch, {planned[0].id: "deleted", planned[1].id: "group_not_found"})
    status, answer = await carry_out(harness, planned, wait=True, issues=None)
    assert status == 200 and [c["outcome"] for c in answer["changes"]] == ["deleted", "group_not_found"]


async def test_a_wait_that_runs_out_says_which_changes_are_pending(monkeypatch: pytest.MonkeyPatch) -> None:
    planned = planned_updates()
    harness = Harness(monkeypatch, {planned[0].id: "applied"})
    status, answer = await carry_out(harness, planned, wait=True)
    assert status == 202 and answer["applied"] is False and answer["pending"] == [planned[1].id]
    assert "not applied within" in answer["message"] and answer["ids"] == ["11", "12"] and answer["x"] == 1
    assert len(harness.produced) == 1


async def test_postgres_failing_after_the_produce_is_202_not_503(monkeypatch: pytest.MonkeyPatch) -> None:
    planned = planned_updates()
    harness = Harness(monkeypatch, {}, fail_after=0)
    status, answer = await carry_out(harness, planned, wait=True)
    assert status == 202 and answer["applied"] is None and "produced" in answer["message"]
    assert harness.produced == [planned] and answer["changes"] == [change.summary() for change in planned]


async def test_a_retry_whose_changes_are_recorded_produces_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    planned = planned_updates()
    harness = Harness(monkeypatch, {change.id: "applied" for change in planned})
    assert (await carry_out(harness, planned, wait=False, retried=True))[0] == 202
    assert harness.produced == []
    partly = Harness(monkeypatch, {planned[0].id: "applied"})
    await carry_out(partly, planned, wait=False, retried=True)
    assert partly.produced == [planned]  # one change has no outcome yet: both again, each applied once (§2.4.7)
    fresh = Harness(monkeypatch, {change.id: "applied" for change in planned})
    await carry_out(fresh, planned, wait=False, retried=False)
    assert fresh.produced == [planned] and fresh.reads == 0  # without a key, no look at all
