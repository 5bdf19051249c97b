"""The shared connection pools (storage/pool.py) against the real PostgreSQL."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from storage.pool import PoolHolder
from tests.integration.harness import Deployment

pytestmark = pytest.mark.integration


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    deployment = Deployment(root=tmp_path)
    deployment.create_database()
    try:
        yield deployment.database_url
    finally:
        deployment.drop_database()


async def test_every_pooled_connection_plans_each_execution_for_its_parameters(database_url: str) -> None:
    holder = PoolHolder(database_url, min_size=1, max_size=2)
    try:
        pool = await holder.get()
        async with pool.connection() as conn:
            cursor = await conn.execute("SHOW plan_cache_mode")
            assert await cursor.fetchone() == ("force_custom_plan",)
    finally:
        await holder.close()
