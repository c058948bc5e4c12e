"""PostgreSQL: BEGIN is sent only when a transaction writes or locks (core/pg.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from yiyun.core.db import create_engine
from yiyun.core.pg import plain_read


def test_which_statements_run_outside_a_transaction() -> None:
    assert plain_read("SELECT institution.id FROM institution WHERE institution.id = $1")
    assert plain_read("\n  select 1")
    assert not plain_read("SELECT id FROM consultation WHERE id = $1 FOR UPDATE")
    assert not plain_read("SELECT id FROM consultation WHERE id = $1 FOR NO KEY UPDATE")
    assert not plain_read("SELECT id FROM t FOR SHARE SKIP LOCKED")
    assert not plain_read("SELECT pg_advisory_xact_lock($1)")
    assert not plain_read("UPDATE t SET a = 1")
    assert not plain_read("WITH x AS (DELETE FROM t RETURNING id) SELECT id FROM x")
    assert not plain_read("SAVEPOINT sa_savepoint_1")


@pytest.fixture
async def engines(pg_database: str) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    engine, admin = create_engine(pg_database), create_engine(pg_database)
    try:
        yield engine, admin
    finally:
        await engine.dispose()
        await admin.dispose()


async def _state(admin: AsyncEngine, pid: int) -> str:
    async with admin.connect() as other:
        state = await other.scalar(
            text("SELECT state FROM pg_stat_activity WHERE pid = :p"), {"p": pid}
        )
    return str(state)


async def _pid(conn: AsyncConnection) -> int:
    return int(await conn.scalar(text("SELECT pg_backend_pid()")) or 0)


@pytest.mark.postgres
async def test_a_read_opens_no_transaction(engines: tuple[AsyncEngine, AsyncEngine]) -> None:
    engine, admin = engines
    async with engine.connect() as conn:
        pid = await _pid(conn)
        assert await conn.scalar(text("SELECT 41 + 1")) == 42
        assert await _state(admin, pid) == "idle"  # not "idle in transaction"
        await conn.execute(text("CREATE TEMPORARY TABLE t (a int)"))
        assert await _state(admin, pid) == "idle in transaction"
        await conn.rollback()
        assert await _state(admin, pid) == "idle"


@pytest.mark.postgres
async def test_locks_and_writes_begin_the_transaction_and_last_to_its_end(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    engine, admin = engines
    async with engine.connect() as conn:
        pid = await _pid(conn)
        await conn.execute(text("SELECT pg_advisory_xact_lock(4242)"))
        assert await _state(admin, pid) == "idle in transaction"
        async with admin.connect() as other:  # the lock is held until the transaction ends
            assert await other.scalar(text("SELECT pg_try_advisory_xact_lock(4242)")) is False
        await conn.commit()
        async with admin.connect() as other:
            assert await other.scalar(text("SELECT pg_try_advisory_xact_lock(4242)")) is True

    async with engine.connect() as conn:
        pid = await _pid(conn)
        await conn.execute(text("SELECT 1 FOR UPDATE"))
        assert await _state(admin, pid) == "idle in transaction"
        await conn.rollback()


@pytest.mark.postgres
async def test_writes_after_reads_commit_or_roll_back_together(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    engine, _ = engines
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE pg_driver_probe (a int)"))
    try:
        async with engine.connect() as conn:
            await conn.scalar(text("SELECT count(*) FROM pg_driver_probe"))
            await conn.execute(text("INSERT INTO pg_driver_probe VALUES (1)"))
            await conn.execute(text("INSERT INTO pg_driver_probe VALUES (2)"))
            await conn.rollback()
            assert await conn.scalar(text("SELECT count(*) FROM pg_driver_probe")) == 0
            await conn.execute(text("INSERT INTO pg_driver_probe VALUES (3)"))
            await conn.commit()
            assert await conn.scalar(text("SELECT count(*) FROM pg_driver_probe")) == 1
    finally:
        async with engine.begin() as conn:
            await conn.execute(text("DROP TABLE pg_driver_probe"))
