"""Resident accounts: one-time SMS codes, registration with a real-name check, sessions.

* A code is 6 digits, works for `code_minutes`, once, and only `code_max_attempts` wrong
  tries; only its keyed hash (HMAC of number and code) is stored. Codes are limited per
  number and per client address (`core.ratelimit`, keys that reveal neither), and a
  number waits `resend_seconds` between two codes.
* Signing in sends a code only to a registered number, but answers the same either way,
  so the form does not tell who has an account.
* Registering checks the resident ID number (GB 11643 check character, birth date) and
  links the account to the patient record the consortium holds for that number (the
  records domain's keyed hash), when one exists and the name matches it.
* Sessions are random tokens stored as SHA-256, in their own table and cookie; a staff
  session never opens resident pages and a resident session never opens staff pages.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.audit import service as audit
from yiyun.audit.service import Actor
from yiyun.core.clock import now
from yiyun.core.crypto import FieldCipher
from yiyun.core.errors import Conflict, InvalidInput, NotAuthenticated, RateLimited
from yiyun.core.ratelimit import Limiter, keyed
from yiyun.i18n import gettext
from yiyun.notify.channels import Channel, OutboundMessage, deliver
from yiyun.org.enums import InstitutionKind
from yiyun.org.models import Institution
from yiyun.records import resident_id
from yiyun.records.access import ID_CONTEXT, institutions_of, mask_phone
from yiyun.records.models import Patient
from yiyun.resident.config import ResidentSettings
from yiyun.resident.models import Resident, ResidentSession, SmsCode

PHONE_CONTEXT = "resident-phone"
CODE_CONTEXT = "resident-sms-code"
SIGN_IN, REGISTER = "sign_in", "register"
PURPOSES = frozenset({SIGN_IN, REGISTER})
CODE_DIGITS = 6
PHONE_SHAPE = "1[3-9] and 9 more digits"


@dataclass(frozen=True)
class ResidentPrincipal:
    """A signed-in resident, as resident pages and the inquiry rules see them."""

    resident_id: int
    name: str
    institution_id: int
    patient_id: int | None
    session_id: int
    csrf_token: str
    locale: str | None = None

    def actor(self, *, ip: str | None = None, request_id: str | None = None) -> Actor:
        return Actor(
            user_id=None,
            username=f"resident:{self.resident_id}",
            institution_id=None,
            ip=ip,
            request_id=request_id,
        )


@dataclass(frozen=True)
class Keys:
    """What the use cases need to hide numbers: the field cipher and the limiter's key."""

    cipher: FieldCipher
    secret_key: str


def _check_phone(phone: str) -> str:
    phone = phone.strip().replace(" ", "").replace("-", "")
    if len(phone) != 11 or not phone.isascii() or not phone.isdecimal() or phone[:2] < "13":
        raise InvalidInput(
            "enter an 11-digit mainland mobile number",
            code="resident.bad_phone",
            details={"field": "phone"},
        )
    return phone


def phone_hash(keys: Keys, phone: str) -> str:
    return keys.cipher.lookup_hash(phone, context=PHONE_CONTEXT)


