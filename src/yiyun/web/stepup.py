"""A TOTP code typed into a form or sent with a request, checked by the one step-up
(`yiyun.auth.step_up.verify`): the session is stamped, a code is good once."""

from __future__ import annotations

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.auth import service as auth_service
from yiyun.auth import step_up
from yiyun.records.service import Ctx
from yiyun.web.deps import client_ip


async def confirm(request: Request, session: AsyncSession, ctx: Ctx, code: str | None) -> None:
    """Verify `code` (if any) before an act that needs recent strong authentication."""
    code = (code or "").strip()
    if not code:
        return
    await step_up.verify(
        session=session,
        cfg=request.app.state.settings.security,
        principal=ctx.principal,
        actor=ctx.actor,
        code=code,
        attempt=auth_service.Attempt(request.app.state.limiter, client_ip(request)),
    )
