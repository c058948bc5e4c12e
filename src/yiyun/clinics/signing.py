"""Strong authentication at the moment of signing: a current code from the signer's
authenticator app (TOTP), checked against the secret they enrolled.

A code is good for its 30-second step (and one either side for clock drift), so a
signature proves the second factor within the last two minutes — stricter than the
ten minutes the telemedicine rules' step-up asks for. Every refusal is audited.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.audit import service as audit
from yiyun.audit.service import Actor
from yiyun.auth import service as auth_service
from yiyun.auth import totp
from yiyun.core.errors import InvalidInput
from yiyun.org.models import User
from yiyun.settings import SecuritySettings


async def confirm_code(
    *, session: AsyncSession, cfg: SecuritySettings, actor: Actor, user_id: int, code: str
) -> None:
    """Raise (and audit the refusal) unless `code` is the user's current TOTP code."""
    user = await session.get(User, user_id)
    secret_b32 = (
        auth_service.cipher(cfg).decrypt(user.totp_secret_enc, context=f"totp:{user.id}")
        if user is not None and user.totp_secret_enc and user.totp_enrolled_at is not None
        else None
    )
    if secret_b32 is None or totp.match_step(secret_b32, code, last_step=None) is None:
        await audit.record(session=session, actor=actor, action="auth.step_up", outcome="denied")
        raise InvalidInput(
            "the authenticator code does not match; enter the current code to sign",
            code="auth.step_up_failed",
            details={"field": "code"},
            keep_changes=True,
        )
    await audit.record(session=session, actor=actor, action="auth.step_up")
