"""Referral use cases: refer up or down, decide, receive, complete; lists with counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.auth.policy import Action, Target, allows, own, require
from yiyun.auth.principal import Principal
from yiyun.core.bus import EventBus
from yiyun.core.clock import as_utc, now
from yiyun.core.errors import Conflict, InvalidInput, NotFound
from yiyun.org import specialties
from yiyun.org.enums import InstitutionKind
from yiyun.org.models import Department, Institution
from yiyun.records import access as records_access
from yiyun.records import service as records_service
from yiyun.records.models import Patient
from yiyun.referrals import workflow
from yiyun.referrals.models import Direction, Referral, ReferralState
from yiyun.referrals.schemas import Decision, ReferralDown, ReferralUp

HOSPITALS = (InstitutionKind.LEAD_HOSPITAL, InstitutionKind.HOSPITAL)
SLACK = timedelta(minutes=5)


def _bad(field: str, message: str, code: str) -> InvalidInput:
    return InvalidInput(message, code=code, details={"field": field, "reasons": [message]})


async def _target(
    session: AsyncSession, principal: Principal, institution_id: int, kinds: tuple[str, ...]
) -> Institution:
    inst = await session.get(Institution, institution_id)
    if inst is None or not inst.active or inst.kind not in kinds:
        message = (
            "refer upward to a hospital"
            if InstitutionKind.HOSPITAL in kinds
            else "refer downward to a community health centre"
        )
        raise _bad("to_institution_id", message, "referral.bad_target")
    if inst.id == principal.institution_id:
        raise _bad(
            "to_institution_id", "a referral goes to another institution", "referral.same_site"
        )
    return inst


def _future(value: datetime | None, at: datetime) -> None:
    if value is not None and as_utc(value) < at - SLACK:
        raise _bad("appointment_at", "the appointment is in the past", "referral.past")


async def _create(
    session: AsyncSession,
    bus: EventBus,
    ctx: records_service.Ctx,
    patient: Patient,
    referral: Referral,
) -> Referral:
    session.add(referral)
    await session.flush()
    await records_access.record(
        session,
        ctx,
        "referral.request",
        patient,
        entity_type="referral",
        entity_id=referral.id,
        details={"direction": referral.direction.value, "to": referral.to_institution_id},
    )
    workflow.MACHINE.announce(
        session=session,
        bus=bus,
        entity_id=referral.id,
        action="request",
        before=None,
        after=referral.state,
        at=referral.created_at,
        extra=workflow.event_fields(referral),
    )
    return referral


async def refer_up(
    *,
    session: AsyncSession,
    bus: EventBus,
    ctx: records_service.Ctx,
    data: ReferralUp,
    requested_by_id: int | None = None,
) -> Referral:
    """A community centre refers its patient to a hospital department, with a booked
    appointment and the clinical summary. A partner system (the centre's HIS) names the
    requesting practitioner of its institution (`requested_by_id`)."""
    principal, at = ctx.principal, now()
    require(principal, Action.REFER, own(principal))
    patient = await records_service.load_patient(
        session=session, ctx=ctx, patient_id=data.patient_id, action=Action.WRITE_PATIENT
    )
    await _target(session, principal, data.to_institution_id, HOSPITALS)
    if data.to_department_id is not None:
        dept = await session.get(Department, data.to_department_id)
        if dept is None or dept.institution_id != data.to_institution_id:
            raise _bad(
                "to_department_id",
                "the department is not in that hospital",
                "referral.bad_department",
            )
    _future(data.appointment_at, at)
    return await _create(
        session,
        bus,
        ctx,
        patient,
        Referral(
            direction=Direction.UP,
            patient_id=patient.id,
            from_institution_id=principal.institution_id,
            to_institution_id=data.to_institution_id,
            to_department_id=data.to_department_id,
            specialty=specialties.require(data.specialty, field="specialty", optional=True),
            reason=data.reason,
            summary=data.summary,
            appointment_at=as_utc(data.appointment_at),
            state=ReferralState.REQUESTED,
            requested_by_id=requested_by_id or principal.user_id,
            created_at=at,
        ),
    )


async def refer_down(
    *, session: AsyncSession, bus: EventBus, ctx: records_service.Ctx, data: ReferralDown
) -> Referral:
    """A hospital sends a patient back with the discharge summary and a care plan: its own
    patient, or one referred up to it who is here (the upward referral arrived)."""
    principal, at = ctx.principal, now()
    require(principal, Action.REFER, own(principal))
    parent: Referral | None = None
    if data.parent_id is not None:
        parent = await session.get(Referral, data.parent_id)
        if (
            parent is None
            or parent.to_institution_id != principal.institution_id
            or parent.patient_id != data.patient_id
        ):
            raise _bad("parent_id", "no such referral to your institution", "referral.bad_parent")
        if parent.state is not ReferralState.ARRIVED:
            raise workflow.MACHINE.illegal(parent.state, "refer_down")
    patient = await records_service.load_patient(
        session=session, ctx=ctx, patient_id=data.patient_id, action=Action.READ_PATIENT
    )
    if parent is None:
        await records_service.load_patient(
            session=session, ctx=ctx, patient_id=data.patient_id, action=Action.WRITE_PATIENT
        )
    await _target(
        session, principal, data.to_institution_id, (InstitutionKind.COMMUNITY_HEALTH_CENTRE,)
    )
    _future(data.appointment_at, at)
    return await _create(
        session,
        bus,
        ctx,
        patient,
        Referral(
            direction=Direction.DOWN,
            patient_id=patient.id,
            from_institution_id=principal.institution_id,
            to_institution_id=data.to_institution_id,
            parent_id=parent.id if parent else None,
            reason=data.reason,
            summary=data.summary,
            care_plan=data.care_plan,
            appointment_at=as_utc(data.appointment_at) if data.appointment_at else None,
            state=ReferralState.REQUESTED,
            requested_by_id=principal.user_id,
            created_at=at,
        ),
    )


def may_see(principal: Principal, referral: Referral) -> bool:
    return allows(principal, Action.REFER, Target.of(referral.from_institution_id)) or allows(
        principal, Action.REFER, Target.of(referral.to_institution_id)
    )


async def get(*, session: AsyncSession, principal: Principal, referral_id: int) -> Referral:
    referral = await session.get(Referral, referral_id)
    if referral is None or not may_see(principal, referral):
        raise NotFound("referral not found", code="referral.not_found")
    return referral


ACTIONS = ("accept", "reject", "arrive", "complete", "cancel")


async def decide(
    *,
    session: AsyncSession,
    bus: EventBus,
    ctx: records_service.Ctx,
    referral_id: int,
    action: str,
    data: Decision,
) -> Referral:
    """Accept (optionally moving the appointment), reject or cancel with a reason,
    record the arrival, complete."""
    referral = await get(session=session, principal=ctx.principal, referral_id=referral_id)
    if action not in ACTIONS:
        raise workflow.MACHINE.illegal(referral.state, action)
    workflow.MACHINE.check(referral, action, ctx.principal)
    if action in ("reject", "cancel") and not data.reason:
        raise _bad("reason", "give a reason", "referral.reason_required")
    if action == "accept" and data.appointment_at is not None:
        _future(data.appointment_at, now())
        referral.appointment_at = as_utc(data.appointment_at)
    if action == "accept" and referral.direction is Direction.UP and not referral.appointment_at:
        raise _bad("appointment_at", "book the appointment when accepting", "referral.no_time")
    await workflow.step(
        session=session,
        bus=bus,
        principal=ctx.principal,
        actor=ctx.actor,
        referral=referral,
        action=action,
        reason=data.reason,
    )
    return referral


@dataclass(frozen=True)
class Row:
    referral: Referral
    patient_name: str
    from_name: str
    to_name: str


@dataclass(frozen=True)
class Worklist:
    rows: list[Row]
    counts: dict[str, int]
    total: int


async def worklist(
    *,
    session: AsyncSession,
    principal: Principal,
    box: str = "all",
    state: str | None = None,
    direction: str | None = None,
    limit: int = 200,
) -> Worklist:
    """Referrals in (to the caller's institution) and out (from it), with counts by state."""
    inst = principal.institution_id
    if not allows(principal, Action.REFER, Target.of(inst)):
        return Worklist([], {}, 0)
    if box == "in":
        query = select(Referral).where(Referral.to_institution_id == inst)
    elif box == "out":
        query = select(Referral).where(Referral.from_institution_id == inst)
    else:
        query = select(Referral).where(
            or_(Referral.to_institution_id == inst, Referral.from_institution_id == inst)
        )
    if direction in ("up", "down"):
        query = query.where(Referral.direction == direction)
    sub = query.subquery()
    counted = await session.execute(select(sub.c.state, func.count()).group_by(sub.c.state))
    counts = {str(s): int(n) for s, n in counted.all()}
    if state:
        query = query.where(Referral.state == state)
    rows = list(await session.scalars(query.order_by(Referral.created_at.desc()).limit(limit)))
    names: dict[int, str] = {}
    sites: dict[int, str] = {}
    if rows:
        names = dict(
            (
                await session.execute(
                    select(Patient.id, Patient.name).where(
                        Patient.id.in_({r.patient_id for r in rows})
                    )
                )
            ).all()
        )
        ids = {r.from_institution_id for r in rows} | {r.to_institution_id for r in rows}
        sites = dict(
            (
                await session.execute(
                    select(Institution.id, Institution.name).where(Institution.id.in_(ids))
                )
            ).all()
        )
    return Worklist(
        rows=[
            Row(
                referral=r,
                patient_name=names.get(r.patient_id, ""),
                from_name=sites.get(r.from_institution_id, ""),
                to_name=sites.get(r.to_institution_id, ""),
            )
            for r in rows
        ],
        counts=counts,
        total=sum(counts.values()),
    )


async def read_with_audit(
    *, session: AsyncSession, ctx: records_service.Ctx, referral_id: int
) -> Referral:
    """A referral's detail (its summary is patient data): audited with the patient's
    institutions."""
    referral = await get(session=session, principal=ctx.principal, referral_id=referral_id)
    patient = await session.get(Patient, referral.patient_id)
    if patient is None:
        raise Conflict("the referred patient is missing", code="referral.patient_missing")
    await records_access.record(
        session, ctx, "referral.read", patient, entity_type="referral", entity_id=referral.id
    )
    return referral
