"""Meetings JSON API: instant meetings, invitations, join tokens for `/ws/signal`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Path, Query, Request, Response

from yiyun.auth import room_tokens
from yiyun.media import turn
from yiyun.media.hub import SignalHub
from yiyun.meetings import guests, live, members, removals, schedule, service, workflow
from yiyun.meetings.schemas import (
    GuestCreate,
    GuestIssued,
    GuestRead,
    InviteRequest,
    JoinToken,
    LiveParticipant,
    MeetingCreate,
    MeetingRead,
    MeetingUpdate,
    MemberRoleUpdate,
    RemovalRead,
    RingResult,
    TokenRequest,
)
from yiyun.notify.channels import deliver
from yiyun.settings import secret
from yiyun.web.deps import AppSettings, CurrentActor, CurrentPrincipal, DbSession, PatientCtx
from yiyun.web.params import Id

router = APIRouter()


@router.post(
    "/meetings",
    response_model=MeetingRead,
    status_code=201,
)
async def create_meeting(
    data: MeetingCreate, request: Request, session: DbSession, ctx: PatientCtx
) -> MeetingRead:
    """Start an instant meeting, or schedule one when `starts_at` is given (with an offset).

    Invitees (participants) and observers are staff usernames; a `patient_id` must be a
    patient you can access. Scheduled invitees are told in the app, instant ones rung.
    """
    meeting = await schedule.create(session=session, ctx=ctx, data=data, bus=request.app.state.bus)
    return await service.read(session, meeting)


@router.get("/meetings", response_model=list[MeetingRead])
async def list_meetings(
    session: DbSession,
    principal: CurrentPrincipal,
    upcoming: Annotated[bool | None, Query(description="true: upcoming, false: past")] = None,
) -> list[MeetingRead]:
    """My meetings: all (newest first), upcoming (soonest first) or past."""
    rows = await schedule.listing(session=session, principal=principal, upcoming=upcoming)
    return [await service.read(session, m) for m in rows]


@router.get("/meetings/{meeting_id}", response_model=MeetingRead)
async def get_meeting(
    meeting_id: Id, session: DbSession, principal: CurrentPrincipal
) -> MeetingRead:
    meeting = await service.get(session=session, principal=principal, meeting_id=meeting_id)
    return await service.read(session, meeting)


@router.post("/meetings/{meeting_id}/invite", response_model=MeetingRead)
async def invite(
    meeting_id: Id,
    data: InviteRequest,
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
) -> MeetingRead:
    """Invite staff as participants or observers (the host only)."""
    meeting = await members.invite(
        session=session,
        principal=principal,
        actor=actor,
        meeting_id=meeting_id,
        usernames=data.usernames,
        role=data.role,
        bus=request.app.state.bus,
    )
    return await service.read(session, meeting)


@router.post("/meetings/{meeting_id}/ring", response_model=RingResult)
async def ring(
    meeting_id: Id, request: Request, session: DbSession, principal: CurrentPrincipal
) -> RingResult:
    """Ring every other member in the app (an urgent, live notification)."""
    meeting = await service.get(session=session, principal=principal, meeting_id=meeting_id)
    rung = await service.ring(
        session=session, bus=request.app.state.bus, meeting=meeting, caller=principal
    )
    return RingResult(rung=rung)


@router.post("/meetings/{meeting_id}/end", response_model=MeetingRead)
async def end_meeting(
    meeting_id: Id,
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
) -> MeetingRead:
    meeting = await service.end(
        session=session,
        bus=request.app.state.bus,
        principal=principal,
        meeting_id=meeting_id,
        actor=actor,
    )
    return await service.read(session, meeting)


@router.get("/meetings/{meeting_id}/participants", response_model=list[LiveParticipant])
async def live_participants(
    meeting_id: Id, request: Request, session: DbSession, principal: CurrentPrincipal
) -> list[LiveParticipant]:
    """Who is connected to the meeting's media room right now, with their tracks."""
    meeting = await service.get(session=session, principal=principal, meeting_id=meeting_id)
    hub: SignalHub = request.app.state.hub
    return await live.participants(hub, meeting.room_id)


@router.post("/meetings/{meeting_id}/token", response_model=JoinToken)
async def join_token(
    meeting_id: Id,
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
    settings: AppSettings,
    data: TokenRequest | None = None,
) -> JoinToken:
    """A room token valid for two minutes, for the first `join` on `/ws/signal`
    (`{"purpose": "screen"}` for the second connection that shares a screen)."""
    meeting, token = await service.join_token(
        session=session,
        bus=request.app.state.bus,
        principal=principal,
        meeting_id=meeting_id,
        secret_key=secret(settings.security.secret_key),
        actor=actor,
        purpose=data.purpose if data else "call",
        early_minutes=settings.meetings.join_early_minutes,
    )
    return JoinToken(
        token=token,
        room_id=meeting.room_id,
        expires_in=room_tokens.DEFAULT_TTL_SECONDS,
        signal_url="/ws/signal",
        ice_servers=turn.ice_servers_for(settings.media, principal.user_id),
    )


