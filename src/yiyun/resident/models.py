"""Resident tables: accounts, their sessions and one-time SMS codes.

Residents are not staff: their own table (not `org_user`), their own session table and
cookie. The mobile number and the resident ID number are stored encrypted plus a keyed
hash (for lookups); a session token and an SMS code only as hashes.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from yiyun.core.db import Base, IdMixin, TimestampMixin


class Resident(IdMixin, TimestampMixin, Base):
    __tablename__ = "resident_account"

    phone_hash: Mapped[str] = mapped_column(String(64), unique=True)
    phone_enc: Mapped[str] = mapped_column(String(200))
    phone_masked: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100))
    id_number_hash: Mapped[str] = mapped_column(String(64), unique=True)
    id_number_enc: Mapped[str] = mapped_column(String(200))
    id_number_masked: Mapped[str] = mapped_column(String(18))
    # the community centre they belong to, and their record there when one exists
    institution_id: Mapped[int] = mapped_column(ForeignKey("org_institution.id"), index=True)
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("records_patient.id"), index=True)
    locale: Mapped[str | None] = mapped_column(String(8))
    active: Mapped[bool] = mapped_column(default=True)
    last_sign_in_at: Mapped[datetime | None]


class ResidentSession(IdMixin, Base):
    __tablename__ = "resident_session"

    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    resident_id: Mapped[int] = mapped_column(
        ForeignKey("resident_account.id", ondelete="CASCADE"), index=True
    )
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class SmsCode(IdMixin, Base):
    """A one-time code sent to a number: its HMAC only, a deadline and an attempt count."""

    __tablename__ = "resident_sms_code"

    phone_hash: Mapped[str] = mapped_column(String(64), index=True)
    purpose: Mapped[str] = mapped_column(String(16))
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(default=0)
    used_at: Mapped[datetime | None]
