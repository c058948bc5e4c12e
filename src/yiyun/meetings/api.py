"""Meetings JSON API: instant meetings, invitations, join tokens for `/ws/signal`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request

from yiyun.auth import room_tokens
from yiyun.media import turn
from yiyun.media.hub import SignalHub
from yiyun.meetings import live, service
from yiyun.meetings.schemas import (
    InviteRequest,
    JoinToken,
    LiveParticipant,
    MeetingCreate,
    MeetingRead,
    RingResult,
    TokenRequest,
)
from yiyun.settings import secret
from yiyun.web.deps import AppSettings, CurrentActor, CurrentPrincipal, DbSession

router = APIRouter()
Id = Annotated[int, Path(gt=0, le=2**31 - 1)]


@router.post("/meetings", response_model=MeetingRead, status_code=201)
async def create_meeting(
    data: MeetingCreate,
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
) -> MeetingRead:
    """Start an instant meeting and invite staff by username."""
    meeting = await service.create_instant(
        session=session, principal=principal, data=data, actor=actor, bus=request.app.state.bus
    )
    return await service.read(session, meeting)


@router.get("/meetings", response_model=list[MeetingRead])
async def list_meetings(session: DbSession, principal: CurrentPrincipal) -> list[MeetingRead]:
    rows = await service.list_mine(session=session, principal=principal)
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
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
) -> MeetingRead:
    meeting = await service.invite(
        session=session,
        principal=principal,
        meeting_id=meeting_id,
        usernames=data.usernames,
        actor=actor,
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
    meeting_id: Id, session: DbSession, principal: CurrentPrincipal, actor: CurrentActor
) -> MeetingRead:
    meeting = await service.end(
        session=session, principal=principal, meeting_id=meeting_id, actor=actor
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
        principal=principal,
        meeting_id=meeting_id,
        secret_key=secret(settings.security.secret_key),
        actor=actor,
        purpose=data.purpose if data else "call",
    )
    return JoinToken(
        token=token,
        room_id=meeting.room_id,
        expires_in=room_tokens.DEFAULT_TTL_SECONDS,
        signal_url="/ws/signal",
        ice_servers=turn.ice_servers_for(settings.media, principal.user_id),
    )
