"""Applies the versioned SQL migrations in storage/migrations in order, once each, and records them."""
from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from storage.errors import is_transient

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# Serialises concurrent `migrate` runs (two workers starting at once) on one database.
_ADVISORY_LOCK_ID = 0x1551E_91A7F0


class MigrationError(Exception):
    """An applied migration no longer matches its file, or a file name is not `NNNN_name.sql`."""


class SchemaUnavailable(Exception):
    """The schema cannot be migrated; the message is one line saying why, without the password."""


# A database host that drops packets would otherwise hold a start for minutes without a word.
CONNECT_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class Migration:
    version: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    migrations = []
    for path in sorted(directory.glob("*.sql")):
        prefix = path.name.split("_", 1)[0]
        if not prefix.isdigit():
            raise MigrationError(f"migration file {path.name} must start with a number, e.g. 0002_name.sql")
        migrations.append(Migration(version=path.stem, path=path))
    return migrations


def migrate(database_url: str, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply what is not applied yet, each migration in its own transaction. Returns the versions applied."""
    applied_now: list[str] = []
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_ADVISORY_LOCK_ID,))
        try:
            conn.execute(
                """CREATE TABLE IF NOT EXISTS schema_migrations (
                       version    text PRIMARY KEY,
                       checksum   text NOT NULL,
                       applied_at timestamptz NOT NULL DEFAULT now())"""
            )
            done = dict(conn.execute("SELECT version, checksum FROM schema_migrations").fetchall())
            for migration in discover(directory):
                if migration.version in done:
                    if done[migration.version] != migration.checksum:
                        raise MigrationError(
                            f"migration {migration.version} was changed after it was applied; "
                            "add a new migration instead of editing an applied one"
                        )
                    continue
                with conn.transaction():
                    conn.execute(migration.sql)  # type: ignore[arg-type]  # trusted files of our own
                    conn.execute(
                        "INSERT INTO schema_migrations (version, checksum) VALUES (%s, %s)",
                        (migration.version, migration.checksum),
                    )
                applied_now.append(migration.version)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_ADVISORY_LOCK_ID,))
    return applied_now


def migrate_schema(
    database_url: str,
    *,
    wait_seconds: float = 0.0,
    apply: Callable[[str], list[str]] = migrate,
    on_wait: Callable[[str], None] = lambda line: None,
) -> list[str]:
    """`migrate`, with every failure as one line (SchemaUnavailable, no password). Returns the versions applied.

    An unreachable database is tried again, with backoff, for `wait_seconds` (a worker restarted during a
    short outage must come back by itself); a migration that changed, or any other error, refuses at once.
    """
    params = conninfo_to_dict(database_url)
    where = f"{params.get('host', 'localhost')}:{params.get('port', 5432)}/{params.get('dbname', '')}"
    if "connect_timeout" not in params:
        database_url = make_conninfo(database_url, connect_timeout=CONNECT_TIMEOUT_SECONDS)
    deadline = time.monotonic() + wait_seconds
    delay = 0.5
    while True:
        try:
            return apply(database_url)
        except MigrationError as error:
            raise SchemaUnavailable(f"cannot migrate the schema of {where}: {error}") from None
        except psycopg.Error as error:
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            if not is_transient(error) or time.monotonic() + delay > deadline:
                raise SchemaUnavailable(
                    f"cannot migrate the schema of {where} (ISSUE_PLATFORM_DATABASE_URL): {reason}") from None
            on_wait(f"PostgreSQL at {where} is not reachable ({reason}); trying again in {delay:.1f} s")
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
