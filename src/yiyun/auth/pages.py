"""Sign-in pages: password, second factor, TOTP enrolment, recovery codes, sign-out, and
the staff page's button that lifts a sign-in lockout."""

from __future__ import annotations

import secrets
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from yiyun import i18n
from yiyun.auth import service
from yiyun.auth.models import AuthSession
from yiyun.core.errors import YiyunError
from yiyun.org.models import User
from yiyun.web import messages
from yiyun.web.deps import (
    SESSION_COOKIE,
    AppSettings,
    CurrentActor,
    CurrentCaller,
    CurrentPrincipal,
    DbSession,
    client_ip,
)
from yiyun.web.pagekit import see_other
from yiyun.web.templating import locale_of, render

router = APIRouter()


def _safe_next(value: str | None) -> str:
    """Only same-site paths, never `//host` or absolute URLs (open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    parts = urlsplit(value)
    return "/" if parts.scheme or parts.netloc else value


async def _pending(request: Request, session: DbSession) -> tuple[AuthSession, User] | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        auth, user = await service.authenticate(
            session=session, token=token, kind=service.COOKIE, require_mfa=False
        )
    except YiyunError:
        return None
    request.state.csrf_token = auth.csrf_token
    return auth, user


def _said(request: Request, exc: YiyunError) -> str:
    """The refusal as the error pages word it (one sentence per code, in the user's language)."""
    return messages.domain_message(locale_of(request), exc.code, exc.message, exc.details)


def _check_csrf(auth: AuthSession, sent: str) -> bool:
    return bool(sent) and secrets.compare_digest(sent, auth.csrf_token)


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, next: str | None = None) -> Response:
    return render(request, "auth/login.html", {"next": _safe_next(next)})


@router.post("/login")
async def login(
    request: Request,
    session: DbSession,
    settings: AppSettings,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    locale = locale_of(request)
    try:
        issued = await service.login_password(
            session=session,
            cfg=settings.security,
            username=username,
            password=password,
            attempt=service.Attempt(request.app.state.limiter, client_ip(request)),
        )
    except YiyunError as exc:
        if exc.keep_changes:
            await session.commit()
        message = messages.domain_message(locale, exc.code, exc.message, exc.details)
        if exc.details.get("retry_after_minutes"):
            message += " " + i18n.gettext(locale, "Try again in %(n)s minutes.") % {
                "n": exc.details["retry_after_minutes"]
            }
        return render(
            request,
            "auth/login.html",
            {"error": message, "username": username, "next": _safe_next(next)},
            status_code=exc.status,
        )
    target = "/2fa" if issued.user.totp_enrolled_at else "/2fa/enrol"
    response = see_other(f"{target}?next={_safe_next(next)}")
    response.set_cookie(
        SESSION_COOKIE,
        issued.token,
        httponly=True,
        samesite="lax",
        secure=settings.security.cookie_secure,
        max_age=int(settings.security.session_hours * 3600),
        path="/",
    )
    return response


@router.get("/2fa", response_class=HTMLResponse)
async def mfa_form(request: Request, session: DbSession, next: str | None = None) -> Response:
    if await _pending(request, session) is None:
        return see_other("/login")
    return render(request, "auth/mfa.html", {"next": _safe_next(next)})


@router.post("/2fa")
async def mfa(
    request: Request,
    session: DbSession,
    settings: AppSettings,
    code: Annotated[str, Form(max_length=16)],
    csrf_token: Annotated[str, Form(max_length=64)] = "",
    next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    pending = await _pending(request, session)
    if pending is None:
        return see_other("/login")
    auth, user = pending
    if not _check_csrf(auth, csrf_token):
        return see_other("/login")
    try:
        await service.verify_second_factor(
            session=session,
            cfg=settings.security,
            auth=auth,
            user=user,
            code=code,
            attempt=service.Attempt(request.app.state.limiter, client_ip(request)),
        )
    except YiyunError as exc:
        if exc.keep_changes:
            await session.commit()
        return render(
            request,
            "auth/mfa.html",
            {"error": _said(request, exc), "next": _safe_next(next)},
            status_code=exc.status,
        )
    return see_other(_safe_next(next))


@router.get("/2fa/enrol", response_class=HTMLResponse)
async def enrol_form(request: Request, session: DbSession, settings: AppSettings) -> Response:
    pending = await _pending(request, session)
    if pending is None:
        return see_other("/login")
    _auth, user = pending
    if user.totp_enrolled_at is not None:
        return see_other("/2fa")
    enrolment = await service.begin_enrolment(session=session, cfg=settings.security, user=user)
    return render(
        request, "auth/enrol.html", {"qr_svg": enrolment.qr_svg, "secret": enrolment.secret}
    )


@router.post("/2fa/enrol")
async def enrol(
    request: Request,
    session: DbSession,
    settings: AppSettings,
    code: Annotated[str, Form(max_length=16)],
    csrf_token: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    pending = await _pending(request, session)
    if pending is None:
        return see_other("/login")
    auth, user = pending
    if not _check_csrf(auth, csrf_token):
        return see_other("/login")
    try:
        codes = await service.confirm_enrolment(
            session=session,
            cfg=settings.security,
            auth=auth,
            user=user,
            code=code,
            ip=client_ip(request),
        )
    except YiyunError as exc:
        enrolment = await service.begin_enrolment(session=session, cfg=settings.security, user=user)
        return render(
            request,
            "auth/enrol.html",
            {
                "qr_svg": enrolment.qr_svg,
                "secret": enrolment.secret,
                "error": _said(request, exc),
            },
            status_code=exc.status,
        )
    return render(request, "auth/recovery.html", {"codes": codes, "next": "/"})


@router.post("/logout")
async def logout(caller: CurrentCaller, session: DbSession, actor: CurrentActor) -> Response:
    await service.logout(session=session, auth=caller.auth, actor=actor)
    response: RedirectResponse = see_other("/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/staff/{user_id}/unlock")
async def unlock(
    user_id: Annotated[int, Path(gt=0, le=2**31 - 1)],
    request: Request,
    session: DbSession,
    settings: AppSettings,
    principal: CurrentPrincipal,
    actor: CurrentActor,
) -> Response:
    """The staff page's "Lift sign-in lockout" button."""
    await service.unlock(
        session=session,
        limiter=request.app.state.limiter,
        cfg=settings.security,
        principal=principal,
        actor=actor,
        user_id=user_id,
    )
    return see_other(f"/staff/{user_id}?done=unlocked")
