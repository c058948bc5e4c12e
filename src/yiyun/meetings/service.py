"""Meeting use cases: ring members, end a meeting, issue join tokens (creating one is
`schedule.create`)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.audit import service as audit
from yiyun.audit.service import Actor
from yiyun.auth import room_tokens
from yiyun.auth.principal import Principal
from yiyun.core.bus import EventBus
from yiyun.core.clock import now
from yiyun.core.errors import NotFound, PermissionDenied
from yiyun.meetings import notices, workflow
from yiyun.meetings.models import Meeting, MeetingMember
from yiyun.meetings.schemas import MeetingRead, MemberRead
from yiyun.ops import ring as ops_ring
from yiyun.org.models import User


async def ring(
    *,
    session: AsyncSession,
    bus: EventBus,
    meeting: Meeting,
    caller: Principal,
    user_ids: list[int] | None = None,
) -> int:
    """Ring members (all but the caller, or the given ones) with an urgent notification."""
    if meeting.state != workflow.OPEN:
        raise workflow.MACHINE.illegal(meeting.state, "ring")
    members = (
        await session.scalars(
            select(MeetingMember.user_id).where(MeetingMember.meeting_id == meeting.id)
        )
    ).all()
    wanted = None if user_ids is None else set(user_ids)
    targets = [u for u in members if u != caller.user_id and (wanted is None or u in wanted)]
    await notices.send(
        session=session,
        bus=bus,
        meeting=meeting,
        user_ids=targets,
        kind="meeting.ring",
        by=caller.display_name,
        urgent=True,
    )
    # The rung people's sites' room terminals ring too (their kiosks show the call).
    await ops_ring.ring_sites(session=session, bus=bus, meeting=meeting, user_ids=targets)
    return len(targets)


async def add_participants(
    *, session: AsyncSession, meeting: Meeting, user_ids: list[int]
) -> list[int]:
    """Make these staff participants of the meeting, however many (a district-wide
    conference); who is already a member stays as they are. Returns the ids added."""
    present = set(
        (
            await session.scalars(
                select(MeetingMember.user_id).where(MeetingMember.meeting_id == meeting.id)
            )
        ).all()
    )
    added = [uid for uid in dict.fromkeys(user_ids) if uid not in present]
    stamp = now()
    session.add_all(
        MeetingMember(meeting_id=meeting.id, user_id=uid, invited_at=stamp) for uid in added
    )
    await session.flush()
    return added


async def _member(session: AsyncSession, meeting_id: int, user_id: int) -> MeetingMember | None:
    return await session.scalar(
        select(MeetingMember).where(
            MeetingMember.meeting_id == meeting_id, MeetingMember.user_id == user_id
        )
    )


async def get(*, session: AsyncSession, principal: Principal, meeting_id: int) -> Meeting:
    """A meeting the principal belongs to; others get 404 (existence is not revealed)."""
    meeting = await session.get(Meeting, meeting_id)
    if meeting is None or await _member(session, meeting.id, principal.user_id) is None:
        raise NotFound("meeting not found", code="meeting.not_found")
    return meeting


async def get_by_code(*, session: AsyncSession, principal: Principal, code: str) -> Meeting:
    meeting = await session.scalar(select(Meeting).where(Meeting.code == code))
    if meeting is None:
        raise NotFound("meeting not found", code="meeting.not_found")
    return await get(session=session, principal=principal, meeting_id=meeting.id)


async def read(session: AsyncSession, meeting: Meeting) -> MeetingRead:
    rows = (
        await session.execute(
            select(MeetingMember, User)
            .join(User, User.id == MeetingMember.user_id)
            .where(MeetingMember.meeting_id == meeting.id)
            .order_by(MeetingMember.id)
        )
    ).all()
    return MeetingRead(
        id=meeting.id,
        code=meeting.code,
        title=meeting.title,
        kind=meeting.kind,
        state=meeting.state,
        host_id=meeting.host_id,
        room_id=meeting.room_id,
        created_at=meeting.created_at,
        ended_at=meeting.ended_at,
        members=[
            MemberRead(user_id=u.id, username=u.username, display_name=u.display_name, role=m.role)
            for m, u in rows
        ],
        starts_at=meeting.starts_at,
        ends_at=workflow.ends_at(meeting) if meeting.starts_at else None,
        duration_minutes=meeting.duration_minutes,
        description=meeting.description,
        patient_id=meeting.patient_id,
        waiting_room=meeting.waiting_room,
        allow_unmute=meeting.allow_unmute,
        has_passcode=meeting.passcode_hash is not None,
        subject_type=meeting.subject_type,
        subject_id=meeting.subject_id,
    )


async def list_mine(
    *, session: AsyncSession, principal: Principal, limit: int = 50
) -> list[Meeting]:
    query = (
        select(Meeting)
        .join(MeetingMember, MeetingMember.meeting_id == Meeting.id)
        .where(MeetingMember.user_id == principal.user_id)
        .order_by(Meeting.id.desc())
        .limit(limit)
    )
    return list((await session.scalars(query)).all())


async def end(
    *, session: AsyncSession, bus: EventBus, principal: Principal, meeting_id: int, actor: Actor
) -> Meeting:
    meeting = await get(session=session, principal=principal, meeting_id=meeting_id)
    await workflow.transition(
        session=session, bus=bus, meeting=meeting, action="end", actor=actor, principal=principal
    )
    return meeting


async def join_token(
    *,
    session: AsyncSession,
    bus: EventBus,
    principal: Principal,
    meeting_id: int,
    secret_key: str,
    actor: Actor,
    purpose: str = "call",
    early_minutes: int = 30,
) -> tuple[Meeting, str]:
    """A short-lived token to join the meeting's media room (members only).

    A scheduled meeting may be joined from `early_minutes` before its start; the first
    token opens it. `purpose="screen"` is for a second connection sharing a screen.
    """
    meeting = await get(session=session, principal=principal, meeting_id=meeting_id)
    await workflow.open_for_join(
        session=session, bus=bus, meeting=meeting, actor=actor, early_minutes=early_minutes
    )
    member = await _member(session, meeting.id, principal.user_id)
    role = member.role if member else "participant"
    if purpose == "screen":
        if role == "observer":
            raise PermissionDenied("observers do not share screens", code="meeting.observer")
        role = "screen"
    token = room_tokens.issue(
        secret_key,
        room=meeting.room_id,
        user_id=principal.user_id,
        name=principal.display_name,
        role=role,
        meeting_id=meeting.id,
        session_id=principal.session_id,
    )
    if purpose == "call":
        await notices.mark_read_on_join(
            session=session, user_id=principal.user_id, meeting_id=meeting.id, bus=bus
        )
    await audit.record(
        session=session,
        actor=actor,
        action="meeting.join_token",
        entity_type="meeting",
        entity_id=meeting.id,
        details={"purpose": purpose},
    )
    return meeting, token


async def member_role(session: AsyncSession, meeting: Meeting, principal: Principal) -> str | None:
    """The principal's role in the meeting (`host`, `cohost`, `participant`, `observer`)."""
    if meeting.host_id == principal.user_id:
        return "host"
    member = await _member(session, meeting.id, principal.user_id)
    return member.role if member else None


async def get_for(
    *, session: AsyncSession, principal: Principal, meeting_id: int, roles: frozenset[str]
) -> Meeting:
    """A meeting where the principal holds one of `roles`; others get 404 (members who
    lack the role get 403, since they know the meeting exists)."""
    meeting = await get(session=session, principal=principal, meeting_id=meeting_id)
    if await member_role(session, meeting, principal) not in roles:
        raise PermissionDenied("your role in this meeting does not allow this", code="meeting.role")
    return meeting
