"""Who is in a meeting and as what: host, co-hosts, participants, observers.

The host invites staff and sets roles; co-hosts share the chair in the room and may
invite guests. Members are told in the app, each in their own language (`tell`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.audit import service as audit
from yiyun.audit.service import Actor
from yiyun.auth.principal import Principal
from yiyun.core.bus import EventBus
from yiyun.core.clock import now
from yiyun.core.errors import Conflict, InvalidInput, PermissionDenied
from yiyun.meetings import notices, service, workflow
from yiyun.meetings.models import Meeting, MeetingMember
from yiyun.meetings.workflow import OPEN
from yiyun.org.models import User

HOST, COHOST, PARTICIPANT, OBSERVER = "host", "cohost", "participant", "observer"
CHAIRS = frozenset({HOST, COHOST})


@dataclass
class Problems:
    """Everything wrong with a request, reported at once (422 with `reasons`)."""

    errors: list[dict[str, Any]]

    def add(self, field: str, message: str, code: str, **extra: Any) -> None:
        self.errors.append({"field": field, "message": message, "code": code, **extra})

    def raise_if_any(self) -> None:
        if not self.errors:
            return
        if len(self.errors) == 1:
            only = self.errors[0]
            raise InvalidInput(
                only["message"],
                code=only["code"],
                details={"reasons": [only["message"]], "errors": self.errors}
                | {k: v for k, v in only.items() if k not in ("field", "message", "code")},
            )
        raise InvalidInput(
            "the meeting cannot be saved",
            code="meeting.invalid",
            details={"reasons": [e["message"] for e in self.errors], "errors": self.errors},
        )


async def find_staff(
    session: AsyncSession, problems: Problems, field: str, names: list[str]
) -> list[User]:
    wanted = sorted({n.lower() for n in names})
    if not wanted:
        return []
    users = list((await session.scalars(select(User).where(User.username.in_(wanted)))).all())
    found = {u.username for u in users if u.active}
    missing = [n for n in wanted if n not in found]
    if missing:
        problems.add(
            field,
            "some invitees are not active staff",
            "meeting.unknown_invitee",
            usernames=missing,
        )
    return [u for u in users if u.active]


async def tell(
    *,
    session: AsyncSession,
    bus: EventBus,
    meeting: Meeting,
    user_ids: list[int],
    kind: str,
    by: str | None = None,
    role: str | None = None,
) -> None:
    """Notify members in the app, each in their own language (`notices.SENTENCES`)."""
    await notices.send(
        session=session, bus=bus, meeting=meeting, user_ids=user_ids, kind=kind, by=by, role=role
    )


async def member_ids(session: AsyncSession, meeting: Meeting) -> list[int]:
    query = select(MeetingMember.user_id).where(MeetingMember.meeting_id == meeting.id)
    return list((await session.scalars(query.order_by(MeetingMember.id))).all())


async def role_of(session: AsyncSession, meeting: Meeting, user_id: int) -> str | None:
    return await session.scalar(
        select(MeetingMember.role).where(
            MeetingMember.meeting_id == meeting.id, MeetingMember.user_id == user_id
        )
    )


def require_host(meeting: Meeting, principal: Principal) -> None:
    if meeting.host_id != principal.user_id:
        raise PermissionDenied("only the host can do this", code="meeting.host_only")


async def require_chair(session: AsyncSession, meeting: Meeting, principal: Principal) -> None:
    """The host or a co-host."""
    if await role_of(session, meeting, principal.user_id) not in CHAIRS:
        raise PermissionDenied("only the host or a co-host can do this", code="meeting.chair_only")


async def invite(
    *,
    session: AsyncSession,
    principal: Principal,
    actor: Actor,
    meeting_id: int,
    usernames: list[str],
    role: str = PARTICIPANT,
    bus: EventBus,
) -> Meeting:
    """Add staff as participants or observers (the host only); existing members keep theirs."""
    meeting = await service.get(session=session, principal=principal, meeting_id=meeting_id)
    require_host(meeting, principal)
    workflow.check(meeting, "invite")
    problems = Problems([])
    users = await find_staff(session, problems, "usernames", usernames)
    problems.raise_if_any()
    added = []
    for user in users:
        if await role_of(session, meeting, user.id) is None:
            session.add(
                MeetingMember(meeting_id=meeting.id, user_id=user.id, role=role, invited_at=now())
            )
            added.append(user.id)
    await session.flush()
    await audit.record(
        session=session,
        actor=actor,
        action="meeting.invite",
        entity_type="meeting",
        entity_id=meeting.id,
        details={"invitees": len(added), "role": role},
    )
    if meeting.state == OPEN:
        await service.ring(
            session=session, bus=bus, meeting=meeting, caller=principal, user_ids=added
        )
    else:
        await tell(
            session=session,
            bus=bus,
            meeting=meeting,
            user_ids=added,
            kind="meeting.invited",
            by=principal.display_name,
        )
    return meeting


async def set_role(
    *,
    session: AsyncSession,
    principal: Principal,
    actor: Actor,
    meeting_id: int,
    user_id: int,
    role: str,
    bus: EventBus,
) -> Meeting:
    """Make a staff member co-host, participant or observer (adding them if need be)."""
    meeting = await service.get(session=session, principal=principal, meeting_id=meeting_id)
    require_host(meeting, principal)
    workflow.check(meeting, "set_role")
    if user_id == meeting.host_id:
        raise Conflict("the host's role cannot change", code="meeting.host_role")
    user = await session.get(User, user_id)
    if user is None or not user.active:
        raise InvalidInput(
            "some invitees are not active staff",
            code="meeting.unknown_invitee",
            details={"reasons": ["some invitees are not active staff"]},
        )
    member = await session.scalar(
        select(MeetingMember).where(
            MeetingMember.meeting_id == meeting.id, MeetingMember.user_id == user_id
        )
    )
    before = member.role if member else None
    if member is None:
        session.add(
            MeetingMember(meeting_id=meeting.id, user_id=user_id, role=role, invited_at=now())
        )
    elif member.role == role:
        return meeting
    else:
        member.role = role
    await session.flush()
    await audit.record(
        session=session,
        actor=actor,
        action="meeting.set_role",
        entity_type="meeting",
        entity_id=meeting.id,
        details={"user_id": user_id, "from": before, "to": role},
    )
    await tell(
        session=session,
        bus=bus,
        meeting=meeting,
        user_ids=[user_id],
        kind="meeting.role",
        by=principal.display_name,
        role=role,
    )
    return meeting
