"""aiosqlite for SQLAlchemy with one trip to the connection's thread per statement.

aiosqlite runs each sqlite3 call on the connection's own thread; SQLAlchemy's adapter
makes four such trips per statement (open a cursor, execute, fetch, close) and one for
every rollback, even of a connection that has nothing to roll back. Each trip wakes the
thread and then the event loop (a queue put, a self-pipe write, an epoll wake-up): on a
read of one row that costs more than the query. Here a statement runs whole in one trip
(open, execute, fetch every row, close) and a commit or rollback with no transaction
open is skipped (sqlite3 would do nothing either). Everything else is SQLAlchemy's
aiosqlite dialect unchanged: `create_engine(url, module=dbapi())`.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any

import aiosqlite
from sqlalchemy.connectors.asyncio import AsyncAdapt_dbapi_connection
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT, await_only

_Outcome = tuple[Any, list[Any], int, int | None]


def _run(conn: sqlite3.Connection, operation: str, parameters: Any) -> _Outcome:
    """On the connection's thread: the statement, its rows and counts, cursor closed."""
    cursor = conn.cursor()
    try:
        if parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


def _run_many(conn: sqlite3.Connection, operation: str, seq: Iterable[Any]) -> _Outcome:
    cursor = conn.cursor()
    try:
        cursor.executemany(operation, seq)
        return None, [], cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class Cursor(AsyncAdapt_aiosqlite_cursor):
    """A buffered cursor: every row is fetched by the one trip that executes."""

    __slots__ = ("_arraysize", "_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: AsyncAdapt_dbapi_connection) -> None:
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None
        self._arraysize = 1

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        return self._lastrowid  # type: ignore[return-value]

    @property
    def arraysize(self) -> int:
        return self._arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._arraysize = value

    async def _async_soft_close(self) -> None:
        return None  # nothing is left open on the thread

    def close(self) -> None:
        self._rows.clear()

    def _keep(self, outcome: _Outcome) -> None:
        self._description, rows, self._rowcount, self._lastrowid = outcome
        self._rows = deque(rows)

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        try:
            self._keep(await_only(self._execute_async(operation, parameters)))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    def executemany(self, operation: Any, seq_of_parameters: Sequence[Any]) -> Any:
        try:
            self._keep(await_only(self._executemany_async(operation, seq_of_parameters)))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        connection: Any = self._connection  # an aiosqlite.Connection
        async with self._adapt_connection._execute_mutex:
            return await connection._execute(_run, connection._conn, operation, parameters)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> Any:
        connection: Any = self._connection  # an aiosqlite.Connection
        async with self._adapt_connection._execute_mutex:
            return await connection._execute(
                _run_many, connection._conn, operation, list(seq_of_parameters)
            )

    def nextset(self) -> None:
        raise NotImplementedError("sqlite3 has no next result set")

    def setinputsizes(self, *inputsizes: Any) -> None:
        return None


class Connection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()

    _cursor_cls = Cursor

    def rollback(self) -> None:
        if self._connection._connection and self._connection.in_transaction:
            super().rollback()

    def commit(self) -> None:
        if self._connection._connection and self._connection.in_transaction:
            super().commit()


class DBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> Connection:
        adapted = super().connect(*arg, **kw)
        return Connection(self, adapted._connection)


def dbapi() -> DBAPI:
    """The module to hand `create_async_engine(..., module=...)` for a SQLite URL."""
    return DBAPI(aiosqlite, sqlite3)
