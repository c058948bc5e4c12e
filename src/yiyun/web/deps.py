"""Request dependencies: the unit of work, the caller, CSRF, the audit actor.

Every dependency is `async def`, even one that only reads `request.app.state`: FastAPI
runs a plain `def` dependency on its thread pool, a thread hop per dependency and
request (eight on an audited patient read before).
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from yiyun.audit import service as audit
from yiyun.audit.service import Actor
from yiyun.auth.live import LiveSession, LiveSessions
from yiyun.auth.principal import Principal
from yiyun.core.crypto import FieldCipher
from yiyun.core.errors import NotAuthenticated, PermissionDenied, YiyunError
from yiyun.core.logging import user_id_var
from yiyun.core.storage import BlobStore
from yiyun.records.service import Ctx
from yiyun.resident import service as resident_service
from yiyun.resident.service import ResidentPrincipal
from yiyun.settings import Settings
from yiyun.web.security import SESSION_COOKIE as SESSION_COOKIE
from yiyun.web.security import forwarded_client

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_db(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request: commit on success, roll back on error.

    A domain error marked `keep_changes` (a failed login count, a denied-access audit
    entry) commits what was recorded about the failure before the error propagates.
    """
    factory: async_sessionmaker[AsyncSession] = request.app.state.sessions
    async with factory() as session:
        try:
            yield session
        except YiyunError as exc:
            if exc.keep_changes:
                await session.commit()
            else:
                await session.rollback()
            raise
        except BaseException:
            await session.rollback()
            raise
        else:
            if audit.only_audit_pending(session):  # a read: its audit entries commit grouped
                entries = audit.take_pending(session)
                if entries:
                    await session.rollback()
                    writer: audit.GroupWriter = request.app.state.audit_writer
                    await writer.append(entries)
                # else nothing to keep: closing the session ends the read transaction
            else:
                await session.commit()


# scope="function": commit before the response is sent, so a redirect never races it.
DbSession = Annotated[AsyncSession, Depends(get_db, scope="function")]
AppSettings = Annotated[Settings, Depends(get_settings)]


def client_ip(request: Request) -> str | None:
    """The client's address: the peer's, or what a trusted reverse proxy forwarded."""
    settings: Settings = request.app.state.settings
    return forwarded_client(
        request.client.host if request.client else None,
        request.headers.get("x-forwarded-for"),
        settings.security.trusted_proxies,
    )


@dataclass(frozen=True)
class Caller:
    principal: Principal
    auth: LiveSession
    via_cookie: bool


def _bearer(authorization: str | None) -> str | None:
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip() or None
    return None


async def get_caller(
    request: Request,
    session: DbSession,
    authorization: Annotated[str | None, Header()] = None,
    x_csrf_token: Annotated[str | None, Header()] = None,
) -> Caller:
    """Authenticate by bearer token (API) or session cookie (pages, with CSRF)."""
    token = _bearer(authorization)
    via_cookie = token is None
    if token is None:
        token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise NotAuthenticated("sign in required", code="auth.required")
    live: LiveSessions = request.app.state.live
    auth = await live.resolve(session, token)
    if via_cookie and request.method not in SAFE_METHODS:
        sent = x_csrf_token
        if sent is None:
            form_type = request.headers.get("content-type", "")
            if form_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
                form = await request.form()
                value = form.get("csrf_token")
                sent = value if isinstance(value, str) else None
        if not sent or not secrets.compare_digest(sent, auth.csrf_token):
            raise PermissionDenied("missing or wrong CSRF token", code="auth.csrf")
    principal = auth.principal
    request.state.principal = principal
    request.state.csrf_token = auth.csrf_token
    user_id_var.set(auth.user_id)
    return Caller(principal=principal, auth=auth, via_cookie=via_cookie)


CurrentCaller = Annotated[Caller, Depends(get_caller)]


async def get_principal(caller: CurrentCaller) -> Principal:
    return caller.principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


async def get_actor(request: Request, principal: CurrentPrincipal) -> Actor:
    return principal.actor(
        ip=client_ip(request), request_id=getattr(request.state, "request_id", None)
    )


CurrentActor = Annotated[Actor, Depends(get_actor)]


def get_cipher(request: Request) -> FieldCipher:
    cipher: FieldCipher = request.app.state.cipher
    return cipher


async def get_ctx(request: Request, principal: CurrentPrincipal, actor: CurrentActor) -> Ctx:
    return Ctx(principal=principal, actor=actor, cipher=get_cipher(request))


PatientCtx = Annotated[Ctx, Depends(get_ctx)]


async def get_store(request: Request) -> BlobStore:
    store: BlobStore = request.app.state.store
    return store


Store = Annotated[BlobStore, Depends(get_store)]


# --- residents (the public portal): their own cookie, never a staff session ----------------

RESIDENT_COOKIE = "yiyun_resident"
RESIDENT_PATH = "/resident"


async def get_resident(request: Request, session: DbSession) -> ResidentPrincipal:
    """The signed-in resident (cookie `yiyun_resident`, sent only to /resident pages);
    forms carry the session's CSRF token. A staff session is not a resident's."""
    token = request.cookies.get(RESIDENT_COOKIE)
    if not token:
        raise NotAuthenticated("sign in required", code="resident.required")
    principal = await resident_service.authenticate(session=session, token=token)
    if request.method not in SAFE_METHODS:
        sent = request.headers.get("x-csrf-token")
        if sent is None:
            form_type = request.headers.get("content-type", "")
            if form_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
                value = (await request.form()).get("csrf_token")
                sent = value if isinstance(value, str) else None
        if not sent or not secrets.compare_digest(sent, principal.csrf_token):
            raise PermissionDenied("missing or wrong CSRF token", code="auth.csrf")
    request.state.resident = principal
    request.state.csrf_token = principal.csrf_token
    return principal


CurrentResident = Annotated[ResidentPrincipal, Depends(get_resident)]


async def resident_actor(request: Request, resident: CurrentResident) -> Actor:
    return resident.actor(
        ip=client_ip(request), request_id=getattr(request.state, "request_id", None)
    )


ResidentActor = Annotated[Actor, Depends(resident_actor)]


async def resident_keys(request: Request) -> resident_service.Keys:
    settings: Settings = request.app.state.settings
    key = settings.security.secret_key
    return resident_service.Keys(
        cipher=get_cipher(request), secret_key=key.get_secret_value() if key else ""
    )


ResidentKeys = Annotated[resident_service.Keys, Depends(resident_keys)]
