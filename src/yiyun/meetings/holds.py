"""What the chair holds for a person in a meeting: a stopped microphone or camera, and
exclusion from recordings. Stored per person ("u<user id>" / "g<guest id>"), not per
connection, so a reload, a second tab, a resumed socket or another app node keeps it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from yiyun.core.clock import now
from yiyun.core.db import retry_when_locked
from yiyun.meetings.models import ChairHold

FIELDS = {"audio": "audio_held", "video": "video_held", "recording": "recording_excluded"}


@dataclass(frozen=True)
class Hold:
    audio: bool = False
    video: bool = False
    recording_excluded: bool = False


async def load(session: AsyncSession, meeting_id: int, identity: str) -> Hold:
    row = await session.scalar(
        select(ChairHold).where(ChairHold.meeting_id == meeting_id, ChairHold.identity == identity)
    )
    if row is None:
        return Hold()
    return Hold(row.audio_held, row.video_held, row.recording_excluded)


async def _set(
    session: AsyncSession, meeting_id: int, identities: list[str], column: str, value: bool
) -> None:
    rows = {
        r.identity: r
        for r in await session.scalars(
            select(ChairHold).where(
                ChairHold.meeting_id == meeting_id, ChairHold.identity.in_(identities)
            )
        )
    }
    stamp = now()
    for identity in identities:
        row = rows.get(identity)
        if row is None:
            row = ChairHold(
                meeting_id=meeting_id,
                identity=identity,
                audio_held=False,
                video_held=False,
                recording_excluded=False,
            )
            session.add(row)
        setattr(row, column, value)
        row.updated_at = stamp


async def store(
    sessions: async_sessionmaker[AsyncSession],
    meeting_id: int,
    identities: Iterable[str],
    what: str,
    value: bool,
) -> None:
    """Set one hold (`audio`, `video` or `recording`) for these people, in one transaction."""
    wanted = sorted(set(identities))
    if not wanted:
        return
    column = FIELDS[what]

    async def once() -> None:
        async with sessions.begin() as db:
            await _set(db, meeting_id, wanted, column, value)

    try:
        await retry_when_locked(once)
    except IntegrityError:  # another node created the row first: now it exists
        await retry_when_locked(once)
