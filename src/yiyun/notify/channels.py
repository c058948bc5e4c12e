"""Out-of-app channels behind one small interface.

`SmsChannel` and `EmailChannel` have a console backend (writes one line per message to
the log, with the recipient masked) until a provider adapter is configured. Each
channel reports a `permanent` failure separately from a retryable one.

SMS providers are reached through `HttpSmsChannel`: a JSON POST of `{"to", "text"}` to
the configured gateway with a bearer token (the shape of most domestic SMS gateways'
HTTP APIs, or of a small relay in front of one). Outside production the console SMS
channel also writes the message text to the log (`show_body`), so a developer can read a
sign-in code there; the number stays masked.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

import httpx

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutboundMessage:
    to: str
    subject: str
    body: str


class DeliveryError(Exception):
    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


class Channel(Protocol):
    name: str

    async def send(self, message: OutboundMessage) -> None: ...


def _mask(address: str) -> str:
    if "@" in address:
        user, _, domain = address.partition("@")
        return user[:1] + "***@" + domain
    return address[:3] + "****" + address[-2:] if len(address) > 6 else "***"


class ConsoleChannel:
    """Logs instead of sending (development, demo, tests); keeps the last messages."""

    def __init__(self, name: str, *, show_body: bool = False) -> None:
        self.name = name
        self.show_body = show_body  # development only: the text (a code) in the log
        self.sent: list[OutboundMessage] = []

    async def send(self, message: OutboundMessage) -> None:
        if not message.to:
            raise DeliveryError("no recipient address", permanent=True)
        self.sent.append(message)
        del self.sent[:-100]
        if self.show_body:
            logger.info(
                "%s to %s: %s | %s", self.name, _mask(message.to), message.subject, message.body
            )
        else:
            logger.info("%s to %s: %s", self.name, _mask(message.to), message.subject)


class HttpSmsChannel:
    """An SMS gateway over HTTP: POST `{"to": number, "text": body}` with a bearer token.

    2xx is sent; 4xx is a permanent failure (the gateway refused this message); 5xx,
    timeouts and connection errors are retryable. Neither the number nor the text is
    logged here (`deliver` logs the masked number).
    """

    name = "sms"

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url, self.token, self.timeout, self.transport = url, token, timeout, transport

    async def send(self, message: OutboundMessage) -> None:
        if not message.to:
            raise DeliveryError("no recipient address", permanent=True)
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            async with httpx.AsyncClient(timeout=self.timeout, transport=self.transport) as client:
                res = await client.post(
                    self.url, json={"to": message.to, "text": message.body}, headers=headers
                )
        except httpx.HTTPError as exc:
            raise DeliveryError(
                f"gateway unreachable: {type(exc).__name__}", permanent=False
            ) from exc
        if 200 <= res.status_code < 300:
            return
        raise DeliveryError(
            f"gateway answered {res.status_code}", permanent=400 <= res.status_code < 500
        )


@dataclass(frozen=True)
class Outbound:
    """The app's out-of-app channels (`app.state.outbound`)."""

    sms: Channel
    email: Channel


def console_outbound(*, show_sms: bool = False) -> Outbound:
    return Outbound(sms=ConsoleChannel("sms", show_body=show_sms), email=ConsoleChannel("email"))


def sms_channel(
    backend: str,
    *,
    url: str | None,
    token: str | None,
    timeout: float,
    show_body: bool,
) -> Channel:
    """The SMS channel the settings name: "http" (a gateway at `url`) or "console"."""
    if backend == "http":
        if not url:
            raise ValueError("the http SMS backend needs a gateway URL")
        return HttpSmsChannel(url, token=token, timeout=timeout)
    return ConsoleChannel("sms", show_body=show_body)


async def deliver(channel: Channel, message: OutboundMessage, *, attempts: int = 3) -> bool:
    """Send with up to `attempts` tries, stopping early on a permanent failure.

    Returns whether it was sent. Failures are logged with the recipient masked; the
    message body (which may hold a link) is never logged.
    """
    for attempt in range(1, attempts + 1):
        try:
            await channel.send(message)
        except DeliveryError as exc:
            logger.warning(
                "%s to %s failed (attempt %d, %s): %s",
                channel.name,
                _mask(message.to),
                attempt,
                "permanent" if exc.permanent else "retryable",
                exc,
            )
            if exc.permanent:
                return False
            continue
        return True
    return False
