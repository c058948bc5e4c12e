"""Staff pages for scheduled meetings: the schedule form, a meeting's info page with its
members and guests, the host's actions, and the calendar file.

Forms take Asia/Shanghai wall-clock times (`datetime-local`). A new guest's link and code
are shown once, on the page the invitation form returns (never in a redirect URL).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Form, Path, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from yiyun.core.clock import DISTRICT_TZ as CST
from yiyun.core.errors import InvalidInput
from yiyun.meetings import (
    guests,
    ics,
    live_api,
    members,
    recording,
    removals,
    schedule,
    service,
    workflow,
)
from yiyun.meetings.api import public_base
from yiyun.meetings.schemas import GuestCreate, GuestIssued, MeetingCreate, MeetingUpdate
from yiyun.notify.channels import deliver
from yiyun.web.deps import AppSettings, CurrentActor, CurrentPrincipal, DbSession, PatientCtx
from yiyun.web.pagekit import invalid, page, see_other
from yiyun.web.params import Id
from yiyun.web.templating import locale_of

router = APIRouter()
DURATIONS = (15, 30, 45, 60, 90, 120, 180, 240)
Text = Annotated[str, Form(max_length=4000)]
Short = Annotated[str, Form(max_length=200)]


def names(text: str) -> list[str]:
    """Usernames typed with commas (either width), spaces or line breaks between them."""
    for sep in ("，", "、", ";", "\n", " "):
        text = text.replace(sep, ",")
    return [n.strip().lower() for n in text.split(",") if n.strip()]


def local_input(value: datetime | None) -> str:
    """An aware time as a `datetime-local` value on the Asia/Shanghai wall clock."""
    return value.astimezone(CST).strftime("%Y-%m-%dT%H:%M") if value else ""


def parse_local(value: str) -> datetime:
    """A `datetime-local` value read as Asia/Shanghai wall-clock time."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        message = "enter the date and time as YYYY-MM-DD HH:MM"
        raise InvalidInput(
            message, code="meeting.bad_time", details={"reasons": [message]}
        ) from None
    return parsed.replace(tzinfo=CST) if parsed.tzinfo is None else parsed


