"""Break the glass: emergency access to a patient outside one's scope.

Administrators run IT and read no patient record by default. When a support case or an
emergency needs one, an administrator opens a grant for one patient (the consortium
administrator for any patient, an institution administrator for its own institution's):
the grant names the reason, lasts at most two hours, allows reading only, and is audited
for the patient's institutions to see, as is every read made under it. It ends by itself,
or earlier when the person who opened it ends it (audited too).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.auth.policy import Action, Relationship, Target, allows, own, require
from yiyun.auth.principal import Principal
from yiyun.core.clock import now
from yiyun.core.errors import Conflict, InvalidInput, NotFound
from yiyun.records.access import Ctx, institutions_of, record
from yiyun.records.models import BreakGlass, Patient

MIN_MINUTES, MAX_MINUTES = 5, 120
MIN_REASON = 10


def active_query(principal: Principal) -> Select[Any]:
    """The principal's grants that hold now."""
    return select(BreakGlass).where(
        BreakGlass.user_id == principal.user_id,
        BreakGlass.ended_at.is_(None),
        BreakGlass.expires_at > now(),
    )


def patients_under_break_glass(principal: Principal) -> Select[Any]:
    return select(active_query(principal).subquery().c.patient_id)


BREAK_GLASS = Relationship(
    name="records.break_glass",
    grants=frozenset({Action.READ_PATIENT}),
    patients=patients_under_break_glass,
)


def may_break_glass(principal: Principal) -> bool:
    """Whether the principal may open emergency access at all (to some patient)."""
    return allows(principal, Action.BREAK_GLASS, own(principal))


def _require_may(principal: Principal) -> None:
    require(principal, Action.BREAK_GLASS, own(principal))


async def open_grant(
    *, session: AsyncSession, ctx: Ctx, patient_id: int, reason: str, minutes: int = 30
) -> BreakGlass:
    """Open emergency read access to one patient (audited with the reason).

    A patient outside the caller's reach (another institution's, for an institution
    administrator) is "not found", and the attempt is audited as denied.
    """
    _require_may(ctx.principal)
    reason = reason.strip()
    if len(reason) < MIN_REASON:
        raise InvalidInput(
            "say why you need emergency access",
            code="break_glass.reason_required",
            details={"field": "reason"},
        )
    if not MIN_MINUTES <= minutes <= MAX_MINUTES:
        raise InvalidInput(
            "emergency access lasts 5 to 120 minutes",
            code="break_glass.bad_duration",
            details={"field": "minutes"},
        )
    patient = await session.get(Patient, patient_id)
    if patient is None:
        raise NotFound("patient not found", code="patient.not_found")
    if not allows(ctx.principal, Action.BREAK_GLASS, Target(institutions_of(patient))):
        await record(session, ctx, "patient.break_glass", patient, outcome="denied")
        raise NotFound("patient not found", code="patient.not_found", keep_changes=True)
    started = now()
    grant = BreakGlass(
        user_id=ctx.principal.user_id,
        patient_id=patient.id,
        reason=reason[:500],
        started_at=started,
        expires_at=started + timedelta(minutes=minutes),
    )
    session.add(grant)
    await session.flush()
    await record(
        session,
        ctx,
        "patient.break_glass",
        patient,
        entity_type="break_glass",
        entity_id=grant.id,
        details={"reason": grant.reason, "minutes": minutes},
    )
    return grant


async def open_by_number(
    *, session: AsyncSession, ctx: Ctx, number: str, reason: str, minutes: int = 30
) -> BreakGlass:
    """The same, naming the patient by patient number (MPI), for the form."""
    _require_may(ctx.principal)
    unknown = InvalidInput(
        "no patient with this number",
        code="break_glass.unknown_patient",
        details={"field": "patient_number"},
    )
    found = await session.scalar(select(Patient.id).where(Patient.mpi == number.strip().upper()))
    if found is None:
        raise unknown
    try:
        return await open_grant(
            session=session, ctx=ctx, patient_id=found, reason=reason, minutes=minutes
        )
    except NotFound:
        unknown.keep_changes = True  # the denied attempt stays in the audit log
        raise unknown from None


async def end_grant(*, session: AsyncSession, ctx: Ctx, grant_id: int) -> BreakGlass:
    """End one's own emergency access before it lapses (audited).

    Someone else's grant is "not found"; one that has ended or lapsed already is a
    conflict.
    """
    _require_may(ctx.principal)
    grant = await session.get(BreakGlass, grant_id)
    if grant is None or grant.user_id != ctx.principal.user_id:
        raise NotFound("emergency access not found", code="break_glass.not_found")
    holds = await session.scalar(
        select(BreakGlass.id).where(
            BreakGlass.id == grant.id, BreakGlass.ended_at.is_(None), BreakGlass.expires_at > now()
        )
    )
    if holds is None:
        raise Conflict("this emergency access has ended already", code="break_glass.ended")
    grant.ended_at = now()
    await session.flush()
    patient = await session.get(Patient, grant.patient_id)
    if patient is not None:
        await record(
            session,
            ctx,
            "patient.break_glass_end",
            patient,
            entity_type="break_glass",
            entity_id=grant.id,
        )
    return grant


async def mine(*, session: AsyncSession, principal: Principal) -> list[BreakGlass]:
    """The principal's grants that hold now, soonest to expire first."""
    _require_may(principal)
    rows = await session.scalars(active_query(principal).order_by(BreakGlass.expires_at))
    return list(rows.all())
