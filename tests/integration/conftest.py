"""Integration fixtures: the real Kafka broker and PostgreSQL that `make test` starts."""
from __future__ import annotations

import os
import socket
from collections.abc import Generator, Iterator
from pathlib import Path

import psycopg
import pytest

from storage.migrate import migrate
from tests.integration.harness import ADMIN_DATABASE_URL, BROKER, Deployment


def _require_services() -> None:
    host, port = BROKER.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
    except OSError:
        pytest.fail(f"no Kafka broker on {BROKER}: start the services with `make services` (make test does)")
    try:
        psycopg.connect(ADMIN_DATABASE_URL, connect_timeout=3).close()
    except psycopg.OperationalError as error:
        pytest.fail(f"no PostgreSQL at {ADMIN_DATABASE_URL}: `make services` starts it ({error})")


# TEST_KEEP_FAILED_DEPLOYMENT=1 keeps a failed test's database and topics (with --basetemp, its data dirs and
# logs too) for a post-mortem: a rare failure of a kill loop is otherwise gone with its evidence.
KEEP_FAILED = os.environ.get("TEST_KEEP_FAILED_DEPLOYMENT") == "1"
_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, None, None]:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        item.stash[_FAILED] = True


@pytest.fixture
def deployment(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Deployment]:
    _require_services()
    deployment = Deployment(root=tmp_path)
    deployment.create_database()
    try:
        yield deployment
    finally:
        deployment.stop_workers()
        for index, worker in enumerate(deployment.workers):
            log = worker.log()
            if "Traceback" in log:
                print(f"--- worker {index} log (tail) ---\n{log[-6000:]}")
        if KEEP_FAILED and request.node.stash.get(_FAILED, False):
            print(f"kept for a post-mortem: database {deployment.name}, topics {deployment.topic_prefix}*, "
                  f"data in {tmp_path}")
        else:
            deployment.drop_database()
            deployment.delete_topics()


@pytest.fixture
def database(tmp_path: Path) -> Iterator[str]:
    """The URL of a fresh, migrated database of its own (no Kafka, no worker), dropped afterwards."""
    _require_services()
    deployment = Deployment(root=tmp_path)
    deployment.create_database()
    migrate(deployment.database_url)
    try:
        yield deployment.database_url
    finally:
        deployment.drop_database()
