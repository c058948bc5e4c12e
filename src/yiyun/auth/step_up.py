"""Recent strong authentication ("step-up"): a TOTP code checked within the last minutes.

Signing in with a TOTP code stamps the session (`AuthSession.strong_auth_at`); so does
entering a code again here. Acts that bind a doctor legally or open a patient's record
to another institution (starting a consultation session, signing an opinion) call
`require_recent`, which refuses with `StepUpRequired` (a translated sentence; pages show
a code field and API clients call `POST /api/v1/auth/step-up`). A recovery code passes
the sign-in but is not strong authentication for these acts.

Wrong codes count against the same limits as sign-in (`auth.service`), so step-up is
no way around the lockout.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.audit import service as audit
from yiyun.audit.service import Actor
from yiyun.auth import service as auth_service
from yiyun.auth import totp
from yiyun.auth.models import AuthSession
from yiyun.auth.principal import Principal
from yiyun.core.clock import as_utc, now
from yiyun.core.errors import InvalidInput, NotAuthenticated, PermissionDenied
from yiyun.org.models import User
from yiyun.settings import SecuritySettings

WINDOW = timedelta(minutes=10)


class StepUpRequired(PermissionDenied):
    code = "auth.step_up_required"


STEP_UP_MESSAGE = "enter the code from your authenticator app to confirm it is you"


async def _row(session: AsyncSession, principal: Principal) -> AuthSession | None:
    if principal.session_id is None:
        return None
    row = await session.get(AuthSession, principal.session_id)
    if row is None or row.user_id != principal.user_id or row.revoked_at is not None:
        return None
    return row


async def is_recent(
    session: AsyncSession, principal: Principal, *, at: datetime | None = None
) -> bool:
    """Whether this session passed a TOTP check within `WINDOW`."""
    row = await _row(session, principal)
    stamp = row.strong_auth_at if row is not None else None
    return stamp is not None and as_utc(stamp) >= (at or now()) - WINDOW


async def require_recent(
    session: AsyncSession, principal: Principal, *, at: datetime | None = None
) -> None:
    """Raise `StepUpRequired` (403) unless the session passed TOTP within `WINDOW`."""
    if not await is_recent(session, principal, at=at):
        raise StepUpRequired(
            STEP_UP_MESSAGE, details={"window_minutes": int(WINDOW.total_seconds() // 60)}
        )


async def verify(
    *,
    session: AsyncSession,
    cfg: SecuritySettings,
    principal: Principal,
    actor: Actor,
    code: str,
    attempt: auth_service.Attempt,
) -> datetime:
    """Check a TOTP code for the caller's session and stamp it (audited either way)."""
    row = await _row(session, principal)
    user = await session.get(User, principal.user_id)
    if row is None or user is None:
        raise NotAuthenticated("sign in required", code="auth.required")
    if user.totp_secret_enc is None or user.totp_enrolled_at is None:
        raise InvalidInput("two-factor authentication is not set up", code="auth.not_enrolled")
    await auth_service._check_limits(attempt, cfg, user.username)
    secret_b32 = auth_service.cipher(cfg).decrypt(user.totp_secret_enc, context=f"totp:{user.id}")
    step = totp.match_step(secret_b32, code.strip(), last_step=user.totp_last_step)
    if step is None:
        await auth_service._fail(attempt, cfg, user.username)
        await audit.record(session=session, actor=actor, action="auth.step_up", outcome="denied")
        raise InvalidInput(
            "the code is not valid; enter the current code from your authenticator app",
            code="auth.step_up_failed",
            details={"field": "totp_code"},
            keep_changes=True,
        )
    await auth_service._succeed(attempt, cfg, user.username)
    user.totp_last_step = step
    row.strong_auth_at = at = now()
    await audit.record(session=session, actor=actor, action="auth.step_up")
    return at
