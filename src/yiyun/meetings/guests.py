"""One-time guest invitations: a patient or relative joins a meeting without an account.

The host (or a co-host) invites a guest and gets a link and a 6-digit code, once; they
go out by SMS when there is a phone. Only hashes are stored: SHA-256 of the link token
(192 random bits) and SHA-256 of link + code (so the code cannot be guessed offline
without the link). The phone is AES-GCM encrypted. The guest opens the link and types
the code: five wrong codes block the invitation. The first browser that passes is bound
to it with a signed cookie (`yiyun_guest`: guest id + a random nonce whose hash is
stored); the link then works only in that browser. The cookie also keys the guest's
CSRF token. Invitations expire an hour after the meeting's planned end (instant
meetings: a day) and stop working when revoked or when the meeting is over.

Secrets never reach logs or the audit log; guest actions are audited as `guest:<id>`.
This module is the host's side; `guest_access.py` is the guest's.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun import i18n
from yiyun.audit import service as audit
from yiyun.audit.service import Actor
from yiyun.auth.principal import Principal
from yiyun.core.bus import EventBus
from yiyun.core.clock import as_utc, now
from yiyun.core.crypto import FieldCipher
from yiyun.core.errors import (
    InvalidInput,
    NotFound,
)
from yiyun.meetings import members, room, schedule, service, workflow
from yiyun.meetings.config import MeetingSettings
from yiyun.meetings.models import Meeting, MeetingGuest
from yiyun.meetings.schemas import GuestCreate, GuestRead
from yiyun.notify.channels import OutboundMessage
from yiyun.records import service as records_service

PHONE_CONTEXT = "meeting-guest-phone"
LINK_BYTES = 24  # 192 bits, URL-safe base64 (32 characters)
CODE_DIGITS = 6


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def code_hash(link: str, code: str) -> str:
    return sha256(f"{link}:{code}")


def state_of(guest: MeetingGuest, *, max_attempts: int, at: datetime | None = None) -> str:
    if guest.revoked_at is not None:
        return "revoked"
    if as_utc(guest.expires_at) <= (at or now()):
        return "expired"
    if guest.verified_at is not None:
        return "verified"
    if guest.attempts >= max_attempts:
        return "blocked"
    return "invited"


FULL, NAME, NOTHING = "full", "name", "nothing"


def read(
    guest: MeetingGuest, cipher: FieldCipher, *, max_attempts: int, detail: str = FULL
) -> GuestRead:
    """A guest as the viewer may see them: `full` for the chair (who invited them),
    `name` for members of the meeting's institution, `nothing` (state only) for members
    from other institutions, who need not know who the patient is."""
    phone = phone_of(guest, cipher) if detail == FULL else None
    return GuestRead(
        id=guest.id,
        meeting_id=guest.meeting_id,
        display_name=guest.display_name if detail in (FULL, NAME) else None,
        patient_id=guest.patient_id if detail == FULL else None,
        phone_masked=records_service.mask_phone(phone) if phone else None,
        state=state_of(guest, max_attempts=max_attempts),
        expires_at=guest.expires_at,
        verified_at=guest.verified_at,
        revoked_at=guest.revoked_at,
        created_at=guest.created_at,
    )


def phone_of(guest: MeetingGuest, cipher: FieldCipher) -> str | None:
    return cipher.decrypt(guest.phone_enc, context=PHONE_CONTEXT) if guest.phone_enc else None


# --- the host's side ---------------------------------------------------------------------


@dataclass(frozen=True)
class Issued:
    """A new invitation with its secrets, which exist only in this object."""

    guest: MeetingGuest
    meeting: Meeting
    link: str
    code: str
    phone: str | None


async def invite(
    *,
    session: AsyncSession,
    ctx: records_service.Ctx,
    meeting_id: int,
    data: GuestCreate,
    config: MeetingSettings,
) -> Issued:
    """Invite a guest (host or co-host); name and phone default from the patient."""
    meeting = await service.get(session=session, principal=ctx.principal, meeting_id=meeting_id)
    await members.require_chair(session, meeting, ctx.principal)
    workflow.check(meeting, "invite_guest")
    name, phone = data.display_name, data.phone
    if data.patient_id is not None:
        patient = await schedule.accessible_patient(session, ctx, data.patient_id)
        name = name or patient.name
        if phone is None and patient.phone_enc:
            phone = ctx.cipher.decrypt(patient.phone_enc, context=records_service.PHONE_CONTEXT)
    if not name:
        message = "give the guest's name or choose a patient"
        raise InvalidInput(message, code="guest.name_required", details={"reasons": [message]})
    link, code = secrets.token_urlsafe(LINK_BYTES), f"{secrets.randbelow(10**CODE_DIGITS):06d}"
    guest = MeetingGuest(
        meeting_id=meeting.id,
        display_name=name[:100],
        patient_id=data.patient_id,
        phone_enc=ctx.cipher.encrypt(phone, context=PHONE_CONTEXT) if phone else None,
        token_hash=sha256(link),
        code_hash=code_hash(link, code),
        expires_at=schedule.guest_expiry(meeting, instant_hours=config.instant_guest_hours),
        attempts=0,
        invited_by_id=ctx.principal.user_id,
    )
    session.add(guest)
    await session.flush()
    await audit.record(
        session=session,
        actor=ctx.actor,
        action="meeting.guest_invite",
        entity_type="meeting",
        entity_id=meeting.id,
        patient_id=data.patient_id,
        details={"guest_id": guest.id, "phone": phone is not None},
    )
    return Issued(guest=guest, meeting=meeting, link=link, code=code, phone=phone)


async def list_guests(
    *,
    session: AsyncSession,
    principal: Principal,
    meeting_id: int,
    cipher: FieldCipher,
    max_attempts: int,
) -> list[GuestRead]:
    """A meeting's guests, each shown as much as the viewer's part needs (`read`)."""
    meeting = await service.get(session=session, principal=principal, meeting_id=meeting_id)
    role = await members.role_of(session, meeting, principal.user_id)
    if role in members.CHAIRS:
        detail = FULL
    elif principal.institution_id == meeting.institution_id:
        detail = NAME
    else:
        detail = NOTHING
    query = select(MeetingGuest).where(MeetingGuest.meeting_id == meeting.id)
    rows = (await session.scalars(query.order_by(MeetingGuest.id))).all()
    return [read(g, cipher, max_attempts=max_attempts, detail=detail) for g in rows]


async def revoke(
    *,
    session: AsyncSession,
    principal: Principal,
    actor: Actor,
    meeting_id: int,
    guest_id: int,
    bus: EventBus | None = None,
) -> MeetingGuest:
    """Withdraw an invitation (host or co-host); the link stops working at once and a
    guest already in the meeting is put out of it (when a bus is given)."""
    meeting = await service.get(session=session, principal=principal, meeting_id=meeting_id)
    await members.require_chair(session, meeting, principal)
    guest = await session.get(MeetingGuest, guest_id)
    if guest is None or guest.meeting_id != meeting.id:
        raise NotFound("guest not found", code="guest.not_found")
    if guest.revoked_at is None:
        guest.revoked_at = now()
        await session.flush()
        await audit.record(
            session=session,
            actor=actor,
            action="meeting.guest_revoke",
            entity_type="meeting",
            entity_id=meeting.id,
            details={"guest_id": guest.id},
        )
    if bus is not None:
        await room.expel_guest(bus, meeting.id, guest.id)
    return guest


def invitation_sms(
    *, locale: str, issued: Issued, url: str, when: str, phone: str
) -> OutboundMessage:
    text = i18n.gettext(
        locale,
        'Yiyun: %(name)s, you are invited to the video meeting "%(title)s" (%(when)s). '
        "Open %(url)s and enter the code %(code)s. The link works on one device only; "
        "do not share it.",
    ) % {
        "name": issued.guest.display_name,
        "title": issued.meeting.title,
        "when": when,
        "url": url,
        "code": issued.code,
    }
    return OutboundMessage(
        to=phone, subject=i18n.gettext(locale, "Video meeting invitation"), body=text
    )
