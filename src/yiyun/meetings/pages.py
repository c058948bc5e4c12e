"""Meeting pages: my meetings, start one, the call page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from yiyun.meetings import service
from yiyun.meetings.schemas import MeetingCreate
from yiyun.web.deps import CurrentActor, CurrentPrincipal, DbSession
from yiyun.web.pagekit import invalid, page, see_other

router = APIRouter()
Id = Annotated[int, Path(gt=0, le=2**31 - 1)]


@router.get("/meetings", response_class=HTMLResponse)
async def meetings(request: Request, session: DbSession, principal: CurrentPrincipal) -> Response:
    rows = await service.list_mine(session=session, principal=principal)
    return page(
        request,
        principal,
        "meetings/list.html",
        {"meetings": [await service.read(session, m) for m in rows]},
    )


@router.post("/meetings")
async def start(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
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
    meeting = await service.create_instant(
        session=session, principal=principal, data=data, actor=actor, bus=request.app.state.bus
    )
    return see_other(f"/meetings/{meeting.id}")


@router.get("/meetings/{meeting_id}", response_class=HTMLResponse)
async def call(
    request: Request, meeting_id: Id, session: DbSession, principal: CurrentPrincipal
) -> Response:
    meeting = await service.get(session=session, principal=principal, meeting_id=meeting_id)
    return page(
        request, principal, "meetings/call.html", {"m": await service.read(session, meeting)}
    )
