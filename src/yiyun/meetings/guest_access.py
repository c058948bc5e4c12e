"""The guest's side of an invitation: open the link, pass the code, bind the browser,
get a room token. See `guests.py` for what is stored and why.

The browser binding is a signed cookie (`yiyun_guest`, one per link path): guest id + a
random nonce whose SHA-256 is stored in `browser_hash`. The guest's CSRF token is an HMAC
of the same pair, so nothing more is stored. A wrong code counts; at
`guest_max_attempts` the invitation is blocked. Code submissions are also counted per
network address. Errors carry `keep_changes` so a count and its audit entry are kept.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.audit import service as audit
from yiyun.audit.service import Actor
from yiyun.auth import passwords, room_tokens
from yiyun.core.bus import EventBus
from yiyun.core.clock import as_utc, now
from yiyun.core.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RateLimited,
    YiyunError,
)
from yiyun.core.ratelimit import Limiter, keyed
from yiyun.meetings import removals, workflow
from yiyun.meetings.config import MeetingSettings
from yiyun.meetings.guests import code_hash, sha256
from yiyun.meetings.models import Meeting, MeetingGuest

COOKIE = "yiyun_guest"


class Gone(YiyunError):
    """The invitation existed but cannot be used any more."""

    status = 410
    code = "guest.gone"


def _sign(secret_key: str, purpose: str, text: str) -> str:
    mac = hmac.new(secret_key.encode(), f"{purpose}:{text}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode("ascii").rstrip("=")


def cookie_value(secret_key: str, guest_id: int, nonce: str) -> str:
    body = f"{guest_id}.{nonce}"
    return f"{body}.{_sign(secret_key, 'yiyun-guest-cookie', body)}"


def parse_cookie(secret_key: str, value: str | None) -> tuple[int, str] | None:
    """(guest id, nonce) from a cookie this app signed; None for anything else."""
    parts = (value or "").split(".")
    if len(parts) != 3 or not parts[0].isdecimal() or len(parts[0]) > 10:
        return None
    expected = _sign(secret_key, "yiyun-guest-cookie", f"{parts[0]}.{parts[1]}")
    if not hmac.compare_digest(expected, parts[2]):
        return None
    return int(parts[0]), parts[1]


def csrf_token(secret_key: str, guest_id: int, nonce: str) -> str:
    """The guest's CSRF token, derived from the browser binding (nothing stored)."""
    return _sign(secret_key, "yiyun-guest-csrf", f"{guest_id}.{nonce}")


def guest_actor(
    guest: MeetingGuest, meeting: Meeting, *, ip: str | None, request_id: str | None
) -> Actor:
    """A guest as the audit log sees them (never their link, code or phone)."""
    return Actor(
        user_id=None,
        username=f"guest:{guest.id}",
        institution_id=meeting.institution_id,
        ip=ip,
        request_id=request_id,
        extra={"guest_id": guest.id, "meeting_id": meeting.id},
    )


async def find(session: AsyncSession, link: str) -> tuple[MeetingGuest, Meeting]:
    """The invitation behind a link; an unknown link is not found."""
    guest = None
    if 16 <= len(link) <= 64:
        guest = await session.scalar(
            select(MeetingGuest).where(MeetingGuest.token_hash == sha256(link))
        )
    meeting = await session.get(Meeting, guest.meeting_id) if guest is not None else None
    if guest is None or meeting is None:
        raise NotFound("this link is not valid", code="guest.unknown_link")
    return guest, meeting


def check_usable(guest: MeetingGuest, meeting: Meeting, *, at: datetime | None = None) -> None:
    """Refuse an invitation that was revoked, has expired, or whose meeting is over."""
    if guest.revoked_at is not None:
        raise Gone("this invitation was withdrawn", code="guest.revoked")
    if meeting.state == workflow.CANCELLED:
        raise Gone("this meeting was cancelled", code="guest.cancelled")
    if meeting.state == workflow.ENDED:
        raise Gone("this meeting has ended", code="guest.ended")
    if as_utc(guest.expires_at) <= (at or now()):
        raise Gone("this invitation has expired", code="guest.expired")


def bound_here(guest: MeetingGuest, secret_key: str, cookie: str | None) -> str | None:
    """The nonce when this browser's cookie is the one the invitation is bound to."""
    parsed = parse_cookie(secret_key, cookie)
    if parsed is None or guest.browser_hash is None:
        return None
    guest_id, nonce = parsed
    if guest_id != guest.id or not hmac.compare_digest(sha256(nonce), guest.browser_hash):
        return None
    return nonce


def check_not_used_elsewhere(guest: MeetingGuest, secret_key: str, cookie: str | None) -> None:
    if guest.browser_hash is not None and bound_here(guest, secret_key, cookie) is None:
        raise Conflict("this link was already used on another device", code="guest.link_used")


def check_not_blocked(guest: MeetingGuest, max_attempts: int) -> None:
    if guest.attempts >= max_attempts:
        raise RateLimited(
            "too many wrong codes: this invitation is blocked; ask for a new one",
            code="guest.blocked",
        )


@dataclass(frozen=True)
class Verified:
    guest: MeetingGuest
    meeting: Meeting
    nonce: str  # goes into the browser's cookie; only its hash is stored


