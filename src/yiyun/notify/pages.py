"""The inbox page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from yiyun.notify import service
from yiyun.web.deps import CurrentPrincipal, DbSession
from yiyun.web.pagekit import page

router = APIRouter()


@router.get("/notifications", response_class=HTMLResponse)
async def notifications(
    request: Request, session: DbSession, principal: CurrentPrincipal
) -> Response:
    rows = await service.inbox(session=session, user_id=principal.user_id, limit=100)
    response = page(request, principal, "notify/inbox.html", {"items": rows})
    await service.mark_read(session=session, user_id=principal.user_id)
    return response
