"""The connection pool never hands out a connection the server has closed, without
pinging on every checkout."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from yiyun.core.db import create_engine


@pytest.mark.postgres
async def test_a_connection_the_server_ended_is_replaced_at_checkout(pg_database: str) -> None:
    engine = create_engine(pg_database)
    admin = create_engine(pg_database)
    try:
        async with engine.connect() as conn:
            pid = await conn.scalar(text("SELECT pg_backend_pid()"))
        # back in the pool, the connection is ended by the server (restart, idle timeout)
        async with admin.connect() as other:
            await other.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        await asyncio.sleep(0.3)
        async with engine.connect() as conn:
            assert await conn.scalar(text("SELECT 1")) == 1
            assert await conn.scalar(text("SELECT pg_backend_pid()")) != pid
    finally:
        await engine.dispose()
        await admin.dispose()
