"""Integration fixtures: the real Kafka broker and PostgreSQL that `make test` starts."""
from __future__ import annotations

import socket
from collections.abc import Iterator
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


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
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
