"""asyncpg for SQLAlchemy with BEGIN deferred until a statement needs a transaction.

SQLAlchemy's asyncpg adapter sends BEGIN before the first statement of every
transaction and ROLLBACK when the connection goes back to the pool: an API read of one
row costs three round trips (and three wake-ups of the event loop) instead of one.
Here a plain `SELECT` that arrives while no transaction is open runs on its own (the
server runs it as a one-statement transaction); the first statement that is anything
else (a write, a `SAVEPOINT`, a `SELECT ... FOR UPDATE`, `pg_advisory_xact_lock`, a
`WITH ...`) sends BEGIN first, as before, and everything after it runs in that
transaction up to COMMIT or ROLLBACK. A transaction that only read therefore never
sends BEGIN, and its commit or rollback is no round trip at all.

This changes nothing a caller can see under READ COMMITTED (PostgreSQL's default, which
Yiyun uses): each statement there reads its own snapshot, inside a transaction or not,
and a plain SELECT takes no lock that outlives it. It is applied only when no isolation
level, read-only or deferrable mode was asked for; a connection with one of those begins
as SQLAlchemy always does. Everything else is SQLAlchemy's asyncpg dialect unchanged:
`create_engine(url, module=dbapi())`.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.dialects.postgresql.asyncpg import (
    AsyncAdapt_asyncpg_connection,
    AsyncAdapt_asyncpg_cursor,
    AsyncAdapt_asyncpg_dbapi,
)
from sqlalchemy.util import await_only

# What makes a SELECT need the transaction: row locks and transaction-scoped functions.
_NEEDS_TRANSACTION = re.compile(
    r"\bFOR\s+(?:NO\s+KEY\s+UPDATE|UPDATE|KEY\s+SHARE|SHARE)\b|pg_advisory", re.IGNORECASE
)


@lru_cache(maxsize=2048)
def plain_read(operation: str) -> bool:
    """A statement that may run outside a transaction: a SELECT taking no lock."""
    return (
        operation.lstrip()[:6].upper() == "SELECT" and _NEEDS_TRANSACTION.search(operation) is None
    )


class Cursor(AsyncAdapt_asyncpg_cursor):
    __slots__ = ()

    async def _prepare_and_execute(self, operation: Any, parameters: Any) -> None:
        conn: Connection = self._adapt_connection  # type: ignore[assignment]
        if conn._transaction is None and conn.may_defer() and plain_read(operation):
            conn._deferring = True
            try:
                await super()._prepare_and_execute(operation, parameters)  # type: ignore[no-untyped-call]
            finally:
                conn._deferring = False
            return
        await super()._prepare_and_execute(operation, parameters)  # type: ignore[no-untyped-call]


class Connection(AsyncAdapt_asyncpg_connection):
    __slots__ = ("_deferring",)

    _cursor_cls = Cursor

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)  # type: ignore[no-untyped-call]
        self._deferring = False

    def may_defer(self) -> bool:
        return self.isolation_level is None and not self.readonly and not self.deferrable

    async def _start_transaction(self) -> None:
        if self._deferring:  # a plain read with no transaction open: none needed yet
            return
        await super()._start_transaction()  # type: ignore[no-untyped-call]


class DBAPI(AsyncAdapt_asyncpg_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> Connection:
        creator_fn = kw.pop("async_creator_fn", self.asyncpg.connect)
        cache_size = kw.pop("prepared_statement_cache_size", 100)
        name_func = kw.pop("prepared_statement_name_func", None)
        connection: Connection = await_only(
            Connection.create(
                self,
                creator_fn(*arg, **kw),
                prepared_statement_cache_size=cache_size,
                prepared_statement_name_func=name_func,
            )
        )
        return connection


def dbapi() -> DBAPI:
    """The module to hand `create_async_engine(..., module=...)` for a PostgreSQL URL."""
    return DBAPI(asyncpg)  # type: ignore[no-untyped-call]
