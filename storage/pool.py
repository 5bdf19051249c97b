"""The async connection pool every worker shares for its Postgres work (sink writes, ingest event lookups)."""
from __future__ import annotations

import asyncio

from psycopg_pool import AsyncConnectionPool


class PoolHolder:
    """Opens one pool lazily, on first use inside the worker's event loop."""

    def __init__(self, database_url: str, *, min_size: int = 1, max_size: int = 4) -> None:
        self._database_url = database_url
        self._min_size = min_size
        self._max_size = max_size
        self._pool: AsyncConnectionPool | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> AsyncConnectionPool:
        if self._pool is None:
            async with self._lock:
                if self._pool is None:
                    pool = AsyncConnectionPool(
                        self._database_url,
                        min_size=self._min_size,
                        max_size=self._max_size,
                        # psycopg prepares a statement on its fifth use; Postgres then may switch it to a
                        # generic plan blind to the parameters (a batch's size, a search's range), which
                        # made sink batches of 5,000 thirty times slower (storage/sink_writer.py).
                        kwargs={"options": "-c plan_cache_mode=force_custom_plan"},
                        open=False,
                        # A dead connection after a Postgres restart is replaced, not handed out.
                        check=AsyncConnectionPool.check_connection,
                    )
                    await pool.open(wait=False)
                    self._pool = pool
        return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