def _code_hash(keys: Keys, phone: str, code: str) -> str:
    return keys.cipher.lookup_hash(f"{phone}:{code}", context=CODE_CONTEXT)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _minutes(seconds: float) -> int:
    return max(1, int(seconds // 60) + 1)


async def _limit(limiter: Limiter, key: str, *, limit: int, window: float) -> None:
    count = await limiter.hit(key, window=window)
    if count.over(limit):
        raise RateLimited(
            "too many codes requested; try again later",
            code="resident.code_rate_limited",
            details={"retry_after_minutes": _minutes(count.retry_after)},
        )


async def by_phone(session: AsyncSession, keys: Keys, phone: str) -> Resident | None:
    return await session.scalar(
        select(Resident).where(Resident.phone_hash == phone_hash(keys, phone))
    )


async def send_code(
    *,
    session: AsyncSession,
    keys: Keys,
    cfg: ResidentSettings,
    limiter: Limiter,
    sms: Channel,
    phone: str,
    purpose: str,
    ip: str | None,
    locale: str,
    at: datetime | None = None,
) -> bool:
    """Send a one-time code (limits first); returns whether one went out. For signing in
    to an unknown number nothing is sent, and the caller answers as if it was."""
    at = at or now()
    if purpose not in PURPOSES:
        raise InvalidInput("unknown purpose", code="resident.bad_purpose")
    phone = _check_phone(phone)
    window = cfg.code_window_minutes * 60
    await _limit(
        limiter,
        keyed(keys.secret_key, "sms-ip", ip or "unknown"),
        limit=cfg.codes_per_ip,
        window=window,
    )
    await _limit(
        limiter,
        keyed(keys.secret_key, "sms-phone", phone),
        limit=cfg.codes_per_phone,
        window=window,
    )
    digest = phone_hash(keys, phone)
    last = await session.scalar(
        select(SmsCode.created_at)
        .where(SmsCode.phone_hash == digest)
        .order_by(SmsCode.created_at.desc())
        .limit(1)
    )
    if last is not None and (at - last).total_seconds() < cfg.resend_seconds:
        raise RateLimited(
            "a code was sent a moment ago; wait a minute before asking again",
            code="resident.code_too_soon",
        )
    if purpose == SIGN_IN and await by_phone(session, keys, phone) is None:
        return False
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    session.add(
        SmsCode(
            phone_hash=digest,
            purpose=purpose,
            code_hash=_code_hash(keys, phone, code),
            created_at=at,
            expires_at=at + timedelta(minutes=cfg.code_minutes),
            attempts=0,
        )
    )
    await session.flush()
    text = gettext(
        locale, "Yiyun: your code is %(code)s. It works for %(minutes)s minutes; never share it."
    ) % {"code": code, "minutes": int(cfg.code_minutes)}
    subject = gettext(locale, "Verification code")
    return await deliver(sms, OutboundMessage(to=phone, subject=subject, body=text))


async def check_code(
    *,
    session: AsyncSession,
    keys: Keys,
    cfg: ResidentSettings,
    phone: str,
    code: str,
    purpose: str,
    at: datetime | None = None,
) -> None:
    """Use the number's latest code for `purpose`: once, in time, within its attempts.

    A wrong code counts against it (kept even though the request fails)."""
    at = at or now()
    wrong = InvalidInput(
        "the code is wrong or has expired; ask for a new one",
        code="resident.bad_code",
        details={"field": "code"},
    )
    code = code.strip()
    row = await session.scalar(
        select(SmsCode)
        .where(
            SmsCode.phone_hash == phone_hash(keys, phone),
            SmsCode.purpose == purpose,
            SmsCode.used_at.is_(None),
        )
        .order_by(SmsCode.created_at.desc())
        .limit(1)
        .execution_options(populate_existing=True)  # attempts counted by UPDATEs
    )
    if row is None or row.expires_at <= at or row.attempts >= cfg.code_max_attempts:
        raise wrong
    if not hmac.compare_digest(row.code_hash, _code_hash(keys, phone, code)):
        await session.execute(
            update(SmsCode)
            .where(SmsCode.id == row.id)
            .values(attempts=SmsCode.attempts + 1)
            .execution_options(synchronize_session=False)
        )
        wrong.keep_changes = True
        raise wrong
    used = await session.execute(
        update(SmsCode)
        .where(SmsCode.id == row.id, SmsCode.used_at.is_(None))
        .values(used_at=at)
        .execution_options(synchronize_session=False)
    )
    if getattr(used, "rowcount", 0) != 1:  # the same code used at the same moment elsewhere
        raise wrong


@dataclass(frozen=True)
class Registration:
    phone: str
    code: str
    name: str
    id_number: str
    institution_id: int
    locale: str | None = None


async def centres(session: AsyncSession) -> list[Institution]:
    """Where a resident may belong: the active community health centres."""
    query = select(Institution).where(
        Institution.kind == InstitutionKind.COMMUNITY_HEALTH_CENTRE, Institution.active.is_(True)
    )
    return list((await session.scalars(query.order_by(Institution.code))).all())


def _actor(resident: Resident, ip: str | None) -> Actor:
    return Actor(user_id=None, username=f"resident:{resident.id}", ip=ip)


async def register(
    *,
    session: AsyncSession,
    keys: Keys,
    cfg: ResidentSettings,
    data: Registration,
    ip: str | None = None,
) -> Resident:
    """A new resident account from a verified number and a checked ID number."""
    phone = _check_phone(data.phone)
    name = data.name.strip()
    if not name or len(name) > 100 or not name.isprintable():
        raise InvalidInput(
            "enter your name as on your ID card",
            code="resident.bad_name",
            details={"field": "name"},
        )
    try:
        parsed = resident_id.parse(data.id_number)
    except resident_id.ResidentIdError as exc:
        raise InvalidInput(
            str(exc), code="patient.bad_id_number", details={"field": "id_number"}
        ) from None
    centre = await session.get(Institution, data.institution_id)
    if (
        centre is None
        or centre.kind != InstitutionKind.COMMUNITY_HEALTH_CENTRE
        or not centre.active
    ):
        raise InvalidInput(
            "choose your community health centre",
            code="resident.bad_centre",
            details={"field": "institution_id"},
        )
    await check_code(
        session=session, keys=keys, cfg=cfg, phone=phone, code=data.code, purpose=REGISTER
    )
    if await by_phone(session, keys, phone) is not None:
        raise Conflict(
            "this mobile number already has an account; sign in instead",
            code="resident.phone_taken",
            details={"field": "phone"},
        )
    id_hash = keys.cipher.lookup_hash(parsed.number, context=ID_CONTEXT)
    if await session.scalar(select(Resident.id).where(Resident.id_number_hash == id_hash)):
        raise Conflict(
            "this ID number already has an account",
            code="resident.id_taken",
            details={"field": "id_number"},
        )
    patient = await session.scalar(select(Patient).where(Patient.id_number_hash == id_hash))
    if patient is not None and patient.name != name:
        raise InvalidInput(
            "the name does not match the one on record for this ID number",
            code="resident.name_mismatch",
            details={"field": "name"},
        )
    resident = Resident(
        phone_hash=phone_hash(keys, phone),
        phone_enc=keys.cipher.encrypt(phone, context=PHONE_CONTEXT),
        phone_masked=mask_phone(phone),
        name=name,
        id_number_hash=id_hash,
        id_number_enc=keys.cipher.encrypt(parsed.number, context=ID_CONTEXT),
        id_number_masked=parsed.masked,
        institution_id=centre.id,
        patient_id=patient.id if patient is not None else None,
        locale=data.locale,
        active=True,
    )
    session.add(resident)
    await session.flush()
    await audit.record(
        session=session,
        actor=_actor(resident, ip),
        action="resident.register",
        entity_type="resident",
        entity_id=resident.id,
        institution_id=centre.id,
        patient_id=resident.patient_id,
        subject_institutions=institutions_of(patient) if patient is not None else None,
        details={"linked": patient is not None},
    )
    return resident


def phone_of(resident: Resident, keys: Keys) -> str:
    return keys.cipher.decrypt(resident.phone_enc, context=PHONE_CONTEXT)


@dataclass(frozen=True)
class Issued:
    resident: Resident
    token: str
    session: ResidentSession


async def start_session(
    *, session: AsyncSession, cfg: ResidentSettings, resident: Resident, ip: str | None = None
) -> Issued:
    at = now()
    token = secrets.token_urlsafe(32)
    row = ResidentSession(
        token_hash=_token_hash(token),
        resident_id=resident.id,
        csrf_token=secrets.token_urlsafe(24),
        created_at=at,
        expires_at=at + timedelta(days=cfg.session_days),
    )
    session.add(row)
    resident.last_sign_in_at = at
    await session.flush()
    await audit.record(
        session=session,
        actor=_actor(resident, ip),
        action="resident.sign_in",
        entity_type="resident",
        entity_id=resident.id,
    )
    return Issued(resident=resident, token=token, session=row)


async def sign_in(
    *,
    session: AsyncSession,
    keys: Keys,
    cfg: ResidentSettings,
    phone: str,
    code: str,
    ip: str | None = None,
) -> Issued:
    phone = _check_phone(phone)
    await check_code(session=session, keys=keys, cfg=cfg, phone=phone, code=code, purpose=SIGN_IN)
    resident = await by_phone(session, keys, phone)
    if resident is None or not resident.active:
        raise InvalidInput(
            "the code is wrong or has expired; ask for a new one",
            code="resident.bad_code",
            details={"field": "code"},
        )
    return await start_session(session=session, cfg=cfg, resident=resident, ip=ip)


async def authenticate(*, session: AsyncSession, token: str) -> ResidentPrincipal:
    """The resident a session cookie belongs to, or `NotAuthenticated`."""
    row = await session.scalar(
        select(ResidentSession).where(ResidentSession.token_hash == _token_hash(token))
    )
    if row is None or row.revoked_at is not None or row.expires_at <= now():
        raise NotAuthenticated("sign in required", code="resident.required")
    resident = await session.get(Resident, row.resident_id)
    if resident is None or not resident.active:
        raise NotAuthenticated("sign in required", code="resident.required")
    return ResidentPrincipal(
        resident_id=resident.id,
        name=resident.name,
        institution_id=resident.institution_id,
        patient_id=resident.patient_id,
        session_id=row.id,
        csrf_token=row.csrf_token,
        locale=resident.locale,
    )


async def sign_out(*, session: AsyncSession, principal: ResidentPrincipal) -> None:
    row = await session.get(ResidentSession, principal.session_id)
    if row is not None and row.revoked_at is None:
        row.revoked_at = now()
        await session.flush()
        await audit.record(
            session=session,
            actor=principal.actor(),
            action="resident.sign_out",
            entity_type="resident",
            entity_id=principal.resident_id,
        )
