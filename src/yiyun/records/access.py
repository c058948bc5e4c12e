"""Who may see which patient: the context of every patient use case and the one loader.

Access goes through `auth.policy`: institution scope or a registered relationship.
Outsiders get "not found" and a denied entry in the audit log. Every audit entry about a
patient names the patient's institutions (`subject_institutions`), so the owning
institution sees in its audit log who elsewhere touched its patients.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Select, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from yiyun.audit import service as audit
from yiyun.audit.service import Actor
from yiyun.auth import policy
from yiyun.auth.policy import Action
from yiyun.auth.principal import Principal
from yiyun.core.crypto import FieldCipher
from yiyun.core.errors import NotFound, YiyunError
from yiyun.records.models import Patient, PatientRecordNo

_WITH_RECORD_NUMBERS = (joinedload(Patient.record_numbers),)
ID_CONTEXT = "resident-id"
PHONE_CONTEXT = "patient-phone"


@dataclass(frozen=True)
class Ctx:
    """What every patient use case needs: who, from where, and the field cipher."""

    principal: Principal
    actor: Actor
    cipher: FieldCipher


def age_on(birth_on: date, today: date) -> int:
    return today.year - birth_on.year - ((today.month, today.day) < (birth_on.month, birth_on.day))


def mask_phone(phone: str) -> str:
    return phone[:3] + "****" + phone[-4:]


def institutions_of(patient: Patient) -> frozenset[int]:
    return frozenset(
        {patient.home_institution_id, *(r.institution_id for r in patient.record_numbers)}
    )


def visible_query(principal: Principal, action: Action = Action.READ_PATIENT) -> Select[Any]:
    """Patients the principal may see for `action`: `policy.scope` over a patient's
    institutions (home or registered at), or a relationship with the patient."""
    scope = policy.scope(principal, action)
    query = select(Patient)
    if scope.everywhere:
        return query
    registered = exists().where(
        PatientRecordNo.patient_id == Patient.id, scope.where(PatientRecordNo.institution_id)
    )
    return query.where(
        or_(scope.where(Patient.home_institution_id), registered, scope.where_related(Patient.id))
    )


async def record(
    session: AsyncSession,
    ctx: Ctx,
    action: str,
    patient: Patient,
    *,
    outcome: str = "success",
    entity_type: str = "patient",
    entity_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """One audit entry about a patient, naming the patient's institutions."""
    await audit.record(
        session=session,
        actor=ctx.actor,
        action=action,
        outcome=outcome,
        entity_type=entity_type,
        entity_id=patient.id if entity_id is None else entity_id,
        patient_id=patient.id,
        subject_institutions=institutions_of(patient),
        details=details,
    )


async def load_patient(
    *, session: AsyncSession, ctx: Ctx, patient_id: int, action: Action = Action.READ_PATIENT
) -> Patient:
    """Fetch a patient the principal may access; audit a denial, raise NotFound for outsiders."""
    # The record numbers come in the same query (a join), not in a second one.
    patient = await session.get(Patient, patient_id, options=_WITH_RECORD_NUMBERS)
    if patient is None:
        raise NotFound("patient not found", code="patient.not_found")
    try:
        await policy.require_patient(
            session,
            ctx.principal,
            action,
            patient_id=patient.id,
            institutions=institutions_of(patient),
        )
    except YiyunError as err:
        await record(session, ctx, str(action), patient, outcome="denied")
        err.keep_changes = True
        raise err from None
    return patient
