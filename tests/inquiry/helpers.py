"""Residents and inquiries made straight in the database, for the inquiry tests."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.factories import World
from yiyun.core.statemachine import seed
from yiyun.inquiry.models import Inquiry, InquiryMessage, InquiryState
from yiyun.records import resident_id
from yiyun.records.access import ID_CONTEXT
from yiyun.resident import service as resident_service
from yiyun.resident.models import Resident
from yiyun.resident.service import ResidentPrincipal

AT = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
_serial = itertools.count(1)


def keys(app: Any) -> resident_service.Keys:
    secret = app.state.settings.security.secret_key.get_secret_value()
    return resident_service.Keys(cipher=app.state.cipher, secret_key=secret)


async def make_resident(
    app: Any, world: World, *, centre: str = "chc_a", patient: str | None = None
) -> ResidentPrincipal:
    """A resident of `centre`; with `patient`, the same person as that patient record."""
    n = next(_serial)
    k = keys(app)
    phone = f"1370000{n:04d}"
    number = resident_id.make("440305", datetime(1980, 1, 1).date(), 200 + n)
    async with app.state.sessions() as s, s.begin():
        row = world.patients[patient] if patient else None
        resident = Resident(
            phone_hash=resident_service.phone_hash(k, phone),
            phone_enc=k.cipher.encrypt(phone, context=resident_service.PHONE_CONTEXT),
            phone_masked=phone[:3] + "****" + phone[-4:],
            name=row.name if row else f"居民{n}",
            id_number_hash=row.id_number_hash
            if row and row.id_number_hash
            else k.cipher.lookup_hash(number, context=ID_CONTEXT),
            id_number_enc=k.cipher.encrypt(number, context=ID_CONTEXT),
            id_number_masked=resident_id.mask(number),
            institution_id=world.inst[centre].id,
            patient_id=row.id if row else None,
            active=True,
        )
        s.add(resident)
        await s.flush()
        return ResidentPrincipal(
            resident_id=resident.id,
            name=resident.name,
            institution_id=resident.institution_id,
            patient_id=resident.patient_id,
            session_id=0,
            csrf_token="",
        )


async def make_inquiry(
    app: Any,
    world: World,
    resident: ResidentPrincipal,
    state: InquiryState = InquiryState.OPEN,
    *,
    pool: str = "chc_a",
    claimer: str | None = None,
    due_in_hours: float = 24,
) -> int:
    async with app.state.sessions() as s, s.begin():
        inquiry = Inquiry(
            resident_id=resident.resident_id,
            institution_id=world.inst[pool].id,
            patient_id=resident.patient_id,
            title="血压偏高",
            claimed_by_id=world.users[claimer].id if claimer else None,
            reply_due_at=AT + timedelta(hours=due_in_hours) if due_in_hours < 1e6 else AT,
            rating_comment="",
            created_at=AT,
            updated_at=AT,
        )
        seed(inquiry, state)
        s.add(inquiry)
        await s.flush()
        s.add(
            InquiryMessage(inquiry_id=inquiry.id, from_resident=True, body="早上145", created_at=AT)
        )
        return inquiry.id


async def add_file(app: Any, inquiry_id: int) -> int:
    """A stored photo on the inquiry's first message."""
    from sqlalchemy import select

    from yiyun.inquiry.models import InquiryFile

    async with app.state.sessions() as s, s.begin():
        message_id = await s.scalar(
            select(InquiryMessage.id).where(InquiryMessage.inquiry_id == inquiry_id).limit(1)
        )
        key = f"inquiry/{inquiry_id}/test{next(_serial)}"
        await app.state.store.put(key, b"\x89PNG\r\n\x1a\n" + b"\x00" * 16)
        row = InquiryFile(
            inquiry_id=inquiry_id,
            message_id=message_id,
            blob_key=key,
            filename="photo.png",
            content_type="image/png",
            size_bytes=24,
            sha256="0" * 64,
            created_at=AT,
        )
        s.add(row)
        await s.flush()
        return row.id


async def resident_session(app: Any, principal: ResidentPrincipal) -> tuple[str, str]:
    """A signed-in session for the resident: (cookie token, CSRF token)."""
    async with app.state.sessions() as s, s.begin():
        resident = await s.get(Resident, principal.resident_id)
        issued = await resident_service.start_session(
            session=s, cfg=app.state.settings.residents, resident=resident
        )
        return issued.token, issued.session.csrf_token