# --- scheduling, roles, guests (docs/meetings.md) ----------------------------------------


@router.patch("/meetings/{meeting_id}", response_model=MeetingRead)
async def update_meeting(
    meeting_id: Id, data: MeetingUpdate, request: Request, session: DbSession, ctx: PatientCtx
) -> MeetingRead:
    """Change a meeting (the host only); a new `starts_at` needs it still scheduled."""
    meeting = await schedule.update(
        session=session, ctx=ctx, meeting_id=meeting_id, data=data, bus=request.app.state.bus
    )
    return await service.read(session, meeting)


@router.post("/meetings/{meeting_id}/cancel", response_model=MeetingRead)
async def cancel_meeting(
    meeting_id: Id,
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
) -> MeetingRead:
    """Cancel a scheduled meeting (the host only); members are told, guest links stop."""
    meeting = await schedule.cancel(
        session=session,
        principal=principal,
        actor=actor,
        meeting_id=meeting_id,
        bus=request.app.state.bus,
    )
    return await service.read(session, meeting)


@router.put("/meetings/{meeting_id}/members/{user_id}", response_model=MeetingRead)
async def set_member_role(
    meeting_id: Id,
    user_id: Id,
    data: MemberRoleUpdate,
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
) -> MeetingRead:
    """Make a staff member co-host, participant or observer (added if not yet a member)."""
    meeting = await members.set_role(
        session=session,
        principal=principal,
        actor=actor,
        meeting_id=meeting_id,
        user_id=user_id,
        role=data.role,
        bus=request.app.state.bus,
    )
    return await service.read(session, meeting)


def public_base(request: Request, settings: AppSettings) -> str:
    """Where people reach Yiyun: `settings.public_url`, else this request's address."""
    return (settings.public_url or str(request.base_url)).rstrip("/")


@router.post("/meetings/{meeting_id}/guests", response_model=GuestIssued, status_code=201)
async def invite_guest(
    meeting_id: Id,
    data: GuestCreate,
    request: Request,
    background: BackgroundTasks,
    session: DbSession,
    ctx: PatientCtx,
    settings: AppSettings,
) -> GuestIssued:
    """Invite a guest without an account (host or co-host). The link and the code are in
    this response only; with a phone they also go out by SMS."""
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
    return GuestIssued(
        guest=guests.read(
            issued.guest, ctx.cipher, max_attempts=settings.meetings.guest_max_attempts
        ),
        link=link,
        code=issued.code,
        sms_sent=issued.phone is not None,
    )


@router.get("/meetings/{meeting_id}/guests", response_model=list[GuestRead])
async def list_guests(
    meeting_id: Id,
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    settings: AppSettings,
) -> list[GuestRead]:
    """A meeting's guest invitations with their state (no links, no codes); the name,
    patient and masked phone only as far as the caller's part in the meeting needs."""
    return await guests.list_guests(
        session=session,
        principal=principal,
        meeting_id=meeting_id,
        cipher=request.app.state.cipher,
        max_attempts=settings.meetings.guest_max_attempts,
    )


@router.delete("/meetings/{meeting_id}/guests/{guest_id}", status_code=204)
async def revoke_guest(
    request: Request,
    meeting_id: Id,
    guest_id: Id,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
) -> Response:
    """Withdraw a guest invitation (host or co-host); the link stops working."""
    await guests.revoke(
        session=session,
        principal=principal,
        actor=actor,
        meeting_id=meeting_id,
        guest_id=guest_id,
        bus=request.app.state.bus,
    )
    return Response(status_code=204)


@router.get("/meetings/{meeting_id}/removals", response_model=list[RemovalRead])
async def list_removals(
    meeting_id: Id, session: DbSession, principal: CurrentPrincipal
) -> list[RemovalRead]:
    """Who the chair removed or did not admit (host and co-hosts); they stay out."""
    rows = await removals.list_for(session=session, principal=principal, meeting_id=meeting_id)
    return [RemovalRead.model_validate(r) for r in rows]


@router.delete("/meetings/{meeting_id}/removals/{identity}", status_code=204)
async def allow_back(
    meeting_id: Id,
    identity: Annotated[str, Path(max_length=24)],
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
) -> Response:
    """Let a removed participant or a denied guest back in (the host only; audited)."""
    await removals.allow_back(
        session=session, principal=principal, actor=actor, meeting_id=meeting_id, identity=identity
    )
    return Response(status_code=204)
