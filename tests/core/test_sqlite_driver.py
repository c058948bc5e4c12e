"""The SQLite driver: one trip to the connection's thread per statement, same answers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from yiyun.core.db import create_engine


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/driver.db")
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE)"))
    yield engine
    await engine.dispose()


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every call run on an aiosqlite connection's thread."""
    seen: list[str] = []
    original: Callable[..., Awaitable[Any]] = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(getattr(fn, "__name__", repr(fn)))
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return seen


async def test_rows_counts_and_ids_as_sqlite3_gives_them(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        inserted = await conn.execute(text("INSERT INTO t (name) VALUES ('a')"))
        assert inserted.lastrowid == 1
        await conn.execute(text("INSERT INTO t (name) VALUES (:n)"), [{"n": "b"}, {"n": "c"}])
        changed = await conn.execute(text("UPDATE t SET name = name || '!' WHERE id > 1"))
        assert changed.rowcount == 2
        rows = (await conn.execute(text("SELECT id, name FROM t ORDER BY id"))).all()
        assert [tuple(r) for r in rows] == [(1, "a"), (2, "b!"), (3, "c!")]
        assert (await conn.execute(text("SELECT name FROM t WHERE id = 9"))).first() is None
        streamed = await conn.stream(text("SELECT id FROM t ORDER BY id"))
        assert [r[0] async for r in streamed] == [1, 2, 3]


async def test_errors_are_sqlalchemy_errors_and_roll_back(engine: AsyncEngine) -> None:
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO t (name) VALUES ('x')"))
            await conn.execute(text("INSERT INTO t (name) VALUES ('x')"))
    with pytest.raises(OperationalError):
        async with engine.connect() as conn:
            await conn.execute(text("SELECT nope FROM t"))
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 0


async def test_one_trip_per_statement_and_none_to_end_a_read(
    engine: AsyncEngine, trips: list[str]
) -> None:
    async with engine.connect() as conn:  # checked out of the pool: no trip
        trips.clear()
        await conn.execute(text("SELECT 1"))
        await conn.execute(text("SELECT 2"))
        assert trips == ["_run", "_run"]
        trips.clear()
        await conn.rollback()  # a read opened no transaction: nothing to end
    assert trips == []  # nor to reset when the connection goes back to the pool
    async with engine.begin() as conn:
        trips.clear()
        await conn.execute(text("INSERT INTO t (name) VALUES ('w')"))
    assert trips == ["_run", "commit"]
