"""Who calls the FHIR API: a staff member (session or bearer token, as everywhere) or a
partner system (a SMART Backend Services access token).

For a partner, the token's scopes are checked here for every route, from the resource
type in the path and the interaction (read, search, create, update), through
`policy.require_scope`; what lies inside the scope (its institution's patients) is the
policy's, exactly as for staff. Every audited access names the partner as actor.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.auth import policy
from yiyun.core.logging import user_id_var
from yiyun.partners import tokens as partner_tokens
from yiyun.records.service import Ctx
from yiyun.settings import Settings
from yiyun.web.deps import DbSession, client_ip, get_caller, get_cipher

PREFIX = "/fhir/r4/"


def interaction(method: str, path: str) -> tuple[str, str]:
    """(resource type, c|r|u|s) of a FHIR request path."""
    parts = path.removeprefix(PREFIX).strip("/").split("/")
    rtype = parts[0]
    if method == "POST":
        return rtype, "s" if parts[-1] == "_search" else "c"
    if method in ("PUT", "PATCH"):
        return rtype, "u"
    return rtype, "r" if len(parts) > 1 else "s"


async def _partner_ctx(request: Request, session: AsyncSession, token: str) -> Ctx:
    settings: Settings = request.app.state.settings
    secret = settings.security.secret_key
    principal = await partner_tokens.authenticate(
        session=session, token=token, secret_key=secret.get_secret_value() if secret else ""
    )
    rtype, what = interaction(request.method, request.url.path)
    policy.require_scope(principal, rtype, what)
    request.state.principal = principal
    user_id_var.set(None)
    actor = principal.actor(
        ip=client_ip(request), request_id=getattr(request.state, "request_id", None)
    )
    return Ctx(principal=principal, actor=actor, cipher=get_cipher(request))


async def get_fhir_ctx(
    request: Request,
    session: DbSession,
    authorization: Annotated[str | None, Header()] = None,
    x_csrf_token: Annotated[str | None, Header()] = None,
) -> Ctx:
    token = (
        (authorization or "")[7:].strip()
        if (authorization or "").lower().startswith("bearer ")
        else ""
    )
    if token and partner_tokens.looks_like_access_token(token):
        return await _partner_ctx(request, session, token)
    caller = await get_caller(request, session, authorization, x_csrf_token)
    actor = caller.principal.actor(
        ip=client_ip(request), request_id=getattr(request.state, "request_id", None)
    )
    return Ctx(principal=caller.principal, actor=actor, cipher=get_cipher(request))


FhirCtx = Annotated[Ctx, Depends(get_fhir_ctx)]
