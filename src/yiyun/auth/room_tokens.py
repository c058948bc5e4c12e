"""Short-lived, room-scoped join tokens for the media layer.

A token is `base64url(json claims) "." base64url(HMAC-SHA256)` signed with a key
derived from the app's secret key. Claims: room, sub (user id), name, exp, jti, and
sid (the sign-in session it was issued under, so ending that session closes the media
socket too). A token for another room, an expired token or a forged one is refused, and
so is one already used: `spend` claims its jti once in the shared limiter (every app
node sees the claim), so a token read from a log or a proxy cannot be replayed within
its 120 s.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

from yiyun.core.clock import now
from yiyun.core.errors import NotAuthenticated
from yiyun.core.ratelimit import Limiter

DEFAULT_TTL_SECONDS = 120


@dataclass(frozen=True)
class RoomClaims:
    room: str
    user_id: int
    name: str
    role: str
    expires_at: float
    jti: str
    guest_id: int | None = None  # set for a guest from a one-time link (user_id is 0)
    meeting_id: int | None = None
    session_id: int | None = None  # the sign-in session it was issued under (staff)
    terminal_id: int | None = None  # set for a room terminal joining as its site (user_id 0)

    @property
    def identity(self) -> str:
        """Who this is across reconnects: `u<user id>`, `g<guest id>` or `t<terminal id>`."""
        if self.guest_id is not None:
            return f"g{self.guest_id}"
        return f"t{self.terminal_id}" if self.terminal_id is not None else f"u{self.user_id}"


def _key(secret_key: str) -> bytes:
    return hashlib.sha256(b"yiyun room token v1\x00" + secret_key.encode()).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue(
    secret_key: str,
    *,
    room: str,
    user_id: int,
    name: str,
    role: str = "participant",
    ttl_seconds: int = DEFAULT_TTL_SECONDS,
    guest_id: int | None = None,
    meeting_id: int | None = None,
    session_id: int | None = None,
    terminal_id: int | None = None,
) -> str:
    claims: dict[str, object] = {
        "room": room,
        "sub": user_id,
        "name": name,
        "role": role,
        "exp": now().timestamp() + ttl_seconds,
        "jti": secrets.token_hex(8),
    }
    if guest_id is not None:
        claims["guest"] = guest_id
    if meeting_id is not None:
        claims["meeting"] = meeting_id
    if session_id is not None:
        claims["sid"] = session_id
    if terminal_id is not None:
        claims["term"] = terminal_id
    body = _b64(json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode())
    sig = _b64(hmac.new(_key(secret_key), body.encode(), hashlib.sha256).digest())
    return f"{body}.{sig}"


def verify(secret_key: str, token: str, *, room: str | None = None) -> RoomClaims:
    """Check signature, expiry and (when given) the room; raise NotAuthenticated."""
    refused = NotAuthenticated("invalid or expired room token", code="media.bad_token")
    if not isinstance(token, str) or token.count(".") != 1 or len(token) > 2048:
        raise refused
    body, sig = token.split(".")
    expected = _b64(hmac.new(_key(secret_key), body.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(sig, expected):
        raise refused
    try:
        claims = json.loads(_unb64(body))
        parsed = RoomClaims(
            room=str(claims["room"]),
            user_id=int(claims["sub"]),
            name=str(claims["name"]),
            role=str(claims.get("role", "participant")),
            expires_at=float(claims["exp"]),
            jti=str(claims["jti"]),
            guest_id=int(claims["guest"]) if "guest" in claims else None,
            meeting_id=int(claims["meeting"]) if "meeting" in claims else None,
            session_id=int(claims["sid"]) if "sid" in claims else None,
            terminal_id=int(claims["term"]) if "term" in claims else None,
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise refused from exc
    if parsed.expires_at <= now().timestamp():
        raise NotAuthenticated("room token expired", code="media.token_expired")
    if room is not None and parsed.room != room:
        raise NotAuthenticated("room token is for another room", code="media.wrong_room")
    return parsed


async def spend(limiter: Limiter, claims: RoomClaims) -> None:
    """Use the token up: a second connection with the same token is refused."""
    ttl = max(1.0, claims.expires_at - now().timestamp())
    if not await limiter.once(f"room-token:{claims.jti}", ttl=ttl):
        raise NotAuthenticated("this room token was already used", code="media.token_used")
