"""Who was in a live meeting and when: one `meetings_presence` row per stay, written
when the room admits someone and closed when they leave (or the meeting ends).
Attendance (who, how long, from which institution) is derived from these rows."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from yiyun.core.clock import now
from yiyun.core.db import retry_when_locked
from yiyun.meetings.models import Presence


async def arrive(
    sessions: async_sessionmaker[AsyncSession],
    *,
    meeting_id: int,
    identity: str,
    user_id: int | None,
    guest_id: int | None,
    name: str,
    role: str,
    via: str = "webrtc",
) -> int:
    async def once() -> int:
        async with sessions.begin() as db:
            row = Presence(
                meeting_id=meeting_id,
                identity=identity,
                user_id=user_id or None,
                guest_id=guest_id,
                name=name[:100],
                role=role[:16],
                via=via,
                joined_at=now(),
            )
            db.add(row)
            await db.flush()
            return row.id

    return await retry_when_locked(once)


async def depart(sessions: async_sessionmaker[AsyncSession], presence_id: int) -> None:
    async def once() -> None:
        async with sessions.begin() as db:
            await db.execute(
                update(Presence)
                .where(Presence.id == presence_id, Presence.left_at.is_(None))
                .values(left_at=now())
            )

    await retry_when_locked(once)


async def stays(session: AsyncSession, meeting_id: int) -> list[Presence]:
    rows = await session.scalars(
        select(Presence).where(Presence.meeting_id == meeting_id).order_by(Presence.joined_at)
    )
    return list(rows.all())
