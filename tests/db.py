"""Test databases: templates migrated (and seeded) once, a cheap copy per test.

SQLite: each test gets a copy of a template file, the empty one or the one with
the personas' world seeded in it.

PostgreSQL: each test runs inside one connection's transaction, rolled back at the
end; the app's sessions (`create_app(bind=...)`) each take a SAVEPOINT in it, so a
commit is real to everything else the test does. A test that needs commits seen
by other connections or other tasks at once (several sockets, racing workers, a
command-line run) is marked `commits`: it gets a scratch database of its own
worker, emptied (and seeded) before the test.

Sessions on the shared connection must nest: one that ends while a later one is
still open means two tasks used the database at once, which one transaction
cannot represent; `SavepointOrder` notices and the test fails naming the marker.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, SessionTransaction

from tests.factories import World, seed_world
from yiyun.auth import passwords
from yiyun.core.crypto import FieldCipher
from yiyun.core.db import create_engine, session_factory
from yiyun.settings import SecuritySettings, secret

T = TypeVar("T")

SECURITY = SecuritySettings(
    secret_key="test-secret-key-0123456789abcdef",
    data_key="test-data-key-0123456789abcdef",
    argon2_time_cost=1,
    argon2_memory_kib=64,
    lockout_threshold=5,
)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to the end from synchronous code, even inside a running loop."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def seed(url: str) -> World:
    """Seed the personas' world into the database at `url` (committed)."""
    passwords.configure(time_cost=SECURITY.argon2_time_cost, memory_kib=SECURITY.argon2_memory_kib)
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as s, s.begin():
            return await seed_world(s, SECURITY, FieldCipher(secret(SECURITY.data_key)))
    finally:
        await engine.dispose()


def pg_url(admin_url: str, name: str) -> str:
    base = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return f"{base}/{name}"


async def pg_exec(admin_url: str, *statements: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        for sql in statements:
            await conn.execute(sql)
    finally:
        await conn.close()


async def pg_empty(url: str) -> None:
    """Delete every row and restart every sequence (cheaper than TRUNCATE for a few rows)."""
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname='public' "
            "AND tablename <> 'alembic_version'"
        )
        sequences = await conn.fetch(
            "SELECT sequencename FROM pg_sequences WHERE schemaname='public'"
        )
        async with conn.transaction():
            await conn.execute("SET LOCAL session_replication_role = replica")  # no FK checks
            for row in tables:
                await conn.execute(f'DELETE FROM "{row[0]}"')  # noqa: S608 (catalog names)
            for row in sequences:
                await conn.execute(f'ALTER SEQUENCE "{row[0]}" RESTART')
    finally:
        await conn.close()


@dataclass
class Database:
    """What a test's app connects to."""

    url: str
    world: World | None = None
    bind: Any = None  # PostgreSQL: the AsyncConnection whose transaction the test runs in


class SavepointOrder:
    """Records sessions on one connection that end out of order (see the module doc)."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.open: list[int] = []
        self.crossed = 0

    def __enter__(self) -> SavepointOrder:
        event.listen(Session, "after_begin", self._begin)
        event.listen(Session, "after_transaction_end", self._end)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(Session, "after_begin", self._begin)
        event.remove(Session, "after_transaction_end", self._end)

    def _begin(self, session: Session, transaction: SessionTransaction, conn: Connection) -> None:
        if transaction.parent is None and conn is self.connection:
            self.open.append(id(session))

    def _end(self, session: Session, transaction: SessionTransaction) -> None:
        if transaction.parent is not None or id(session) not in self.open:
            return
        if self.open[-1] != id(session):
            self.crossed += 1
        self.open.remove(id(session))

    @property
    def problem(self) -> str | None:
        if not self.crossed:
            return None
        return (
            "two tasks used the database at once inside the test's one transaction "
            "(a session ended while a later one was still open): mark the test "
            "`@pytest.mark.commits` to give it a database of its own on PostgreSQL"
        )