def form_defaults() -> dict[str, Any]:
    """The schedule form's starting values: the next full hour, an hour long."""
    start = (datetime.now(CST) + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    return {"starts_local": local_input(start), "durations": DURATIONS, "duration": 60}


async def _patient_id(session: DbSession, ctx: PatientCtx, number: str) -> int | None:
    number = number.strip()
    if not number:
        return None
    return await schedule.patient_id_by_number(session=session, ctx=ctx, number=number)


@router.post("/meetings/schedule")
async def schedule_meeting(
    request: Request,
    session: DbSession,
    ctx: PatientCtx,
    title: Short,
    starts_local: Annotated[str, Form(max_length=32)],
    duration_minutes: Annotated[str, Form(max_length=8)] = "60",
    description: Text = "",
    invitees: Text = "",
    observers: Text = "",
    patient_number: Annotated[str, Form(max_length=32)] = "",
    passcode: Annotated[str, Form(max_length=32)] = "",
    waiting_room: Annotated[str, Form(max_length=8)] = "",
    allow_unmute: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    starts_at = parse_local(starts_local)
    try:
        data = MeetingCreate(
            title=title,
            starts_at=starts_at,
            duration_minutes=int(duration_minutes) if duration_minutes.isdecimal() else 0,
            description=description.replace("\r\n", "\n"),
            invitees=names(invitees),
            observers=names(observers),
            passcode=passcode.strip() or None,
            waiting_room=bool(waiting_room),
            allow_unmute=bool(allow_unmute),
        )
    except ValidationError as exc:
        raise invalid(exc) from None
    data.patient_id = await _patient_id(session, ctx, patient_number)
    meeting = await schedule.create(session=session, ctx=ctx, data=data, bus=request.app.state.bus)
    return see_other(f"/meetings/{meeting.id}/info?done=scheduled")


async def _info(
    request: Request,
    session: DbSession,
    ctx: PatientCtx,
    settings: AppSettings,
    meeting_id: int,
    issued: GuestIssued | None = None,
) -> Response:
    principal = ctx.principal
    meeting = await service.get(session=session, principal=principal, meeting_id=meeting_id)
    m = await service.read(session, meeting)
    listed = await guests.list_guests(
        session=session,
        principal=principal,
        meeting_id=meeting.id,
        cipher=ctx.cipher,
        max_attempts=settings.meetings.guest_max_attempts,
    )
    role = next((x.role for x in m.members if x.user_id == principal.user_id), None)
    return page(
        request,
        principal,
        "meetings/info.html",
        {
            "m": m,
            "guests": listed,
            "removed": await removals.list_for(
                session=session, principal=principal, meeting_id=meeting.id
            )
            if role in members.CHAIRS
            else [],
            "issued": issued,
            "is_host": meeting.host_id == principal.user_id,
            "is_chair": role in members.CHAIRS,
            "live": meeting.state in workflow.LIVE,
            "can_cancel": meeting.state == workflow.SCHEDULED,
            "can_reschedule": meeting.state == workflow.SCHEDULED,
            "starts_local": local_input(workflow.starts_at(meeting)),
            "ends_at": workflow.ends_at(meeting),
            "when": workflow.when_text(meeting),
            "durations": sorted({*DURATIONS, meeting.duration_minutes}),
            "join_opens_at": workflow.join_opens_at(meeting, settings.meetings.join_early_minutes),
            "recordings": [recording.read(r) for r in await recording.list_for(session, meeting.id)]
            if role in live_api.SPEAKERS
            else [],
        },
    )


@router.get("/meetings/{meeting_id}/info", response_class=HTMLResponse)
async def info(
    request: Request, meeting_id: Id, session: DbSession, ctx: PatientCtx, settings: AppSettings
) -> Response:
    return await _info(request, session, ctx, settings, meeting_id)


@router.post("/meetings/{meeting_id}/edit")
async def edit(
    request: Request,
    meeting_id: Id,
    session: DbSession,
    ctx: PatientCtx,
    title: Short,
    starts_local: Annotated[str, Form(max_length=32)] = "",
    duration_minutes: Annotated[str, Form(max_length=8)] = "60",
    description: Text = "",
    patient_number: Annotated[str, Form(max_length=32)] = "",
    passcode: Annotated[str, Form(max_length=32)] = "",
    clear_passcode: Annotated[str, Form(max_length=8)] = "",
    waiting_room: Annotated[str, Form(max_length=8)] = "",
    allow_unmute: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    meeting = await service.get(session=session, principal=ctx.principal, meeting_id=meeting_id)
    fields: dict[str, Any] = {
        "title": title,
        "duration_minutes": int(duration_minutes) if duration_minutes.isdecimal() else 0,
        "description": description.replace("\r\n", "\n"),
        "waiting_room": bool(waiting_room),
        "allow_unmute": bool(allow_unmute),
    }
    if starts_local.strip() and meeting.state == workflow.SCHEDULED:
        starts_at = parse_local(starts_local)
        if starts_at != meeting.starts_at:  # sent only when it changes (a new time is checked)
            fields["starts_at"] = starts_at
    if passcode.strip():
        fields["passcode"] = passcode.strip()
    elif clear_passcode:
        fields["passcode"] = None
    if patient_number.strip():
        fields["patient_id"] = await _patient_id(session, ctx, patient_number)
    try:
        data = MeetingUpdate(**fields)
    except ValidationError as exc:
        raise invalid(exc) from None
    await schedule.update(
        session=session, ctx=ctx, meeting_id=meeting_id, data=data, bus=request.app.state.bus
    )
    return see_other(f"/meetings/{meeting_id}/info?done=saved")


@router.post("/meetings/{meeting_id}/cancel")
async def cancel(
    request: Request,
    meeting_id: Id,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
) -> Response:
    await schedule.cancel(
        session=session,
        principal=principal,
        actor=actor,
        meeting_id=meeting_id,
        bus=request.app.state.bus,
    )
    return see_other(f"/meetings/{meeting_id}/info?done=cancelled")


@router.post("/meetings/{meeting_id}/invite")
async def invite_staff(
    request: Request,
    meeting_id: Id,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
    usernames: Text,
    role: Annotated[str, Form(max_length=16)] = "participant",
) -> Response:
    wanted = names(usernames)
    if role not in ("participant", "observer"):
        message = "invite as a participant or an observer"
        raise InvalidInput(message, code="meeting.bad_role", details={"reasons": [message]})
    if not wanted:
        message = "enter at least one username"
        raise InvalidInput(message, code="meeting.no_invitees", details={"reasons": [message]})
    await members.invite(
        session=session,
        principal=principal,
        actor=actor,
        meeting_id=meeting_id,
        usernames=wanted,
        role=role,
        bus=request.app.state.bus,
    )
    return see_other(f"/meetings/{meeting_id}/info?done=invited")


@router.post("/meetings/{meeting_id}/members/{user_id}/role")
async def member_role(
    request: Request,
    meeting_id: Id,
    user_id: Id,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
    role: Annotated[str, Form(max_length=16)],
) -> Response:
    if role not in ("cohost", "participant", "observer"):
        message = "choose co-host, participant or observer"
        raise InvalidInput(message, code="meeting.bad_role", details={"reasons": [message]})
    await members.set_role(
        session=session,
        principal=principal,
        actor=actor,
        meeting_id=meeting_id,
        user_id=user_id,
        role=role,
        bus=request.app.state.bus,
    )
    return see_other(f"/meetings/{meeting_id}/info?done=role")


@router.post("/meetings/{meeting_id}/guests", response_class=HTMLResponse)
async def invite_guest(
    request: Request,
    background: BackgroundTasks,
    meeting_id: Id,
    session: DbSession,
    ctx: PatientCtx,
    settings: AppSettings,
    display_name: Annotated[str, Form(max_length=100)] = "",
    patient_number: Annotated[str, Form(max_length=32)] = "",
    phone: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Invite a guest; the page that comes back shows the link and code, this once."""
    try:
        data = GuestCreate(
            display_name=display_name.strip() or None,
            phone=phone.replace(" ", "").replace("-", "") or None,
        )
    except ValidationError as exc:
        raise invalid(exc) from None
    data.patient_id = await _patient_id(session, ctx, patient_number)
    issued = await guests.invite(
        session=session, ctx=ctx, meeting_id=meeting_id, data=data, config=settings.meetings
    )
    link = f"{public_base(request, settings)}/join/{issued.link}"
    if issued.phone:
        sms = guests.invitation_sms(
            locale=settings.default_locale,
            issued=issued,
            url=link,
            when=workflow.when_text(issued.meeting),
            phone=issued.phone,
        )
        background.add_task(deliver, request.app.state.outbound.sms, sms)
    shown = GuestIssued(
        guest=guests.read(
            issued.guest, ctx.cipher, max_attempts=settings.meetings.guest_max_attempts
        ),
        link=link,
        code=issued.code,
        sms_sent=issued.phone is not None,
    )
    response = await _info(request, session, ctx, settings, meeting_id, issued=shown)
    response.headers["Cache-Control"] = "no-store"  # the code is on this page
    return response


@router.post("/meetings/{meeting_id}/guests/{guest_id}/revoke")
async def revoke_guest(
    request: Request,
    meeting_id: Id,
    guest_id: Id,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
) -> Response:
    await guests.revoke(
        session=session,
        principal=principal,
        actor=actor,
        meeting_id=meeting_id,
        guest_id=guest_id,
        bus=request.app.state.bus,
    )
    return see_other(f"/meetings/{meeting_id}/info?done=revoked")


@router.post("/meetings/{meeting_id}/removals/{identity}/allow")
async def allow_back(
    meeting_id: Id,
    identity: Annotated[str, Path(max_length=24)],
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
) -> Response:
    """The info page's "Allow back" button (the host only)."""
    await removals.allow_back(
        session=session, principal=principal, actor=actor, meeting_id=meeting_id, identity=identity
    )
    return see_other(f"/meetings/{meeting_id}/info?done=allowed_back")


@router.get("/meetings/{meeting_id}/invite.ics")
async def calendar_file(
    request: Request,
    meeting_id: Id,
    session: DbSession,
    principal: CurrentPrincipal,
    settings: AppSettings,
) -> Response:
    """The meeting as an iCalendar file (members only; others get 404)."""
    meeting, text = await ics.meeting_file(
        session=session,
        principal=principal,
        meeting_id=meeting_id,
        base_url=public_base(request, settings),
        locale=locale_of(request),
        alarm_minutes=settings.meetings.reminder_minutes,
    )
    return Response(
        text.encode("utf-8"),
        media_type="text/calendar; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="meeting-{meeting.id}.ics"',
            "Cache-Control": "no-store",
        },
    )
