"""Informed consent on a patient's record: grant, withdraw, list, ask (audited)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.auth.policy import Action
from yiyun.core.clock import now
from yiyun.core.errors import Conflict, InvalidInput, NotFound
from yiyun.org.models import Institution
from yiyun.records.access import Ctx, load_patient, record
from yiyun.records.enums import ConsentPurpose
from yiyun.records.models import Consent
from yiyun.records.schemas import ConsentCreate


async def list_consents(*, session: AsyncSession, ctx: Ctx, patient_id: int) -> list[Consent]:
    patient = await load_patient(session=session, ctx=ctx, patient_id=patient_id)
    rows = (
        await session.scalars(
            select(Consent)
            .where(Consent.patient_id == patient_id)
            .order_by(Consent.granted_at.desc())
        )
    ).all()
    await record(session, ctx, "consent.list", patient)
    return list(rows)


async def has_consent(
    *,
    session: AsyncSession,
    patient_id: int,
    purpose: ConsentPurpose,
    target_institution_id: int | None = None,
) -> bool:
    """Whether an unwithdrawn consent for the purpose is on record (later domains ask)."""
    query = select(Consent.id).where(
        Consent.patient_id == patient_id, Consent.purpose == purpose, Consent.withdrawn_at.is_(None)
    )
    if target_institution_id is not None:
        query = query.where(Consent.target_institution_id == target_institution_id)
    return (await session.scalar(query.limit(1))) is not None


async def grant_consent(
    *, session: AsyncSession, ctx: Ctx, patient_id: int, data: ConsentCreate
) -> Consent:
    patient = await load_patient(
        session=session, ctx=ctx, patient_id=patient_id, action=Action.WRITE_PATIENT
    )
    if data.purpose == ConsentPurpose.SHARING and data.target_institution_id is None:
        raise InvalidInput(
            "sharing consent names the receiving institution",
            code="consent.target_required",
            details={"field": "target_institution_id"},
        )
    if data.purpose != ConsentPurpose.SHARING and data.target_institution_id is not None:
        raise InvalidInput(
            "only sharing consent names an institution",
            code="consent.unexpected_target",
            details={"field": "target_institution_id"},
        )
    if (
        data.target_institution_id is not None
        and await session.get(Institution, data.target_institution_id) is None
    ):
        raise InvalidInput(
            "institution does not exist",
            code="consent.bad_target",
            details={"field": "target_institution_id"},
        )
    if await has_consent(
        session=session,
        patient_id=patient_id,
        purpose=data.purpose,
        target_institution_id=data.target_institution_id,
    ):
        raise Conflict("this consent is already on record", code="consent.duplicate")
    consent = Consent(
        patient_id=patient_id,
        purpose=data.purpose,
        target_institution_id=data.target_institution_id,
        granted_at=now(),
        granted_by_id=ctx.principal.user_id,
        note=data.note,
    )
    session.add(consent)
    await session.flush()
    await record(
        session,
        ctx,
        "consent.grant",
        patient,
        entity_type="consent",
        entity_id=consent.id,
        details={"purpose": data.purpose.value},
    )
    return consent


async def withdraw_consent(
    *, session: AsyncSession, ctx: Ctx, patient_id: int, consent_id: int
) -> Consent:
    patient = await load_patient(
        session=session, ctx=ctx, patient_id=patient_id, action=Action.WRITE_PATIENT
    )
    consent = await session.get(Consent, consent_id)
    if consent is None or consent.patient_id != patient_id:
        raise NotFound("consent not found", code="consent.not_found")
    if consent.withdrawn_at is not None:
        raise Conflict("consent was already withdrawn", code="consent.already_withdrawn")
    consent.withdrawn_at = now()
    consent.withdrawn_by_id = ctx.principal.user_id
    await session.flush()
    await record(
        session,
        ctx,
        "consent.withdraw",
        patient,
        entity_type="consent",
        entity_id=consent.id,
        details={"purpose": consent.purpose.value},
    )
    return consent
