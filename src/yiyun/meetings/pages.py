"""Meeting pages: my meetings, start one, the call page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from yiyun.collab import meeting_docs
from yiyun.meetings import agenda, schedule, schedule_pages, service
from yiyun.meetings.config import config_from
from yiyun.meetings.schemas import MeetingCreate
from yiyun.web.deps import CurrentPrincipal, DbSession, PatientCtx
from yiyun.web.pagekit import invalid, page, see_other
from yiyun.web.params import Id

router = APIRouter()


@router.get("/meetings", response_class=HTMLResponse)
async def meetings(request: Request, session: DbSession, principal: CurrentPrincipal) -> Response:
    upcoming = await schedule.listing(session=session, principal=principal, upcoming=True)
    past = await schedule.listing(session=session, principal=principal, upcoming=False)
    early = config_from(request.app.state.settings).join_early_minutes
    return page(
        request,
        principal,
        "meetings/list.html",
        {
            "upcoming": [await service.read(session, m) for m in upcoming],
            "join": {m.id: agenda.join_state(m, early_minutes=early) for m in upcoming},
            "past": [await service.read(session, m) for m in past],
            "schedule_form": schedule_pages.form_defaults(),
        },
    )


@router.post("/meetings")
async def start(
    request: Request,
    session: DbSession,
    ctx: PatientCtx,
    title: Annotated[str, Form(max_length=200)],
    invitees: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    names = [
        n.strip().lower()
        for n in invitees.replace("，", ",").replace(" ", ",").split(",")
        if n.strip()
    ]
    try:
        data = MeetingCreate(title=title, invitees=names)
    except ValidationError as exc:
        raise invalid(exc) from None
    meeting = await schedule.create(session=session, ctx=ctx, data=data, bus=request.app.state.bus)
    return see_other(f"/meetings/{meeting.id}")


@router.get("/meetings/{meeting_id}", response_class=HTMLResponse)
async def call(
    request: Request, meeting_id: Id, session: DbSession, principal: CurrentPrincipal
) -> Response:
    meeting = await service.get(session=session, principal=principal, meeting_id=meeting_id)
    m = await service.read(session, meeting)
    early = config_from(request.app.state.settings).join_early_minutes
    state = agenda.join_state(meeting, early_minutes=early)
    if not state.joinable:  # not yet open, or over: say so in words, no call to fail
        return page(
            request,
            principal,
            "meetings/not_open.html",
            {"m": m, "opens_at": state.opens_at, "early": early},
        )
    member = next((x for x in m.members if x.user_id == principal.user_id), None)
    role = (
        "host"
        if meeting.host_id == principal.user_id
        else (member.role if member else "participant")
    )
    api = f"/api/v1/meetings/{meeting.id}"
    call_context = {
        "token_url": f"{api}/token",
        "upload_url": f"{api}/files",
        "files_url": f"{api}/files/",
        "leave_url": "/meetings",
        "is_guest": False,
        "role": role,
        "board": await meeting_docs.board_context(session, principal, meeting),
        "annotate": {"ws": "/ws/docs/screen-annotation", "key": meeting.code},
        "board_url": f"/meetings/{meeting.id}/board",
        "engage": {"polls_url": f"{api}/polls", "questions_url": f"{api}/questions"},
    }
    return page(request, principal, "meetings/call.html", {"m": m, "call": call_context})
