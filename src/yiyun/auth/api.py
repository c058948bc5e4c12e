"""Identity JSON API: obtain a token with password + TOTP, who am I, log out, and an
administrator lifting a sign-in lockout."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from yiyun.audit.service import Actor
from yiyun.auth import service
from yiyun.auth.principal import Principal
from yiyun.core.errors import PermissionDenied
from yiyun.org.enums import Role
from yiyun.web.deps import (
    AppSettings,
    CurrentActor,
    CurrentCaller,
    CurrentPrincipal,
    DbSession,
    client_ip,
)

router = APIRouter()


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)
    code: str = Field(min_length=6, max_length=16, description="TOTP or recovery code")
    name: str = Field(default="api", max_length=100)


class TokenRead(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_at: datetime


class Me(BaseModel):
    id: int
    username: str
    display_name: str
    institution_id: int
    roles: list[Role]


@router.post("/auth/token", response_model=TokenRead)
async def create_token(
    data: TokenRequest, request: Request, session: DbSession, settings: AppSettings
) -> TokenRead:
    """Exchange username, password and a second-factor code for a bearer token."""
    cfg = settings.security
    attempt = service.Attempt(request.app.state.limiter, client_ip(request))
    issued = await service.login_password(
        session=session, cfg=cfg, username=data.username, password=data.password, attempt=attempt
    )
    if issued.user.totp_enrolled_at is None:
        issued.session.revoked_at = issued.session.created_at
        raise PermissionDenied(
            "set up two-factor authentication in the browser first",
            code="auth.not_enrolled",
            keep_changes=True,
        )
    await service.verify_second_factor(
        session=session,
        cfg=cfg,
        auth=issued.session,
        user=issued.user,
        code=data.code,
        attempt=attempt,
    )
    issued.session.revoked_at = issued.session.created_at  # the cookie-kind step is spent
    token = await service.create_api_token(
        session=session,
        username=issued.user.username,
        name=data.name,
        days=1,
        actor=Actor(
            issued.user.id, issued.user.username, issued.user.institution_id, ip=client_ip(request)
        ),
    )
    return TokenRead(access_token=token.token, expires_at=token.session.expires_at)


@router.get("/auth/me", response_model=Me)
async def me(caller: CurrentCaller) -> Me:
    p: Principal = caller.principal
    return Me(
        id=p.user_id,
        username=p.username,
        display_name=p.display_name,
        institution_id=p.institution_id,
        roles=sorted(p.roles),
    )


@router.post("/auth/logout", status_code=204)
async def logout(caller: CurrentCaller, session: DbSession, actor: CurrentActor) -> None:
    """End the current session or revoke the bearer token used for this call."""
    await service.logout(session=session, auth=caller.auth, actor=actor)


class Unlocked(BaseModel):
    user_id: int
    was_locked: bool


@router.post("/staff/{user_id}/unlock", response_model=Unlocked, tags=["consortium"])
async def unlock(
    user_id: Annotated[int, Path(gt=0, le=2**31 - 1)],
    request: Request,
    session: DbSession,
    settings: AppSettings,
    principal: CurrentPrincipal,
    actor: CurrentActor,
) -> Unlocked:
    """Lift a sign-in lockout on a staff account (its administrators; audited)."""
    was_locked = await service.unlock(
        session=session,
        limiter=request.app.state.limiter,
        cfg=settings.security,
        principal=principal,
        actor=actor,
        user_id=user_id,
    )
    return Unlocked(user_id=user_id, was_locked=was_locked)
