"""Identity tables. Only hashes of session tokens and recovery codes are stored.

Sign-in failure counts are not stored here: they live in `core.ratelimit` (Redis when
the app nodes share one, this process otherwise)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from yiyun.core.db import Base, IdMixin


class AuthSession(IdMixin, Base):
    """A browser session (kind "cookie") or an API bearer token (kind "api")."""

    __tablename__ = "auth_session"

    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("org_user.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(100), default="")
    csrf_token: Mapped[str] = mapped_column(String(64), default="")
    # False until the second factor is passed (cookie sessions only).
    mfa_passed: Mapped[bool] = mapped_column(default=False)
    # When a TOTP code was last checked on this session (sign-in or step-up, auth.step_up).
    strong_auth_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    ip: Mapped[str | None] = mapped_column(String(64))


class RecoveryCode(IdMixin, Base):
    __tablename__ = "auth_recovery_code"

    user_id: Mapped[int] = mapped_column(ForeignKey("org_user.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(200))
    used_at: Mapped[datetime | None]
