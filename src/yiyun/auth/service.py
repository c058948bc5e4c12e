"""Identity use cases: log in, second factor, enrol TOTP, sessions, tokens, log out.

Login answers the same generic failure whether the username is unknown, the password
is wrong or the account is disabled; only the audit log records which. Failures count
per typed name (lockout), per client address (spraying one password over many names)
and over all names (`core.ratelimit`, shared by the app nodes through Redis); an
administrator can lift a lockout (`unlock`, audited).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.audit import service as audit
from yiyun.audit.service import Actor
from yiyun.auth import passwords, policy, revocation, totp
from yiyun.auth.models import AuthSession, RecoveryCode
from yiyun.auth.principal import Principal
from yiyun.core.clock import as_utc, now
from yiyun.core.crypto import FieldCipher
from yiyun.core.errors import InvalidInput, NotAuthenticated, NotFound, RateLimited
from yiyun.core.ratelimit import Limiter, keyed
from yiyun.org.models import User
from yiyun.settings import SecuritySettings, secret

COOKIE = "cookie"
API = "api"
LOGIN_FAILED = "invalid username, password or code"


@dataclass(frozen=True)
class IssuedSession:
    token: str
    session: AuthSession
    user: User


@dataclass(frozen=True)
class Enrolment:
    secret: str
    uri: str
    qr_svg: str


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def cipher(cfg: SecuritySettings) -> FieldCipher:
    return FieldCipher(secret(cfg.data_key))


def principal_of(user: User, session_id: int | None = None) -> Principal:
    return Principal(
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        institution_id=user.institution_id,
        roles=user.role_set,
        session_id=session_id,
        locale=user.locale,
    )


# --- sign-in limits (core.ratelimit): per typed name, per client address, over all -------


@dataclass(frozen=True)
class Attempt:
    """Where a sign-in attempt comes from, for the limits."""

    limiter: Limiter
    ip: str | None


def _name_key(cfg: SecuritySettings, username: str) -> str:
    return keyed(secret(cfg.secret_key), "login-name", username.strip().lower())


def _ip_key(cfg: SecuritySettings, ip: str | None) -> str:
    return keyed(secret(cfg.secret_key), "login-ip", ip or "unknown")


GLOBAL_KEY = "login-all"


def _minutes(seconds: float) -> int:
    return max(1, int(seconds // 60) + 1)


async def _check_limits(attempt: Attempt, cfg: SecuritySettings, username: str) -> None:
    """Refuse before any password is checked: a locked name, a spraying address, or a
    consortium-wide storm of failures."""
    left = await attempt.limiter.blocked_for(_name_key(cfg, username))
    if left > 0:
        raise RateLimited(
            "too many failed attempts; try again later",
            code="auth.locked",
            details={"retry_after_minutes": _minutes(left)},
        )
    left = await attempt.limiter.blocked_for(_ip_key(cfg, attempt.ip))
    if left > 0:
        raise RateLimited(
            "too many failed sign-ins from this network; try again later",
            code="auth.address_limited",
            details={"retry_after_minutes": _minutes(left)},
        )
    storm = await attempt.limiter.peek(GLOBAL_KEY)
    if storm.count >= cfg.login_global_limit:
        raise RateLimited(
            "sign-in is paused for a moment after many failures; try again shortly",
            code="auth.busy",
            details={"retry_after_minutes": _minutes(storm.retry_after)},
        )


async def _fail(attempt: Attempt, cfg: SecuritySettings, username: str) -> None:
    """Count a failure against the name, the address and the whole consortium."""
    limiter, lockout = attempt.limiter, cfg.lockout_minutes * 60
    name = _name_key(cfg, username)
    if (await limiter.hit(name, window=lockout)).count >= cfg.lockout_threshold:
        await limiter.block(name, seconds=lockout)
    ip, ip_window = _ip_key(cfg, attempt.ip), cfg.login_ip_window_minutes * 60
    if (await limiter.hit(ip, window=ip_window)).count >= cfg.login_ip_limit:
        await limiter.block(ip, seconds=ip_window)
    await limiter.hit(GLOBAL_KEY, window=60)


async def _succeed(attempt: Attempt, cfg: SecuritySettings, username: str) -> None:
    await attempt.limiter.clear(_name_key(cfg, username))


async def unlock(
    *,
    session: AsyncSession,
    limiter: Limiter,
    cfg: SecuritySettings,
    principal: Principal,
    actor: Actor,
    user_id: int,
) -> bool:
    """Lift a sign-in lockout on a staff account (whoever manages that account's staff;
    audited). True when a lockout was in force."""
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("staff member not found", code="staff.not_found")
    policy.require(principal, policy.Action.MANAGE_STAFF, policy.Target.of(user.institution_id))
    key = _name_key(cfg, user.username)
    was_locked = await limiter.blocked_for(key) > 0
    await limiter.clear(key)
    await audit.record(
        session=session,
        actor=actor,
        action="auth.unlock",
        entity_type="user",
        entity_id=user.id,
        institution_id=user.institution_id,
        details={"was_locked": was_locked},
    )
    return was_locked


async def user_by_username(session: AsyncSession, username: str) -> User | None:
    return await session.scalar(select(User).where(User.username == username.strip().lower()))


async def _issue(
    session: AsyncSession,
    user: User,
    *,
    kind: str,
    hours: float,
    mfa: bool,
    ip: str | None,
    name: str = "",
) -> IssuedSession:
    token = secrets.token_urlsafe(32)
    row = AuthSession(
        token_hash=token_hash(token),
        user_id=user.id,
        kind=kind,
        name=name,
        csrf_token=secrets.token_urlsafe(24),
        mfa_passed=mfa,
        created_at=now(),
        expires_at=now() + timedelta(hours=hours),
        ip=ip,
    )
    session.add(row)
    await session.flush()
    return IssuedSession(token=token, session=row, user=user)


async def login_password(
    *,
    session: AsyncSession,
    cfg: SecuritySettings,
    username: str,
    password: str,
    attempt: Attempt,
) -> IssuedSession:
    """First factor. Returns a session that still needs the second factor."""
    ip = attempt.ip
    await _check_limits(attempt, cfg, username)
    user = await user_by_username(session, username)
    ok = passwords.verify_password(user.password_hash if user else None, password)
    actor = Actor(user_id=user.id if user else None, username=username[:64], ip=ip)
    if not ok or user is None or not user.active:
        await _fail(attempt, cfg, username)
        reason = "unknown_user" if user is None else ("disabled" if ok else "bad_password")
        await audit.record(
            session=session,
            actor=actor,
            action="auth.login",
            outcome="denied",
            details={"reason": reason},
        )
        raise NotAuthenticated(LOGIN_FAILED, code="auth.login_failed", keep_changes=True)
    if user.password_hash and passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    issued = await _issue(session, user, kind=COOKIE, hours=cfg.session_hours, mfa=False, ip=ip)
    await audit.record(
        session=session, actor=actor, action="auth.password_ok", institution_id=user.institution_id
    )
    return issued


async def verify_second_factor(
    *,
    session: AsyncSession,
    cfg: SecuritySettings,
    auth: AuthSession,
    user: User,
    code: str,
    attempt: Attempt,
) -> None:
    """Pass the second factor with a TOTP code or a one-time recovery code."""
    ip = attempt.ip
    await _check_limits(attempt, cfg, user.username)
    actor = Actor(
        user_id=user.id, username=user.username, ip=ip, institution_id=user.institution_id
    )
    if user.totp_secret_enc is None or user.totp_enrolled_at is None:
        raise InvalidInput("two-factor authentication is not set up", code="auth.not_enrolled")
    secret_b32 = cipher(cfg).decrypt(user.totp_secret_enc, context=f"totp:{user.id}")
    step = totp.match_step(secret_b32, code, last_step=user.totp_last_step)
    method = "totp"
    if step is not None:
        user.totp_last_step = step
    elif not await _use_recovery_code(session, user, code):
        await _fail(attempt, cfg, user.username)
        await audit.record(session=session, actor=actor, action="auth.mfa", outcome="denied")
        raise NotAuthenticated(LOGIN_FAILED, code="auth.mfa_failed", keep_changes=True)
    else:
        method = "recovery_code"
    await _succeed(attempt, cfg, user.username)
    auth.mfa_passed = True
    if method == "totp":
        auth.strong_auth_at = now()
    await audit.record(
        session=session, actor=actor, action="auth.login", details={"method": method}
    )


async def _use_recovery_code(session: AsyncSession, user: User, code: str) -> bool:
    normalised = code.strip().lower()
    rows = await session.scalars(
        select(RecoveryCode).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    )
    for row in rows:
        if passwords.verify_password(row.code_hash, normalised):
            row.used_at = now()
            return True
    return False


async def begin_enrolment(*, session: AsyncSession, cfg: SecuritySettings, user: User) -> Enrolment:
    """Create (or re-show) a pending TOTP secret for a user who has none enrolled."""
    if user.totp_enrolled_at is not None:
        raise InvalidInput(
            "two-factor authentication is already set up", code="auth.already_enrolled"
        )
    box = cipher(cfg)
    if user.totp_secret_enc is None:
        user.totp_secret_enc = box.encrypt(totp.new_secret(), context=f"totp:{user.id}")
        await session.flush()
    secret_b32 = box.decrypt(user.totp_secret_enc, context=f"totp:{user.id}")
    uri = totp.provisioning_uri(secret_b32, username=user.username, issuer=cfg.totp_issuer)
    return Enrolment(secret=secret_b32, uri=uri, qr_svg=totp.qr_svg(uri))


async def confirm_enrolment(
    *,
    session: AsyncSession,
    cfg: SecuritySettings,
    auth: AuthSession,
    user: User,
    code: str,
    ip: str | None = None,
) -> list[str]:
    """Check the first code from the app, enrol, pass the factor; return recovery codes."""
    if user.totp_secret_enc is None or user.totp_enrolled_at is not None:
        raise InvalidInput("no pending enrolment", code="auth.no_pending_enrolment")
    secret_b32 = cipher(cfg).decrypt(user.totp_secret_enc, context=f"totp:{user.id}")
    step = totp.match_step(secret_b32, code, last_step=None)
    if step is None:
        raise InvalidInput(
            "the code does not match; check the app's clock and try again", code="auth.bad_code"
        )
    user.totp_last_step = step
    user.totp_enrolled_at = now()
    codes = await replace_recovery_codes(session=session, user=user)
    auth.mfa_passed = True
    auth.strong_auth_at = now()
    await audit.record(
        session=session,
        actor=Actor(user.id, user.username, user.institution_id, ip=ip),
        action="auth.totp_enrolled",
    )
    return codes


async def replace_recovery_codes(*, session: AsyncSession, user: User) -> list[str]:
    await session.execute(
        update(RecoveryCode)
        .where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
        .values(used_at=now())
    )
    codes = totp.new_recovery_codes()
    for code in codes:
        session.add(RecoveryCode(user_id=user.id, code_hash=passwords.hash_password(code)))
    await session.flush()
    return codes


async def enrol_with_secret(
    *, session: AsyncSession, cfg: SecuritySettings, user: User, secret_b32: str
) -> None:
    """Enrol a known secret directly (demo seed and administrators' provisioning)."""
    user.totp_secret_enc = cipher(cfg).encrypt(secret_b32, context=f"totp:{user.id}")
    user.totp_enrolled_at = now()
    await session.flush()


async def authenticate(
    *, session: AsyncSession, token: str, kind: str | None = None, require_mfa: bool = True
) -> tuple[AuthSession, User]:
    """Resolve a session cookie or bearer token to its live session and active user."""
    row = await session.scalar(
        select(AuthSession).where(AuthSession.token_hash == token_hash(token))
    )
    if (
        row is None
        or row.revoked_at is not None
        or as_utc(row.expires_at) <= now()
        or (kind is not None and row.kind != kind)
        or (require_mfa and not row.mfa_passed)
    ):
        raise NotAuthenticated("not signed in or session expired", code="auth.required")
    user = await session.get(User, row.user_id)
    if user is None or not user.active:
        raise NotAuthenticated("not signed in or session expired", code="auth.required")
    stamp = now()
    if row.last_used_at is None or stamp - as_utc(row.last_used_at) > timedelta(minutes=1):
        row.last_used_at = stamp
    return row, user


async def still_signed_in(*, session: AsyncSession, session_id: int | None, user_id: int) -> bool:
    """The user is active and (when given) the session is neither revoked nor expired."""
    active = await session.scalar(select(User.active).where(User.id == user_id))
    if not active:
        return False
    if session_id is None:
        return True
    row = (
        await session.execute(
            select(AuthSession.revoked_at, AuthSession.expires_at).where(
                AuthSession.id == session_id, AuthSession.user_id == user_id
            )
        )
    ).first()
    return row is not None and row.revoked_at is None and as_utc(row.expires_at) > now()


class _SessionRef(Protocol):
    @property
    def id(self) -> int: ...


async def logout(*, session: AsyncSession, auth: _SessionRef, actor: Actor) -> None:
    """Revoke the session; once committed, its cached caller and open sockets go too."""
    await session.execute(
        update(AuthSession)
        .where(AuthSession.id == auth.id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=now())
    )
    revocation.revoke(session, session_ids=[auth.id])
    await audit.record(session=session, actor=actor, action="auth.logout")


async def revoke_all(*, session: AsyncSession, user_id: int) -> int:
    result = await session.execute(
        update(AuthSession)
        .where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=now())
    )
    revocation.revoke(session, user_ids=[user_id])
    return int(getattr(result, "rowcount", 0) or 0)


async def create_api_token(
    *,
    session: AsyncSession,
    username: str,
    name: str = "cli",
    days: float = 90.0,
    actor: Actor | None = None,
) -> IssuedSession:
    """Issue a bearer token for automation (`yiyun token create`)."""
    user = await user_by_username(session, username)
    if user is None or not user.active:
        raise NotFound("no active user with that username", code="user.not_found")
    if not 0 < days <= 366:
        raise InvalidInput("days must be between 0 and 366", code="auth.bad_token_lifetime")
    issued = await _issue(session, user, kind=API, hours=days * 24, mfa=True, ip=None, name=name)
    await audit.record(
        session=session,
        actor=actor or Actor(user_id=None, username="cli"),
        action="auth.token_created",
        entity_type="user",
        entity_id=user.id,
        institution_id=user.institution_id,
        details={"name": name, "days": days},
    )
    return issued


def expires_in_seconds(row: AuthSession) -> int:
    return max(0, int((as_utc(row.expires_at) - now()).total_seconds()))


def is_expired(at: datetime) -> bool:
    return as_utc(at) <= now()
