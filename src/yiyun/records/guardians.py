"""Finding a guardian for a minor at registration: adults the registering person may see."""

from __future__ import annotations

from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.audit import service as audit
from yiyun.auth.policy import Action, Target, require
from yiyun.core.clock import now
from yiyun.records import service
from yiyun.records.models import Patient
from yiyun.records.schemas import ADULT_AGE

LIMIT = 10


def adult_born_by(today: date) -> date:
    """The latest birth date of someone who is an adult today (29 Feb → 28 Feb)."""
    try:
        return today.replace(year=today.year - ADULT_AGE)
    except ValueError:
        return today.replace(year=today.year - ADULT_AGE, day=28)


def require_registrar(ctx: service.Ctx) -> None:
    """Only someone who may register a patient here picks a guardian."""
    require(ctx.principal, Action.REGISTER_PATIENT, Target.of(ctx.principal.institution_id))


async def candidates(*, session: AsyncSession, ctx: service.Ctx, q: str) -> list[Patient]:
    """Adults matching a name or patient number, within the caller's patient scope (audited)."""
    require_registrar(ctx)
    text_q = q.strip()[:100]
    if not text_q:
        return []
    like = text_q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    query = (
        service.visible_query(ctx.principal)
        .where(Patient.birth_on <= adult_born_by(now().date()))
        .where(Patient.name.ilike(f"%{like}%", escape="\\") | (Patient.mpi == text_q.upper()))
        .order_by(Patient.name, Patient.id)
        .limit(LIMIT)
    )
    rows = list((await session.scalars(query)).all())
    await audit.record(
        session=session,
        actor=ctx.actor,
        action="patient.list",
        entity_type="patient",
        details={"query": True, "purpose": "guardian", "patient_ids": [p.id for p in rows]},
    )
    return rows
