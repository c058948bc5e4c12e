"""Meetings: the one way to create one (instant or scheduled), edit, cancel; lists.

`create()` is used by the API, the pages and other domains alike (an incident's command
room, later a consultation or a clinic visit): `subject` links the meeting to what it
is for, and `invitee_ids` takes any number of staff chosen by the calling domain. Every
change is audited in the same transaction and the other members are told in the
app (`members.tell`). Editing and cancelling are the host's. A meeting about a patient
may only name a patient the host can access (the records access check, denials audited).
Members and their roles are in `members.py`.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.audit import service as audit
from yiyun.audit.models import AuditEvent
from yiyun.audit.service import Actor
from yiyun.auth import passwords
from yiyun.auth.policy import Action
from yiyun.auth.principal import Principal
from yiyun.core.bus import EventBus
from yiyun.core.clock import as_utc, now
from yiyun.core.errors import InvalidInput, NotFound
from yiyun.meetings import members, service, workflow
from yiyun.meetings.models import Meeting, MeetingGuest, MeetingMember
from yiyun.meetings.schemas import MeetingCreate, MeetingUpdate, Subject
from yiyun.meetings.workflow import OPEN, SCHEDULED
from yiyun.org.models import User
from yiyun.records import service as records_service
from yiyun.records.models import Patient

MAX_AHEAD = timedelta(days=366)
START_SLACK = timedelta(minutes=1)  # a form filled in for "now" is not "in the past"
GUEST_GRACE = timedelta(hours=1)  # guest links last until the planned end plus this
CHANGE_ACTIONS = ("meeting.update", "meeting.cancel")


# --- validation ------------------------------------------------------------------------


def _check_start(problems: members.Problems, starts_at: datetime, at: datetime) -> None:
    start = as_utc(starts_at)
    if start < at - START_SLACK:
        problems.add("starts_at", "the start time is in the past", "meeting.start_in_past")
    elif start > at + MAX_AHEAD:
        problems.add("starts_at", "the start time is more than a year ahead", "meeting.too_far")


async def accessible_patient(
    session: AsyncSession, ctx: records_service.Ctx, patient_id: int
) -> Patient:
    """A patient the caller may act for: a meeting about a patient, or a guest invitation
    sent to one, is a write on the patient's behalf (so read-only access is refused with
    403); otherwise one answer for "missing" and "hidden"."""
    try:
        return await records_service.load_patient(
            session=session, ctx=ctx, patient_id=patient_id, action=Action.WRITE_PATIENT
        )
    except NotFound as exc:
        raise InvalidInput(
            "no patient with this number that you can access",
            code="meeting.unknown_patient",
            details={"reasons": ["no patient with this number that you can access"]},
            keep_changes=exc.keep_changes,  # the denied access stays in the audit log
        ) from None


async def patient_id_by_number(
    *, session: AsyncSession, ctx: records_service.Ctx, number: str
) -> int:
    """The id of an accessible patient by patient number (MPI), for forms."""
    found = await session.scalar(select(Patient.id).where(Patient.mpi == number.strip().upper()))
    if found is None:
        message = "no patient with this number that you can access"
        raise InvalidInput(message, code="meeting.unknown_patient", details={"reasons": [message]})
    return (await accessible_patient(session, ctx, found)).id


# --- use cases ---------------------------------------------------------------------------


async def _staff_by_id(
    session: AsyncSession, problems: members.Problems, user_ids: Sequence[int]
) -> list[User]:
    wanted = sorted(set(user_ids))
    if not wanted:
        return []
    users = list((await session.scalars(select(User).where(User.id.in_(wanted)))).all())
    active = [u for u in users if u.active]
    missing = sorted(set(wanted) - {u.id for u in active})
    if missing:
        problems.add(
            "invitees", "some invitees are not active staff", "meeting.unknown_invitee", ids=missing
        )
    return active


async def create(
    *,
    session: AsyncSession,
    ctx: records_service.Ctx,
    data: MeetingCreate,
    bus: EventBus,
    subject: Subject | None = None,
    invitee_ids: Sequence[int] = (),
    at: datetime | None = None,
) -> Meeting:
    """The one way to create a meeting: open now (invitees rung) or, with `starts_at`,
    scheduled (invitees told).

    `subject` names what the meeting is for (e.g. `Subject("emergency.incident", 7)`);
    `invitee_ids` adds participants by user id, as many as the calling domain chose, to
    the usernames in `data`.
    """
    at = at or now()
    principal = ctx.principal
    problems = members.Problems([])
    if data.starts_at is not None:
        _check_start(problems, data.starts_at, at)
    participants = await members.find_staff(session, problems, "invitees", data.invitees)
    participants += await _staff_by_id(session, problems, invitee_ids)
    observers = await members.find_staff(session, problems, "observers", data.observers)
    problems.raise_if_any()
    if data.patient_id is not None:
        await accessible_patient(session, ctx, data.patient_id)
    scheduled = data.starts_at is not None
    meeting = Meeting(
        code=secrets.token_hex(5),
        title=data.title,
        kind="scheduled" if scheduled else "instant",
        state=SCHEDULED if scheduled else OPEN,
        host_id=principal.user_id,
        institution_id=principal.institution_id,
        starts_at=as_utc(data.starts_at) if data.starts_at else None,
        duration_minutes=data.duration_minutes,
        description=data.description,
        patient_id=data.patient_id,
        waiting_room=data.waiting_room,
        allow_unmute=data.allow_unmute,
        passcode_hash=passwords.hash_password(data.passcode) if data.passcode else None,
        subject_type=subject.type if subject else None,
        subject_id=subject.id if subject else None,
    )
    session.add(meeting)
    await session.flush()
    roles = {u.id: members.PARTICIPANT for u in participants}
    roles |= {u.id: members.OBSERVER for u in observers}
    roles.pop(principal.user_id, None)
    session.add(
        MeetingMember(
            meeting_id=meeting.id, user_id=principal.user_id, role=members.HOST, invited_at=at
        )
    )
    session.add_all(
        MeetingMember(meeting_id=meeting.id, user_id=uid, role=role, invited_at=at)
        for uid, role in roles.items()
    )
    await session.flush()
    details: dict[str, object] = {
        "invitees": len(participants),
        "observers": len(observers),
        "starts_at": meeting.starts_at.isoformat() if meeting.starts_at else None,
        "duration_minutes": meeting.duration_minutes,
        "passcode": meeting.passcode_hash is not None,
    }
    if subject is not None:
        details["subject"] = {"type": subject.type, "id": subject.id}
    await audit.record(
        session=session,
        actor=ctx.actor,
        action="meeting.schedule" if scheduled else "meeting.create",
        entity_type="meeting",
        entity_id=meeting.id,
        patient_id=meeting.patient_id,
        details=details,
    )
    workflow.MACHINE.announce(
        session=session,
        bus=bus,
        entity_id=meeting.id,
        action="schedule" if scheduled else "create",
        before=None,
        after=meeting.state,
        at=at,
        extra=workflow.event_fields(meeting),
    )
    if scheduled:
        await members.tell(
            session=session,
            bus=bus,
            meeting=meeting,
            user_ids=list(roles),
            kind="meeting.invited",
            by=principal.display_name,
        )
    else:
        await service.ring(session=session, bus=bus, meeting=meeting, caller=principal)
    return meeting


async def update(
    *,
    session: AsyncSession,
    ctx: records_service.Ctx,
    meeting_id: int,
    data: MeetingUpdate,
    bus: EventBus,
    at: datetime | None = None,
) -> Meeting:
    """Change what was sent; a new time needs the meeting still `scheduled`."""
    at = at or now()
    meeting = await service.get(session=session, principal=ctx.principal, meeting_id=meeting_id)
    members.require_host(meeting, ctx.principal)
    sent = data.model_fields_set
    rescheduled = "starts_at" in sent and data.starts_at is not None
    workflow.check(meeting, "reschedule" if rescheduled else "edit")
    problems = members.Problems([])
    if rescheduled and data.starts_at is not None:
        _check_start(problems, data.starts_at, at)
    for field in ("title", "duration_minutes", "waiting_room", "allow_unmute"):
        if field in sent and getattr(data, field) is None:
            problems.add(field, "this field cannot be cleared", "meeting.required_field")
    if "starts_at" in sent and data.starts_at is None:
        problems.add("starts_at", "this field cannot be cleared", "meeting.required_field")
    problems.raise_if_any()
    if "patient_id" in sent and data.patient_id is not None:
        await accessible_patient(session, ctx, data.patient_id)
    changed: list[str] = []

    def put(field: str, value: object) -> None:
        if getattr(meeting, field) != value:
            setattr(meeting, field, value)
            changed.append(field)

    for field in ("title", "description", "duration_minutes", "waiting_room", "allow_unmute"):
        if field in sent and getattr(data, field) is not None:
            put(field, getattr(data, field))
    if "patient_id" in sent:
        put("patient_id", data.patient_id)
    if rescheduled and data.starts_at is not None:
        put("starts_at", as_utc(data.starts_at))
    if "passcode" in sent:
        meeting.passcode_hash = passwords.hash_password(data.passcode) if data.passcode else None
        changed.append("passcode")
    if not changed:
        return meeting
    if "starts_at" in changed:
        meeting.reminder_sent_at = None  # remind again for the new time
    if {"starts_at", "duration_minutes"} & set(changed):
        await _extend_guests(session, meeting)
    await session.flush()
    await audit.record(
        session=session,
        actor=ctx.actor,
        action="meeting.update",
        entity_type="meeting",
        entity_id=meeting.id,
        patient_id=meeting.patient_id,
        details={"fields": sorted(changed)},
    )
    others = [u for u in await members.member_ids(session, meeting) if u != ctx.principal.user_id]
    await members.tell(
        session=session,
        bus=bus,
        meeting=meeting,
        user_ids=others,
        kind="meeting.updated",
        by=ctx.principal.display_name,
    )
    return meeting


def guest_expiry(meeting: Meeting, *, instant_hours: float, at: datetime | None = None) -> datetime:
    """Guest links last until the planned end plus an hour (instant meetings: a day)."""
    if meeting.starts_at is None:
        return (at or now()) + timedelta(hours=instant_hours)
    return workflow.ends_at(meeting) + GUEST_GRACE


async def _extend_guests(session: AsyncSession, meeting: Meeting) -> None:
    if meeting.starts_at is None:
        return
    expiry = guest_expiry(meeting, instant_hours=0)
    guests = await session.scalars(
        select(MeetingGuest).where(
            MeetingGuest.meeting_id == meeting.id, MeetingGuest.revoked_at.is_(None)
        )
    )
    for guest in guests:
        guest.expires_at = expiry


async def cancel(
    *, session: AsyncSession, principal: Principal, actor: Actor, meeting_id: int, bus: EventBus
) -> Meeting:
    """Cancel a scheduled meeting: members are told, guest links stop working."""
    meeting = await service.get(session=session, principal=principal, meeting_id=meeting_id)
    await workflow.transition(
        session=session,
        bus=bus,
        meeting=meeting,
        action="cancel",
        actor=actor,
        principal=principal,
    )
    others = [u for u in await members.member_ids(session, meeting) if u != principal.user_id]
    await members.tell(
        session=session,
        bus=bus,
        meeting=meeting,
        user_ids=others,
        kind="meeting.cancelled",
        by=principal.display_name,
    )
    return meeting


async def listing(
    *,
    session: AsyncSession,
    principal: Principal,
    upcoming: bool | None = None,
    limit: int = 50,
    at: datetime | None = None,
) -> list[Meeting]:
    """The principal's meetings: all (newest first), upcoming (soonest first) or past.

    Upcoming: open now, or scheduled and not yet past its planned end.
    """
    query = (
        select(Meeting)
        .join(MeetingMember, MeetingMember.meeting_id == Meeting.id)
        .where(MeetingMember.user_id == principal.user_id)
        .order_by(Meeting.id.desc())
    )
    if upcoming is None:
        return list((await session.scalars(query.limit(limit))).all())
    at = at or now()
    if upcoming:
        live = query.where(Meeting.state.in_((SCHEDULED, OPEN)))
        rows = [m for m in (await session.scalars(live)).all() if is_upcoming(m, at)]
        return sorted(rows, key=workflow.starts_at)[:limit]
    recent = (await session.scalars(query.limit(limit * 4))).all()
    rows = [m for m in recent if not is_upcoming(m, at)]
    return sorted(rows, key=workflow.starts_at, reverse=True)[:limit]


def is_upcoming(meeting: Meeting, at: datetime) -> bool:
    if meeting.state == OPEN:
        return True
    return meeting.state == SCHEDULED and workflow.ends_at(meeting) > at


async def sequence(session: AsyncSession, meeting: Meeting) -> int:
    """How often the meeting was changed or cancelled (the calendar file's SEQUENCE)."""
    count = await session.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(
            AuditEvent.entity_type == "meeting",
            AuditEvent.entity_id == str(meeting.id),
            AuditEvent.action.in_(CHANGE_ACTIONS),
        )
    )
    return int(count or 0)