async def verify(
    *,
    session: AsyncSession,
    link: str,
    code: str,
    passcode: str,
    cookie: str | None,
    secret_key: str,
    config: MeetingSettings,
    ip: str | None,
    request_id: str | None,
) -> Verified:
    """Check the code (and the meeting passcode) and bind the link to this browser.

    A wrong answer counts; at `guest_max_attempts` the invitation is blocked. Errors
    carry `keep_changes` so the count and the audit entry are kept.
    """
    guest, meeting = await find(session, link)
    check_usable(guest, meeting)
    actor = guest_actor(guest, meeting, ip=ip, request_id=request_id)
    nonce = bound_here(guest, secret_key, cookie)
    if nonce is not None:  # this browser passed before
        return Verified(guest, meeting, nonce)
    check_not_used_elsewhere(guest, secret_key, cookie)
    check_not_blocked(guest, config.guest_max_attempts)
    good = hmac.compare_digest(code_hash(link, code.strip()), guest.code_hash)
    if meeting.passcode_hash is not None:
        good = passwords.verify_password(meeting.passcode_hash, passcode.strip()) and good
    if not good:
        await session.execute(
            update(MeetingGuest)
            .where(MeetingGuest.id == guest.id)
            .values(attempts=MeetingGuest.attempts + 1)
        )
        await session.refresh(guest, ["attempts"])
        blocked = guest.attempts >= config.guest_max_attempts
        await _audit(session, actor, meeting, "meeting.guest_verify", "failure", blocked=blocked)
        if blocked:
            error: YiyunError = RateLimited(
                "too many wrong codes: this invitation is blocked; ask for a new one",
                code="guest.blocked",
            )
        else:
            left = config.guest_max_attempts - guest.attempts
            error = InvalidInput(
                "the code is not right", code="guest.wrong_code", details={"attempts_left": left}
            )
        error.keep_changes = True
        raise error
    nonce = secrets.token_urlsafe(24)
    bound = await session.execute(
        update(MeetingGuest)
        .where(MeetingGuest.id == guest.id, MeetingGuest.browser_hash.is_(None))
        .values(browser_hash=sha256(nonce), verified_at=now())
    )
    if getattr(bound, "rowcount", 0) != 1:  # another browser got there first
        raise Conflict("this link was already used on another device", code="guest.link_used")
    await session.refresh(guest)
    await _audit(session, actor, meeting, "meeting.guest_verify", "success")
    return Verified(guest, meeting, nonce)


async def authenticate(
    *, session: AsyncSession, link: str, cookie: str | None, secret_key: str
) -> tuple[MeetingGuest, Meeting, str]:
    """The guest whose link this is, in the browser bound to it: (guest, meeting, nonce)."""
    guest, meeting = await find(session, link)
    check_usable(guest, meeting)
    nonce = bound_here(guest, secret_key, cookie)
    if nonce is None:
        check_not_used_elsewhere(guest, secret_key, cookie)
        raise PermissionDenied("enter the verification code first", code="guest.not_verified")
    await check_not_kept_out(session, guest, meeting)
    return guest, meeting, nonce


async def check_not_kept_out(session: AsyncSession, guest: MeetingGuest, meeting: Meeting) -> None:
    """A denial (or removal) is final for this invitation until the host allows the
    guest back: no room token, no files, no way back into the waiting room."""
    kept_out = await removals.find(session, meeting.id, f"g{guest.id}")
    if kept_out is None:
        return
    if kept_out.reason == removals.DENIED:
        raise Gone("the host did not admit you to this meeting", code="guest.denied")
    raise Gone("you were removed from this meeting", code="guest.removed")


def require_admitted(guest: MeetingGuest) -> None:
    """The meeting's content (its chat files) is for guests who were let in."""
    if guest.admitted_at is None:
        raise PermissionDenied(
            "you can see and share files once the host has let you in",
            code="guest.not_admitted",
        )


async def join_token(
    *,
    session: AsyncSession,
    bus: EventBus,
    guest: MeetingGuest,
    meeting: Meeting,
    secret_key: str,
    purpose: str,
    actor: Actor,
    config: MeetingSettings,
) -> str:
    """A room token with the guest's claims (`role` "guest", or "screen" to share)."""
    await workflow.open_for_join(
        session=session,
        bus=bus,
        meeting=meeting,
        actor=actor,
        early_minutes=config.join_early_minutes,
    )
    token = room_tokens.issue(
        secret_key,
        room=meeting.room_id,
        user_id=0,
        guest_id=guest.id,
        meeting_id=meeting.id,
        name=guest.display_name,
        role="screen" if purpose == "screen" else "guest",
    )
    await _audit(session, actor, meeting, "meeting.guest_token", "success", purpose=purpose)
    return token


async def record(
    session: AsyncSession, actor: Actor, meeting: Meeting, action: str, **details: object
) -> None:
    """Audit another guest action (opened the link, left the meeting)."""
    await _audit(session, actor, meeting, action, "success", **details)


async def _audit(
    session: AsyncSession,
    actor: Actor,
    meeting: Meeting,
    action: str,
    outcome: str,
    **details: object,
) -> None:
    await audit.record(
        session=session,
        actor=actor,
        action=action,
        outcome=outcome,
        entity_type="meeting",
        entity_id=meeting.id,
        details={"guest_id": actor.extra.get("guest_id"), **details},
    )


# --- rate limit per address -------------------------------------------------------------


async def count_submission(
    *, limiter: Limiter, secret_key: str, ip: str | None, config: MeetingSettings
) -> None:
    """Count a code submission from this address; refuse past the limit per window
    (`core.ratelimit`, keyed by an HMAC of the address, so no address is stored)."""
    window = config.guest_ip_window_minutes * 60
    counted = await limiter.hit(keyed(secret_key, "guest-ip", ip or "unknown"), window=window)
    if counted.over(config.guest_ip_limit):
        raise RateLimited(
            "too many attempts from this network; try again later",
            code="guest.rate_limited",
            details={"retry_after_minutes": int(config.guest_ip_window_minutes)},
            keep_changes=True,
        )
