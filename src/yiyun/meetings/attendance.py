"""Who is in a meeting, recorded: one row per admitted connection, from admission to
the moment the room sees it gone (`models.Attendance`). Teaching reads these rows for
lecture attendance and credit; they carry no content of the meeting."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.auth.room_tokens import RoomClaims
from yiyun.core.clock import now
from yiyun.meetings.models import Attendance
from yiyun.org.models import Terminal, User


async def joined(
    session: AsyncSession, *, meeting_id: int, claims: RoomClaims, connection: str
) -> None:
    """A staff member or a site's terminal was admitted (guests are not recorded)."""
    if claims.guest_id is not None:
        return
    user_id = claims.user_id or None
    institution_id: int | None = None
    if claims.terminal_id is not None:
        institution_id = await session.scalar(
            select(Terminal.institution_id).where(Terminal.id == claims.terminal_id)
        )
        user_id = None
    elif user_id is not None:
        institution_id = await session.scalar(select(User.institution_id).where(User.id == user_id))
    else:
        return
    session.add(
        Attendance(
            meeting_id=meeting_id,
            identity=claims.identity,
            user_id=user_id,
            terminal_id=claims.terminal_id,
            institution_id=institution_id,
            connection=connection,
            joined_at=now(),
        )
    )
    await session.flush()


async def left(session: AsyncSession, *, meeting_id: int, connection: str) -> None:
    """The connection is gone: close its open stay."""
    await session.execute(
        update(Attendance)
        .where(
            Attendance.meeting_id == meeting_id,
            Attendance.connection == connection,
            Attendance.left_at.is_(None),
        )
        .values(left_at=now())
    )
