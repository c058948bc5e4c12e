"""Database kernel: metadata with a naming convention, mixins, engine and sessions.

SQLAlchemy 2 async everywhere: aiosqlite for the embedded default, asyncpg for
PostgreSQL. Services take a keyword-only `session` and only `flush()`; the web
layer's `DbSession` dependency (or a job's `factory.begin()`) owns the transaction.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import DateTime, Enum, Integer, MetaData, event
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DisconnectionError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from yiyun.core import pg, sqlite
from yiyun.core.clock import as_utc, now

T = TypeVar("T")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite stores it naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where aware UTC is required")
        return as_utc(value)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


class Base(DeclarativeBase):
    """Declarative base bound to the project's metadata."""

    metadata = metadata
    type_annotation_map = {datetime: UtcDateTime()}  # noqa: RUF012


def stored_enum(cls: type[enum.Enum], *, length: int = 32) -> Enum:
    """A Python enum column stored as its values in a VARCHAR (no database enum type)."""
    return Enum(
        cls, native_enum=False, length=length, values_callable=lambda e: [m.value for m in e]
    )


class IdMixin:
    id: Mapped[int] = mapped_column(Integer, primary_key=True)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(default=now)
    updated_at: Mapped[datetime] = mapped_column(default=now, onupdate=now)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _drop_closed(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    # Instead of a ping (three round trips on asyncpg: BEGIN, ";", ROLLBACK) on every
    # checkout: a connection the server closed (restart, idle timeout, terminated
    # backend) is noticed by asyncpg's protocol while it sits in the pool; hand out a
    # fresh one instead (the pool retries on DisconnectionError).
    driver = getattr(dbapi_connection, "driver_connection", None)
    if driver is not None and driver.is_closed():
        raise DisconnectionError("connection closed by the server")


# Connections kept open per process. SQLAlchemy's default (5, plus 10 opened and closed
# again on demand) made 16 concurrent requests open a new connection for every third
# to seventh request: a new thread and three PRAGMAs on SQLite, a new server process on
# PostgreSQL. With N workers a node holds up to N x (POOL_SIZE + MAX_OVERFLOW)
# PostgreSQL connections: keep that under the server's max_connections.
POOL_SIZE = 20
MAX_OVERFLOW = 10


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """Create the async engine; SQLite gets foreign keys and WAL."""
    if url.startswith("sqlite+aiosqlite") and ":memory:" not in url:
        # One trip to aiosqlite's thread per statement (see core/sqlite.py).
        engine = create_async_engine(
            url,
            echo=echo,
            module=sqlite.dbapi(),
            pool_size=POOL_SIZE,
            max_overflow=MAX_OVERFLOW,
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith("sqlite"):
        engine = create_async_engine(url, echo=echo)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    # asyncpg: BEGIN only once a transaction writes or locks (see core/pg.py).
    module = {"module": pg.dbapi()} if url.startswith("postgresql+asyncpg") else {}
    engine = create_async_engine(
        url,
        echo=echo,
        pool_recycle=1800,
        pool_size=POOL_SIZE,
        max_overflow=MAX_OVERFLOW,
        **module,
    )
    event.listen(engine.sync_engine, "checkout", _drop_closed)
    return engine


def session_factory(bind: AsyncEngine | AsyncConnection) -> async_sessionmaker[AsyncSession]:
    """Session factory used by the web layer, jobs and the CLI.

    Bound to one connection that is already in a transaction (the test suite's
    rolled-back transaction per test), each session's transaction is a SAVEPOINT in it.
    """
    if isinstance(bind, AsyncConnection):
        return async_sessionmaker(
            bind=bind, expire_on_commit=False, join_transaction_mode="create_savepoint"
        )
    return async_sessionmaker(bind, expire_on_commit=False)


@asynccontextmanager
async def transaction(
    factory: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """One unit of work: commit on success, roll back on error."""
    async with factory() as session, session.begin():
        yield session


async def retry_when_locked(
    work: Callable[[], Awaitable[T]], *, attempts: int = 5, first_delay: float = 0.05
) -> T:
    """Run a unit of work again when SQLite reports "database is locked".

    SQLite in WAL mode refuses a deferred transaction that read before another writer
    committed (the busy timeout cannot help there); the whole unit is simply retried.
    Other errors, and PostgreSQL, pass straight through.
    """
    for attempt in range(attempts):
        try:
            return await work()
        except OperationalError as exc:
            if "database is locked" not in str(exc) or attempt == attempts - 1:
                raise
            await asyncio.sleep(first_delay * 2**attempt)
    raise AssertionError("unreachable")


def compared(_obj: Any, name: str | None, type_: str, _reflected: bool, _to: Any) -> bool:
    """Whether schema comparison (autogenerate, the drift test) looks at an object:
    not at search indexes the models cannot describe (SQLite's FTS5 tables and their
    shadow tables, PostgreSQL's trigram indexes; see `yiyun.core.textsearch.FullText`)."""
    name = name or ""
    if type_ == "table" and "_fts" in name:
        return False
    return not (type_ == "index" and name.endswith("_trgm"))
