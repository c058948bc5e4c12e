"""Operations' view of call quality: every recent call, its worst connection first."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from yiyun.auth.policy import Action, require
from yiyun.meetings import quality
from yiyun.web.deps import CurrentPrincipal, DbSession
from yiyun.web.pagekit import page

router = APIRouter()


@router.get("/calls/quality", response_class=HTMLResponse)
async def calls_quality(
    request: Request, session: DbSession, principal: CurrentPrincipal
) -> Response:
    require(principal, Action.VIEW_CALL_QUALITY)
    calls = await quality.recent_calls(session)
    return page(request, principal, "meetings/quality.html", {"calls": calls, "band": quality.band})
