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
