"""SQL persistence of documents: append log + snapshot, with group commit.

`UpdateWriter.append` resolves only once the update's row is committed: the room
broadcasts (acknowledges) after that. Updates arriving while a commit is in flight are
written together in the next transaction, so 300 updates/s cost a few commits, not 300.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from pycrdt import Doc
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from yiyun.collab.models import CollabDoc, CollabUpdate
from yiyun.core.db import retry_when_locked

logger = logging.getLogger(__name__)


@dataclass
class Loaded:
    doc_id: int
    schema_version: int
    updates: list[bytes]  # the snapshot first (when any), then the log in order
    log_rows: int


async def open_doc(factory: async_sessionmaker[AsyncSession], kind: str, key: str) -> Loaded:
    """Load a document's snapshot and log, creating its row on first use."""
    async with factory() as session, session.begin():
        row = await session.scalar(
            select(CollabDoc).where(CollabDoc.kind == kind, CollabDoc.key == key)
        )
        if row is None:
            try:
                async with session.begin_nested():
                    row = CollabDoc(kind=kind, key=key, schema_version=0, snapshot=b"")
                    session.add(row)
            except IntegrityError:  # another node created it at the same moment
                row = await session.scalar(
                    select(CollabDoc).where(CollabDoc.kind == kind, CollabDoc.key == key)
                )
                assert row is not None  # noqa: S101 - the unique key just collided
        log = (
            await session.scalars(
                select(CollabUpdate.data)
                .where(CollabUpdate.doc_id == row.id, CollabUpdate.id > row.snapshot_upto)
                .order_by(CollabUpdate.id)
            )
        ).all()
        updates = ([row.snapshot] if row.snapshot else []) + list(log)
        return Loaded(row.id, row.schema_version, updates, len(log))


async def set_schema_version(
    factory: async_sessionmaker[AsyncSession], doc_id: int, version: int
) -> None:
    async with factory() as session, session.begin():
        await session.execute(
            update(CollabDoc).where(CollabDoc.id == doc_id).values(schema_version=version)
        )


async def compact(factory: async_sessionmaker[AsyncSession], doc_id: int) -> int:
    """Fold the log into the snapshot; returns how many log rows were folded.

    Works from storage alone (not from a node's memory), so it is right whichever node
    runs it; a conditional UPDATE on `snapshot_upto` makes concurrent runs harmless.
    """
    return await retry_when_locked(lambda: _compact(factory, doc_id))


async def _compact(factory: async_sessionmaker[AsyncSession], doc_id: int) -> int:
    async with factory() as session, session.begin():
        row = await session.get(CollabDoc, doc_id)
        if row is None:
            return 0
        rows = (
            await session.execute(
                select(CollabUpdate.id, CollabUpdate.data)
                .where(CollabUpdate.doc_id == doc_id, CollabUpdate.id > row.snapshot_upto)
                .order_by(CollabUpdate.id)
            )
        ).all()
        if not rows:
            return 0
        ydoc: Doc[Any] = Doc()
        if row.snapshot:
            ydoc.apply_update(row.snapshot)
        for _, data in rows:
            ydoc.apply_update(data)
        upto = rows[-1][0]
        done = await session.execute(
            update(CollabDoc)
            .where(CollabDoc.id == doc_id, CollabDoc.snapshot_upto == row.snapshot_upto)
            .values(
                snapshot=ydoc.get_update(),
                snapshot_upto=upto,
                compactions=CollabDoc.compactions + 1,
            )
        )
        if done.rowcount != 1:  # type: ignore[attr-defined]
            return 0
        await session.execute(
            delete(CollabUpdate).where(CollabUpdate.doc_id == doc_id, CollabUpdate.id <= upto)
        )
        return len(rows)


async def stored_bytes(factory: async_sessionmaker[AsyncSession], doc_id: int) -> int:
    """Bytes a document takes in storage (snapshot + log payloads)."""
    async with factory() as session:
        snap = await session.scalar(
            select(func.length(CollabDoc.snapshot)).where(CollabDoc.id == doc_id)
        )
        log = await session.scalar(
            select(func.coalesce(func.sum(func.length(CollabUpdate.data)), 0)).where(
                CollabUpdate.doc_id == doc_id
            )
        )
        return int(snap or 0) + int(log or 0)


@dataclass
class _Pending:
    doc_id: int
    data: bytes
    user_id: int | None
    done: asyncio.Future[None]


class UpdateWriter:
    """One writer task for every document on this node (group commit)."""

    def __init__(self, factory: async_sessionmaker[AsyncSession], max_batch: int = 500) -> None:
        self._factory = factory
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._max_batch = max_batch
        self.commits = 0
        self.rows = 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="collab-writer")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def append(self, doc_id: int, data: bytes, user_id: int | None) -> None:
        """Store one update; returns once it is committed (raises if it was not)."""
        self.start()
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(doc_id, data, user_id, done))
        await done

    async def _write(self, batch: list[_Pending]) -> None:
        async with self._factory() as session, session.begin():
            session.add_all(
                CollabUpdate(doc_id=p.doc_id, data=p.data, user_id=p.user_id) for p in batch
            )

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                async with self._factory() as session, session.begin():
                    session.add_all(
                        CollabUpdate(doc_id=p.doc_id, data=p.data, user_id=p.user_id) for p in batch
                    )
            except Exception as exc:  # every waiter learns the write failed
                logger.exception("collab: storing %d updates failed", len(batch))
                for p in batch:
                    if not p.done.done():
                        p.done.set_exception(exc)
                continue
            self.commits += 1
            self.rows += len(batch)
            for p in batch:
                if not p.done.done():
                    p.done.set_result(None)
