"""Time-limited TURN credentials (the "TURN REST API" scheme coturn implements).

coturn runs with `use-auth-secret` and a `static-auth-secret` it shares with the app
(`YIYUN_MEDIA__TURN_SECRET`). The app never stores TURN users: for each join token it
derives a credential that coturn can check on its own:

    username = "{expiry}:{user}"          expiry: Unix time (seconds) it stops working
    password = base64(HMAC-SHA1(secret, username))

coturn recomputes the HMAC from the username and refuses (401) a wrong password or an
expiry in the past. A credential is only ever handed out with a room token, that is to
members of an open meeting (`POST /api/v1/meetings/{id}/token`), so an outsider gets
no relay. Pure functions: no I/O, the clock is a parameter.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from yiyun.settings import MediaSettings

log = logging.getLogger(__name__)

IceServer = dict[str, str | list[str]]
TURN_SCHEMES = ("turn:", "turns:")


@dataclass(frozen=True)
class TurnCredentials:
    """One user's TURN credential and the servers it is good for."""

    username: str
    password: str
    ttl: int
    urls: tuple[str, ...] = ()

    @property
    def expires_at(self) -> int:
        """Unix time after which coturn refuses the credential."""
        return int(self.username.split(":", 1)[0])

    def ice_server(self) -> IceServer:
        """As an `RTCIceServer` dict for the browser (`credentialType` "password")."""
        return {"urls": list(self.urls), "username": self.username, "credential": self.password}


def sign(secret: str, username: str) -> str:
    """The password coturn expects for `username`: base64(HMAC-SHA1(secret, username))."""
    digest = hmac.new(secret.encode("utf-8"), username.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def credentials(
    secret: str,
    user_id: int | str,
    ttl: int,
    *,
    urls: Sequence[str] = (),
    now: float | None = None,
) -> TurnCredentials:
    """A credential for `user_id` valid for `ttl` seconds from `now` (default: the clock)."""
    if not secret:
        raise ValueError("the TURN secret is empty")
    if ttl <= 0:
        raise ValueError("ttl must be positive")
    user = str(user_id)
    if not user or any(ch in user for ch in ":\r\n"):
        raise ValueError("the TURN user must be non-empty without ':' or line breaks")
    for url in urls:
        if not url.startswith(TURN_SCHEMES):
            raise ValueError(f"not a TURN URL: {url!r}")
    expiry = int(time.time() if now is None else now) + ttl
    username = f"{expiry}:{user}"
    return TurnCredentials(
        username=username, password=sign(secret, username), ttl=ttl, urls=tuple(urls)
    )


def ice_servers_for(
    settings: MediaSettings, user_id: int | str, *, now: float | None = None
) -> list[IceServer]:
    """The ICE servers to hand one user: the configured ones plus TURN with a fresh credential.

    Call only for someone allowed into the room (the join-token endpoint is the one
    caller). TURN URLs without a secret are left out (with a warning): coturn would
    refuse any credential the app could make.
    """
    servers: list[IceServer] = [dict(server) for server in settings.ice_servers]
    if not settings.turn_urls:
        return servers
    if settings.turn_secret is None:
        log.warning("media.turn_urls is set but media.turn_secret is not: TURN left out")
        return servers
    creds = credentials(
        settings.turn_secret.get_secret_value(),
        user_id,
        settings.turn_ttl_seconds,
        urls=settings.turn_urls,
        now=now,
    )
    servers.append(creds.ice_server())
    return servers
