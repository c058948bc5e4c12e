"""Periodic jobs that run once across several app nodes.

Each job has a row in `JobClaim` saying when it is next due. A node that finds it due
moves `due_at` on with a conditional UPDATE (`due_at <= now` → `due_at = next`); only the
node whose UPDATE changed the row runs the job, so N nodes need no lock server (the
pattern of healthchecks' `sendalerts`). `Periodic` calls a tick function every few
seconds from the app's lifespan. The work inside a job should itself be idempotent per
item (claim each item with its own conditional UPDATE), so a run that is retried after a
failure does nothing twice.

The table was first the surveillance runner's and keeps its name, `surveillance_job`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from yiyun.core.clock import now as clock_now
from yiyun.core.db import Base, transaction

logger = logging.getLogger(__name__)


class JobClaim(Base):
    """When a periodic job is next due; app nodes claim a run by a conditional UPDATE."""

    __tablename__ = "surveillance_job"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    due_at: Mapped[datetime]
    claimed_at: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    finished_at: Mapped[datetime | None]
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


def node_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


async def ensure(factory: async_sessionmaker[AsyncSession], name: str, due_at: datetime) -> None:
    """Create the job's row (first due at `due_at`) unless it exists."""
    # Another node may create the row first (IntegrityError); that row is as good.
    with contextlib.suppress(IntegrityError):
        async with transaction(factory) as session:
            if await session.get(JobClaim, name) is None:
                session.add(JobClaim(name=name, due_at=due_at, result={}))


async def claim(
    factory: async_sessionmaker[AsyncSession],
    name: str,
    *,
    at: datetime,
    node: str,
    next_at: datetime,
) -> dict[str, Any] | None:
    """Move the job's due time on if it is due; the previous result if this node won."""
    async with transaction(factory) as session:
        previous = await session.scalar(select(JobClaim.result).where(JobClaim.name == name))
        claimed = await session.execute(
            update(JobClaim)
            .where(JobClaim.name == name, JobClaim.due_at <= at)
            .values(due_at=next_at, claimed_at=at, claimed_by=node)
        )
        return dict(previous or {}) if getattr(claimed, "rowcount", 0) == 1 else None


async def finish(
    factory: async_sessionmaker[AsyncSession],
    name: str,
    result: dict[str, Any],
    retry_at: datetime | None = None,
) -> None:
    """Record what a run did; `retry_at` brings the next run forward after a failure."""
    values: dict[str, Any] = {"finished_at": clock_now(), "result": result}
    if retry_at is not None:
        values["due_at"] = retry_at
    async with transaction(factory) as session:
        await session.execute(update(JobClaim).where(JobClaim.name == name).values(**values))


class Periodic:
    """Calls `tick()` every `every_seconds` until stopped (start it in the app lifespan).

    A tick that raises is logged and the loop goes on: the database may be briefly away.
    """

    def __init__(
        self,
        name: str,
        tick: Callable[[], Awaitable[object]],
        *,
        every_seconds: float,
        enabled: bool = True,
    ) -> None:
        self.name, self.tick = name, tick
        self.every_seconds, self.enabled = every_seconds, enabled
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.enabled and self._task is None:
            self._task = asyncio.create_task(self._loop(), name=self.name)

    async def _loop(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:  # the database may be briefly away; try again next tick
                logger.exception("%s tick failed", self.name)
            await asyncio.sleep(self.every_seconds)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
