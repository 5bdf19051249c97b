"""A worker's first start on a fresh deployment, and the README's first steps after it (issue 10)."""
from __future__ import annotations

import re
import threading
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
import pytest

from storage.migrate import discover, migrate
from tests.integration.harness import Deployment, Worker, wait_for

pytestmark = pytest.mark.integration

# The group key of `send-example`'s occurrence: "{project_id}:{md5(fingerprint[0])}".
EXAMPLE_KEY = "1:a8ce928310aeaf1a510e621f9776b3d4"


def get_json(worker: Worker, path: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{worker.web_port}{path}", timeout=10) as response:
        return orjson.loads(response.read())


def test_concurrent_migrations_apply_each_migration_once(deployment: Deployment) -> None:
    versions = [migration.version for migration in discover()]
    runners = 4
    barrier = threading.Barrier(runners)

    def run(_: int) -> list[str]:
        barrier.wait()
        return migrate(deployment.database_url)

    with ThreadPoolExecutor(runners) as pool:
        applied = list(pool.map(run, range(runners)))

    assert sorted(version for versions_applied in applied for version in versions_applied) == versions
    assert deployment.query("SELECT version FROM schema_migrations ORDER BY version") == [(v,) for v in versions]


def test_a_first_start_migrates_the_empty_database_logs_no_topic_error_and_shows_the_example_issue(
    deployment: Deployment,
) -> None:
    worker = deployment.start_worker()  # no `migrate` before: a Procfile deployment without its release step

    wait_for(lambda: "Worker ready" in worker.log(), timeout=90, what="the worker to be ready")
    assert deployment.query("SELECT count(*) FROM schema_migrations") == [(len(discover()),)]
    assert f"issue-platform: applied {len(discover())} migration(s)" in worker.log()

    # The README's first steps.
    sent = deployment.cli("send-example")
    assert sent.returncode == 0, sent.stderr
    created = wait_for(lambda: re.search(r"sink: created issue (\S+) \(id \d+\), group key (\S+)", worker.log()),
                       timeout=60, what="the log line naming the created issue")
    assert created.groups() == ("P1-1", EXAMPLE_KEY)
    assert get_json(worker, f"/table/groups/{EXAMPLE_KEY}/")["group"]["group_key"] == EXAMPLE_KEY
    listed = get_json(worker, "/api/0/projects/1/issues/?query=is:unresolved")
    assert [issue["shortId"] for issue in listed] == ["P1-1"]
    # Type 2001 is low priority, and the default query shows high and medium only (spec §20.5).
    assert get_json(worker, "/api/0/projects/1/issues/") == []

    # Every topic was created on this start; none of them is reported missing (the output topics are
    # declared after "Worker ready", and the activity topic has been written to by now).
    errors = [line for line in worker.log().splitlines() if "[ERROR]" in line and deployment.name in line]
    assert errors == []
