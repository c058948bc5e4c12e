"""Out-of-app channels behind one small interface.

`SmsChannel` and `EmailChannel` have a console backend (writes one line per message to
the log, with the recipient masked) until a provider adapter is configured. Each
channel reports a `permanent` failure separately from a retryable one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

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

    def __init__(self, name: str) -> None:
        self.name = name
        self.sent: list[OutboundMessage] = []

    async def send(self, message: OutboundMessage) -> None:
        if not message.to:
            raise DeliveryError("no recipient address", permanent=True)
        self.sent.append(message)
        del self.sent[:-100]
        logger.info("%s to %s: %s", self.name, _mask(message.to), message.subject)


@dataclass(frozen=True)
class Outbound:
    """The app's out-of-app channels (`app.state.outbound`)."""

    sms: Channel
    email: Channel


def console_outbound() -> Outbound:
    return Outbound(sms=ConsoleChannel("sms"), email=ConsoleChannel("email"))


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
