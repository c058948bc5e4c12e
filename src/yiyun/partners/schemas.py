"""Partner forms and reads."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from yiyun.core.types import EntityId
from yiyun.partners import events as partner_events
from yiyun.partners import scopes as smart_scopes

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def endpoint_url(value: str) -> str:
    """An https URL (plain http only to this machine, for a receiver run beside us)."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError("enter an https:// address")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK:
        raise ValueError("enter an https:// address")
    if parts.username or parts.password or parts.fragment:
        raise ValueError("enter an https:// address")
    return value.strip()


class PartnerCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]*$")
    institution_id: EntityId
    contact_name: str = Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]*$")
    contact_email: str = Field(max_length=200, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    contact_phone: str = Field(default="", max_length=20, pattern=r"^[0-9+\- ]*$")
    scopes: list[str] = Field(min_length=1, max_length=30)
    jwks_url: str | None = Field(default=None, max_length=500)

    @field_validator("scopes")
    @classmethod
    def _scopes(cls, value: list[str]) -> list[str]:
        try:
            return sorted({str(s) for s in smart_scopes.parse_all(value)})
        except smart_scopes.ScopeError:
            raise ValueError("each scope must look like system/Patient.rs") from None

    @field_validator("jwks_url")
    @classmethod
    def _jwks(cls, value: str | None) -> str | None:
        return endpoint_url(value) if value and value.strip() else None


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=500)
    events: list[str] = Field(min_length=1, max_length=len(partner_events.EVENT_TYPES))

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return endpoint_url(value)

    @field_validator("events")
    @classmethod
    def _events(cls, value: list[str]) -> list[str]:
        if not set(value) <= set(partner_events.EVENT_TYPES):
            raise ValueError("choose event types from the list")
        return sorted(set(value))


CLIENT_ID = re.compile(r"^[a-z0-9][a-z0-9-]{2,40}$")
