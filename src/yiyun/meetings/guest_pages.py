"""Pages for guests from a one-time link (no account): code, device check, the call.

    GET  /join/{link}              the meeting's title and the code form
    POST /join/{link}              check the code (and passcode); bind the link to this browser
    GET  /join/{link}/check        the pre-call self-test, then "Join"
    GET  /join/{link}/call         the call page (`meetings/call.html`, guest layout)
    POST /join/{link}/token        a room token for `/ws/signal` (cookie + X-CSRF-Token)
    POST /join/{link}/files        share a file in the chat
    GET  /join/{link}/files/{id}   download a file shared in the meeting
    GET  /join/{link}/left         "you left the meeting"

Refusals are pages in the guest layout, never a 500: unknown link 404; withdrawn,
expired, cancelled or ended 410, and so is an invitation the host denied or removed
(until the host allows the guest back); used in another browser 409; wrong code 422
(the form again); blocked or too many submissions from one address 429. Files need
admission (403 before). The form before the code names neither meeting nor guest.
The link token is part of the path: the access log records route templates, never
paths, so it is not logged.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Header, Path, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from yiyun.audit.service import Actor
from yiyun.auth import room_tokens
from yiyun.core.clock import as_utc, district, now
from yiyun.core.errors import PermissionDenied, YiyunError
from yiyun.media import turn
from yiyun.meetings import chat, guest_access, selftest, workflow
from yiyun.meetings.live_api import file_response
from yiyun.meetings.models import Meeting, MeetingGuest
from yiyun.meetings.schemas import FileRead, JoinToken, TokenRequest
from yiyun.settings import Settings, secret
from yiyun.web.deps import AppSettings, DbSession, Store, client_ip
from yiyun.web.pagekit import invalid, see_other
from yiyun.web.templating import render

router = APIRouter()
Link = Annotated[str, Path(min_length=1, max_length=128)]
GUEST_BASE = "guest_base.html"
NO_STORE = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex"}


def _key(settings: Settings) -> str:
    return secret(settings.security.secret_key)


def _actor(request: Request, guest: MeetingGuest, meeting: Meeting) -> Actor:
    return guest_access.guest_actor(
        guest,
        meeting,
        ip=client_ip(request),
        request_id=getattr(request.state, "request_id", None),
    )


def _page(
    request: Request, template: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    response = render(
        request, template, {"base_template": GUEST_BASE, **context}, status_code=status_code
    )
    response.headers.update(NO_STORE)
    return response


def _refusal(request: Request, error: YiyunError) -> HTMLResponse:
    """A refused link as a page a patient understands."""
    return _page(
        request,
        "meetings/guest_message.html",
        {"heading": TITLES.get(error.code, "This link cannot be used"), "message": error.message},
        status_code=error.status,
    )


TITLES = {
    "guest.unknown_link": "This link is not valid",
    "guest.revoked": "This invitation was withdrawn",
    "guest.expired": "This invitation has expired",
    "guest.cancelled": "This meeting was cancelled",
    "guest.ended": "This meeting has ended",
    "guest.link_used": "This link was already used",
    "guest.blocked": "This invitation is blocked",
    "guest.denied": "You were not admitted",
    "guest.removed": "You were removed from this meeting",
}
HINTS = {
    "guest.link_used": "For your privacy the link works on one device only. Ask the person "
    "who invited you for a new invitation.",
    "guest.blocked": "Too many wrong codes were entered. Ask the person who invited you for "
    "a new invitation.",
}


def _form(
    request: Request,
    guest: MeetingGuest,
    meeting: Meeting,
    *,
    error: str | None = None,
    attempts_left: int | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    # Before the code nothing about the meeting or the person is shown: the link alone
    # (forwarded, overheard, in a shared phone's history) must not reveal them.
    return _page(
        request,
        "meetings/guest_join.html",
        {
            "needs_passcode": meeting.passcode_hash is not None,
            "error": error,
            "attempts_left": attempts_left,
        },
        status_code=status_code,
    )


@router.get("/join/{link}", response_class=HTMLResponse)
async def join_form(
    request: Request, link: Link, session: DbSession, settings: AppSettings
) -> Response:
    try:
        guest, meeting = await guest_access.find(session, link)
        guest_access.check_usable(guest, meeting)
        if guest_access.bound_here(guest, _key(settings), request.cookies.get(guest_access.COOKIE)):
            return see_other(f"/join/{link}/check")
        guest_access.check_not_used_elsewhere(
            guest, _key(settings), request.cookies.get(guest_access.COOKIE)
        )
        guest_access.check_not_blocked(guest, settings.meetings.guest_max_attempts)
    except YiyunError as exc:
        return _refusal(request, _hinted(exc))
    await guest_access.record(
        session, _actor(request, guest, meeting), meeting, "meeting.guest_open"
    )
    return _form(request, guest, meeting)


def _hinted(exc: YiyunError) -> YiyunError:
    if exc.code in HINTS:
        exc.message = HINTS[exc.code]
    return exc


@router.post("/join/{link}", response_class=HTMLResponse)
async def join(
    request: Request,
    link: Link,
    session: DbSession,
    settings: AppSettings,
    code: Annotated[str, Form(max_length=32)] = "",
    passcode: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """Check the code; on success bind this browser and go on to the device check."""
    key, config = _key(settings), settings.meetings
    try:
        await guest_access.count_submission(
            limiter=request.app.state.limiter, secret_key=key, ip=client_ip(request), config=config
        )
        verified = await guest_access.verify(
            session=session,
            link=link,
            code=code,
            passcode=passcode,
            cookie=request.cookies.get(guest_access.COOKIE),
            secret_key=key,
            config=config,
            ip=client_ip(request),
            request_id=getattr(request.state, "request_id", None),
        )
    except YiyunError as exc:
        if exc.code in ("guest.wrong_code", "guest.rate_limited"):
            guest, meeting = await guest_access.find(session, link)
            return _form(
                request,
                guest,
                meeting,
                error=exc.message,
                attempts_left=exc.details.get("attempts_left"),
                status_code=exc.status,
            )
        return _refusal(request, _hinted(exc))
    response = see_other(f"/join/{link}/check")
    lifetime = as_utc(verified.guest.expires_at) - now()
    response.set_cookie(
        guest_access.COOKIE,
        guest_access.cookie_value(key, verified.guest.id, verified.nonce),
        max_age=max(60, int(lifetime.total_seconds())),
        path=f"/join/{link}",  # one cookie per link: a phone may hold several invitations
        httponly=True,
        samesite="lax",
        secure=settings.security.cookie_secure or request.url.scheme == "https",
    )
    return response


async def _guest(
    request: Request, link: str, session: DbSession, settings: AppSettings
) -> tuple[MeetingGuest, Meeting, str]:
    return await guest_access.authenticate(
        session=session,
        link=link,
        cookie=request.cookies.get(guest_access.COOKIE),
        secret_key=_key(settings),
    )


def _guest_context(settings: AppSettings, guest: MeetingGuest, nonce: str) -> dict[str, Any]:
    return {"csrf_token": guest_access.csrf_token(_key(settings), guest.id, nonce)}


@router.get("/join/{link}/check", response_class=HTMLResponse)
async def check(
    request: Request, link: Link, session: DbSession, settings: AppSettings
) -> Response:
    """The device and network check, in the guest layout; "Join" leads to the call."""
    try:
        guest, meeting, nonce = await _guest(request, link, session, settings)
    except PermissionDenied:
        return see_other(f"/join/{link}")
    except YiyunError as exc:
        return _refusal(request, _hinted(exc))
    context = selftest.context(next_url=f"/join/{link}/call", base_template=GUEST_BASE)
    context |= _guest_context(settings, guest, nonce) | {"meeting_title": meeting.title}
    return _page(request, "meetings/selftest.html", context)


@router.get("/join/{link}/call", response_class=HTMLResponse)
async def call(request: Request, link: Link, session: DbSession, settings: AppSettings) -> Response:
    try:
        guest, meeting, nonce = await _guest(request, link, session, settings)
    except PermissionDenied:
        return see_other(f"/join/{link}")
    except YiyunError as exc:
        return _refusal(request, _hinted(exc))
    opens = workflow.join_opens_at(meeting, settings.meetings.join_early_minutes)
    if meeting.state == workflow.SCHEDULED and now() < opens:
        return _page(
            request,
            "meetings/guest_message.html",
            {
                "heading": "The meeting has not started yet",
                "message": "You can join from %(time)s. This page checks again every minute.",
                "message_args": {"time": district(opens).strftime("%Y-%m-%d %H:%M")},
                "refresh_seconds": 60,
                "action_url": f"/join/{link}/check",
                "action_label": "Check camera and microphone",
            }
            | _guest_context(settings, guest, nonce),
        )
    base = f"/join/{link}"
    return _page(
        request,
        "meetings/call.html",
        {
            "m": {"id": meeting.id, "title": meeting.title, "state": meeting.state},
            "call": {
                "token_url": f"{base}/token",
                "upload_url": f"{base}/files",
                "files_url": f"{base}/files/",
                "leave_url": f"{base}/left",
                "is_guest": True,
                "role": "guest",
            },
        }
        | _guest_context(settings, guest, nonce),
    )


def _check_csrf(settings: AppSettings, guest: MeetingGuest, nonce: str, sent: str | None) -> None:
    expected = guest_access.csrf_token(_key(settings), guest.id, nonce)
    if not sent or not hmac.compare_digest(sent, expected):
        raise PermissionDenied("missing or wrong CSRF token", code="auth.csrf")


async def _token_request(request: Request) -> TokenRequest:
    """The optional JSON body, read only once the caller is known to be the guest."""
    raw = await request.body()
    if not raw.strip():
        return TokenRequest()
    try:
        return TokenRequest.model_validate_json(raw)
    except ValidationError as exc:
        raise invalid(exc) from None


@router.post("/join/{link}/token", response_model=JoinToken)
async def token(
    request: Request,
    link: Link,
    session: DbSession,
    settings: AppSettings,
    x_csrf_token: Annotated[str | None, Header()] = None,
) -> JoinToken:
    """A room token for this guest (cookie and X-CSRF-Token required), as the staff
    endpoint answers; `{"purpose": "screen"}` for a screen-sharing connection."""
    guest, meeting, nonce = await _guest(request, link, session, settings)
    _check_csrf(settings, guest, nonce, x_csrf_token)
    purpose = (await _token_request(request)).purpose
    issued = await guest_access.join_token(
        session=session,
        bus=request.app.state.bus,
        guest=guest,
        meeting=meeting,
        secret_key=_key(settings),
        purpose=purpose,
        actor=_actor(request, guest, meeting),
        config=settings.meetings,
    )
    return JoinToken(
        token=issued,
        room_id=meeting.room_id,
        expires_in=room_tokens.DEFAULT_TTL_SECONDS,
        signal_url="/ws/signal",
        ice_servers=turn.ice_servers_for(settings.media, f"guest-{guest.id}"),
    )


@router.post("/join/{link}/files", response_model=FileRead, status_code=201)
async def upload_file(
    request: Request,
    link: Link,
    session: DbSession,
    settings: AppSettings,
    store: Store,
    file: Annotated[UploadFile, File()],
    x_csrf_token: Annotated[str | None, Header()] = None,
) -> FileRead:
    """Share a file in the meeting's chat (as the staff endpoint; cookie and CSRF token;
    only once admitted)."""
    guest, meeting, nonce = await _guest(request, link, session, settings)
    _check_csrf(settings, guest, nonce, x_csrf_token)
    guest_access.require_admitted(guest)
    row = await chat.share_file(
        session=session,
        store=store,
        meeting=meeting,
        sender=f"g{guest.id}",
        filename=file.filename or "upload",
        data=await file.read(chat.MAX_FILE_BYTES + 1),
        actor=_actor(request, guest, meeting),
    )
    return FileRead.model_validate(chat.file_payload(row))


@router.get("/join/{link}/files/{file_id}")
async def download_file(
    request: Request,
    link: Link,
    file_id: Annotated[int, Path(gt=0, le=2**31 - 1)],
    session: DbSession,
    settings: AppSettings,
    store: Store,
) -> Response:
    guest, meeting, _nonce = await _guest(request, link, session, settings)
    guest_access.require_admitted(guest)
    row, data = await chat.load_file(
        session=session, store=store, meeting_id=meeting.id, file_id=file_id
    )
    await guest_access.record(
        session, _actor(request, guest, meeting), meeting, "meeting.file.download", file_id=row.id
    )
    return file_response(row, data)


@router.get("/join/{link}/left", response_class=HTMLResponse)
async def left(request: Request, link: Link, session: DbSession, settings: AppSettings) -> Response:
    """A friendly goodbye; a way back in while the invitation still works."""
    context: dict[str, Any] = {
        "heading": "You left the meeting",
        "message": "Thank you. You can close this page.",
    }
    try:
        guest, meeting, nonce = await _guest(request, link, session, settings)
    except YiyunError:
        return _page(request, "meetings/guest_message.html", context)
    await guest_access.record(
        session, _actor(request, guest, meeting), meeting, "meeting.guest_left"
    )
    if meeting.state in workflow.LIVE:
        context |= {"action_url": f"/join/{link}/call", "action_label": "Join again"}
    return _page(
        request, "meetings/guest_message.html", context | _guest_context(settings, guest, nonce)
    )
