"""A room terminal's kiosk: its site's upcoming meetings, and joining one as the site.

The kiosk signs in with its device credential (a cookie the kiosk page keeps). A site's
meetings are those with at least one member from the site that are not about a patient
(a room screen is no place for a patient's case; the doctor joins those from a PC). The
terminal joins with a room token of its own identity (`t<terminal id>`, no user), named
after its site and itself, through the same call page and signalling as everyone else.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

from sqlalchemy import exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.audit import service as audit
from yiyun.audit.service import Actor
from yiyun.auth import room_tokens
from yiyun.core.bus import EventBus
from yiyun.core.clock import now
from yiyun.core.errors import NotFound
from yiyun.meetings import workflow as meetings_workflow
from yiyun.meetings.models import Meeting, MeetingMember
from yiyun.ops.devices import Device
from yiyun.org.models import Institution, User

COOKIE = "yiyun_device"
AHEAD_DAYS = 7


def csrf_token(secret_key: str, credential: str) -> str:
    """The kiosk's CSRF token, derived from its credential (nothing stored)."""
    mac = hmac.new(secret_key.encode(), f"kiosk-csrf:{credential}".encode(), hashlib.sha256)
    return mac.hexdigest()[:32]


async def upcoming(*, session: AsyncSession, institution_id: int, limit: int = 20) -> list[Meeting]:
    """The site's meetings happening now or in the next days, soonest first."""
    stamp = now()
    member_here = exists().where(
        MeetingMember.meeting_id == Meeting.id,
        MeetingMember.user_id == User.id,
        User.institution_id == institution_id,
    )
    query = (
        select(Meeting)
        .where(
            member_here,
            Meeting.patient_id.is_(None),
            or_(
                Meeting.state == meetings_workflow.OPEN,
                (Meeting.state == meetings_workflow.SCHEDULED)
                & (Meeting.starts_at <= stamp + timedelta(days=AHEAD_DAYS)),
            ),
        )
        .order_by(Meeting.state.desc(), Meeting.starts_at, Meeting.id.desc())
        .limit(limit)
    )
    return list((await session.scalars(query)).all())


async def meeting_for(*, session: AsyncSession, device: Device, meeting_id: int) -> Meeting:
    """One of the site's meetings; any other is 404 (existence is not revealed)."""
    meeting = await session.get(Meeting, meeting_id)
    if meeting is None or meeting.patient_id is not None:
        raise NotFound("meeting not found", code="meeting.not_found")
    member_here = await session.scalar(
        select(MeetingMember.id)
        .join(User, User.id == MeetingMember.user_id)
        .where(
            MeetingMember.meeting_id == meeting.id,
            User.institution_id == device.terminal.institution_id,
        )
        .limit(1)
    )
    if member_here is None:
        raise NotFound("meeting not found", code="meeting.not_found")
    return meeting


async def join_token(
    *,
    session: AsyncSession,
    bus: EventBus,
    device: Device,
    meeting: Meeting,
    secret_key: str,
    early_minutes: int,
    ip: str | None,
    purpose: str = "call",
) -> str:
    """A room token for the terminal; a scheduled meeting opens as for staff (409 with
    `meeting.not_started` while it is too early, `meeting.ended` once it is over)."""
    terminal = device.terminal
    actor = Actor(user_id=None, username=f"terminal:{terminal.code}", ip=ip)
    await meetings_workflow.open_for_join(
        session=session, bus=bus, meeting=meeting, actor=actor, early_minutes=early_minutes
    )
    site = await session.get(Institution, terminal.institution_id)
    name = f"{site.name if site else ''} · {terminal.name}"[:100]
    if purpose == "call":
        await audit.record(
            session=session,
            actor=actor,
            action="ops.terminal.join",
            entity_type="meeting",
            entity_id=meeting.id,
            institution_id=terminal.institution_id,
            details={"terminal_id": terminal.id},
        )
    return room_tokens.issue(
        secret_key,
        room=meeting.room_id,
        user_id=0,
        name=name,
        role="screen" if purpose == "screen" else "participant",
        meeting_id=meeting.id,
        terminal_id=terminal.id,
    )
