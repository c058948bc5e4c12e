"""Consultations as encounters for syndromic surveillance (`syndromes.derive_counts`).

A consultation counts once, at the inviting institution (where the patient was seen), on
the district day its opinion was signed, with the signed diagnoses (the newest version)
and the request's reason as the complaint.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.audit.service import Actor
from yiyun.consult.models import Consult, Opinion
from yiyun.core.clock import DISTRICT_TZ, district
from yiyun.surveillance import ingest, syndromes
from yiyun.surveillance.models import IngestResult


async def encounters(session: AsyncSession, start: date, end: date) -> list[syndromes.Encounter]:
    """Signed consultations of the district days [start, end]."""
    lo = datetime.combine(start, time.min, DISTRICT_TZ)
    hi = datetime.combine(end + timedelta(days=1), time.min, DISTRICT_TZ)
    rows = (
        await session.execute(
            select(Consult, Opinion)
            .join(Opinion, Opinion.consult_id == Consult.id)
            .where(Opinion.signed_at >= lo, Opinion.signed_at < hi)
            .order_by(Consult.id, Opinion.version)
        )
    ).all()
    newest: dict[int, tuple[Consult, Opinion]] = {}
    first_signed: dict[int, datetime] = {}
    for consult, op in rows:
        newest[consult.id] = (consult, op)
        first_signed.setdefault(consult.id, op.signed_at or lo)
    return [
        syndromes.Encounter(
            site_id=consult.institution_id,
            on=district(first_signed[cid]).date(),
            icd10_codes=[d["code"] for d in op.diagnoses],
            complaint=consult.reason,
        )
        for cid, (consult, op) in newest.items()
    ]


async def store_counts(
    *, session: AsyncSession, actor: Actor, start: date, end: date
) -> IngestResult:
    """Classify the consultations of [start, end] and store them as derived counts."""
    found = await encounters(session, start, end)
    definitions = await syndromes.load_definitions(session)
    return await ingest.store_derived(
        session=session, actor=actor, counts=syndromes.derive_counts(found, definitions)
    )
