"""Partner tables: the registered system, its public keys, its webhook endpoints, the
deliveries made to them, and the assertion ids already used (replay refusal)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from yiyun.core.db import Base, IdMixin, TimestampMixin
from yiyun.core.statemachine import state_type


class PartnerStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class DeliveryState(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"  # gave up after the retry window


class Partner(IdMixin, TimestampMixin, Base):
    """A registered partner system (HIS, EMR, pharmacy, insurer, health platform)."""

    __tablename__ = "partner_partner"

    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    institution_id: Mapped[int] = mapped_column(ForeignKey("org_institution.id"), index=True)
    contact_name: Mapped[str] = mapped_column(String(100))
    contact_email: Mapped[str] = mapped_column(String(200))
    contact_phone: Mapped[str] = mapped_column(String(20), default="")
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    jwks_url: Mapped[str | None] = mapped_column(String(500))
    # Status is set by the service (suspend / reactivate), never by a workflow table.
    status: Mapped[PartnerStatus] = mapped_column(
        state_type(PartnerStatus), default=PartnerStatus.ACTIVE
    )
    # Access tokens issued before this moment are refused (suspension, key compromise).
    tokens_valid_after: Mapped[datetime | None]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("org_user.id"))


class PartnerKey(IdMixin, Base):
    """An uploaded public key (a JWK) the partner signs its assertions with."""

    __tablename__ = "partner_key"

    partner_id: Mapped[int] = mapped_column(ForeignKey("partner_partner.id"), index=True)
    kid: Mapped[str] = mapped_column(String(128))
    alg: Mapped[str] = mapped_column(String(8))
    jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]

    __table_args__ = (UniqueConstraint("partner_id", "kid"),)


class PartnerWebhook(IdMixin, Base):
    """An HTTPS endpoint of the partner and the event types it subscribes to."""

    __tablename__ = "partner_webhook"

    partner_id: Mapped[int] = mapped_column(ForeignKey("partner_partner.id"), index=True)
    url: Mapped[str] = mapped_column(String(500))
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    secret_enc: Mapped[str] = mapped_column(String(300))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]


class PartnerDelivery(IdMixin, Base):
    """One event sent (or to send) to one endpoint: attempts, the last answer, replays."""

    __tablename__ = "partner_delivery"

    webhook_id: Mapped[int] = mapped_column(ForeignKey("partner_webhook.id"), index=True)
    event_id: Mapped[str] = mapped_column(String(40))
    event_type: Mapped[str] = mapped_column(String(48))
    # Deliveries about one subject (a referral, a consultation) go out in order.
    subject: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[DeliveryState] = mapped_column(
        state_type(DeliveryState), default=DeliveryState.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    next_at: Mapped[datetime | None]
    claimed_until: Mapped[datetime | None]
    last_status: Mapped[int | None]
    last_error: Mapped[str] = mapped_column(Text, default="")
    delivered_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_partner_delivery_due", "status", "next_at"),)


class PartnerAssertion(Base):
    """A client assertion's `jti`, kept until the assertion expires: a replay is refused."""

    __tablename__ = "partner_assertion"

    partner_id: Mapped[int] = mapped_column(ForeignKey("partner_partner.id"), primary_key=True)
    jti: Mapped[str] = mapped_column(String(128), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)
