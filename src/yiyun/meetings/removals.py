"""Who may not come back into a meeting, and who lets them back.

The chair removes a participant, or does not admit a waiting guest: either is stored
(`MeetingRemoval`) and holds for the rest of the meeting, also after the room empties
and on every app node, until the host allows them back. A denied guest's invitation
gets no room token and nothing of the meeting's content; a guest sees the meeting's
files only once admitted (`MeetingGuest.admitted_at`). See docs/security.md.
"""

from __future__ import annotations

import re

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.audit import service as audit
from yiyun.audit.service import Actor
from yiyun.auth.principal import Principal
from yiyun.core.clock import now
from yiyun.core.errors import InvalidInput, NotFound
from yiyun.meetings import members, service
from yiyun.meetings.models import MeetingGuest, MeetingRemoval

REMOVED, DENIED = "removed", "denied"
IDENTITY = re.compile(r"^[ug][1-9][0-9]{0,9}$")


async def find(db: AsyncSession, meeting_id: int, identity: str) -> MeetingRemoval | None:
    return await db.scalar(
        select(MeetingRemoval).where(
            MeetingRemoval.meeting_id == meeting_id, MeetingRemoval.identity == identity
        )
    )


async def record(
    db: AsyncSession, *, meeting_id: int, identity: str, name: str, reason: str, by: str
) -> None:
    """Keep someone out of the meeting (once; a later removal keeps the first row)."""
    if await find(db, meeting_id, identity) is not None:
        return
    try:
        async with db.begin_nested():
            db.add(
                MeetingRemoval(
                    meeting_id=meeting_id,
                    identity=identity,
                    name=name[:100],
                    reason=reason,
                    by=by,
                    at=now(),
                )
            )
    except IntegrityError:  # recorded at the same moment by another chair
        return


async def note_admitted(db: AsyncSession, guest_id: int) -> None:
    """The guest is in the call: from now on they may see the meeting's files."""
    await db.execute(
        update(MeetingGuest)
        .where(MeetingGuest.id == guest_id, MeetingGuest.admitted_at.is_(None))
        .values(admitted_at=now())
    )


async def list_for(
    *, session: AsyncSession, principal: Principal, meeting_id: int
) -> list[MeetingRemoval]:
    """Who is kept out of the meeting (host and co-hosts)."""
    meeting = await service.get(session=session, principal=principal, meeting_id=meeting_id)
    await members.require_chair(session, meeting, principal)
    query = select(MeetingRemoval).where(MeetingRemoval.meeting_id == meeting.id)
    return list((await session.scalars(query.order_by(MeetingRemoval.id))).all())


async def allow_back(
    *, session: AsyncSession, principal: Principal, actor: Actor, meeting_id: int, identity: str
) -> None:
    """The host lets a removed participant or a denied guest back in (re-admit)."""
    if not IDENTITY.match(identity):
        message = "not a participant of a meeting"
        raise InvalidInput(message, code="meeting.bad_identity", details={"reasons": [message]})
    meeting = await service.get(session=session, principal=principal, meeting_id=meeting_id)
    members.require_host(meeting, principal)
    row = await find(session, meeting.id, identity)
    if row is None:
        raise NotFound("nobody by that id is kept out of the meeting", code="meeting.not_removed")
    await session.execute(delete(MeetingRemoval).where(MeetingRemoval.id == row.id))
    await audit.record(
        session=session,
        actor=actor,
        action="meeting.allow_back",
        entity_type="meeting",
        entity_id=meeting.id,
        details={"identity": identity, "reason": row.reason},
    )
