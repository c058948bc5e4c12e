"""Pages of real-time documents: a meeting's whiteboard on its own page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from yiyun.collab.meeting_docs import board_context
from yiyun.meetings import service as meetings_service
from yiyun.web.deps import CurrentPrincipal, DbSession
from yiyun.web.pagekit import page
from yiyun.web.params import Id

router = APIRouter()


@router.get("/meetings/{meeting_id}/board", response_class=HTMLResponse)
async def board(
    request: Request, meeting_id: Id, session: DbSession, principal: CurrentPrincipal
) -> Response:
    meeting = await meetings_service.get(
        session=session, principal=principal, meeting_id=meeting_id
    )
    m = await meetings_service.read(session, meeting)
    ctx = await board_context(session, principal, meeting)
    return page(request, principal, "collab/board.html", {"m": m, "board": ctx})
