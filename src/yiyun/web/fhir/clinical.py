"""FHIR R4 read and search for the clinical workflows: Schedule, Slot and Appointment
(remote clinics) and ServiceRequest (referrals; consultations' are in `consult.py`).

Scoping is the domains' own: an Appointment (a clinic visit) is seen by the session's
specialist and the booking centre; a ServiceRequest (a referral) by the referring and
the receiving institution; Schedules and Slots (times, no patient data) by any staff.
Reads and searches of patient-bearing resources are audited. Declared before the
generic `/{resource_type}` routes of `router.py`, so these types are served here.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from fhir.resources.R4B.appointment import Appointment
from fhir.resources.R4B.resource import Resource
from fhir.resources.R4B.schedule import Schedule
from fhir.resources.R4B.servicerequest import ServiceRequest
from fhir.resources.R4B.slot import Slot
from sqlalchemy import select

from yiyun.audit import service as audit
from yiyun.clinics import board
from yiyun.clinics.models import ClinicSession, ClinicSlot, ClinicVisit
from yiyun.core.errors import InvalidInput, NotFound
from yiyun.records import access as records_access
from yiyun.records.models import Patient
from yiyun.referrals import service as referral_service
from yiyun.referrals.models import Referral
from yiyun.web.deps import DbSession
from yiyun.web.fhir import consult as fhir_consult
from yiyun.web.fhir import resources as res
from yiyun.web.fhir.bundle import searchset
from yiyun.web.fhir.caller import FhirCtx

router = APIRouter()
SYS_VISIT_STATE = "urn:yiyun:clinic-visit-state"
SYS_REFERRAL_STATE = "urn:yiyun:referral-state"
SYS_SPECIALTY = "urn:yiyun:specialty"
MAX = 100

APPOINTMENT_STATUS = {
    "booked": "booked",
    "checked_in": "checked-in",
    "in_visit": "arrived",
    "completed": "fulfilled",
    "no_show": "noshow",
    "cancelled": "cancelled",
}
REQUEST_STATUS = {
    "requested": "active",
    "accepted": "active",
    "arrived": "active",
    "completed": "completed",
    "rejected": "revoked",
    "cancelled": "revoked",
}


def _ref(rtype: str, ident: int) -> dict[str, str]:
    return {"reference": f"{rtype}/{ident}"}


def _id(raw: str, what: str) -> int:
    if not raw.isdecimal() or not 0 < int(raw) < 2**31:
        raise NotFound(f"{what} not found", code="fhir.not_found")
    return int(raw)


def _ref_id(raw: str | None, rtype: str) -> int | None:
    if raw is None:
        return None
    value = raw.removeprefix(f"{rtype}/")
    if not value.isdecimal() or not 0 < int(value) < 2**31:
        raise InvalidInput(
            "a search parameter has an invalid value",
            code="fhir.bad_parameter",
            details={"value": raw},
        )
    return int(value)


def schedule(clinic: ClinicSession) -> Schedule:
    return Schedule(
        id=str(clinic.id),
        active=clinic.state.value == "published",
        actor=[
            _ref("Practitioner", clinic.specialist_id),
            _ref("Organization", clinic.institution_id),
        ],
        serviceType=[{"text": clinic.title}],
        specialty=[{"coding": [res._coding(SYS_SPECIALTY, clinic.specialty)]}]
        if clinic.specialty
        else None,
        planningHorizon={"start": clinic.starts_at, "end": clinic.ends_at},
    )


def slot(row: ClinicSlot) -> Slot:
    return Slot(
        id=str(row.id),
        schedule=_ref("Schedule", row.session_id),
        status="free" if row.visit_id is None else "busy",
        start=row.starts_at,
        end=row.ends_at,
    )


def appointment(visit: ClinicVisit) -> Appointment:
    return Appointment(
        id=str(visit.id),
        status=APPOINTMENT_STATUS[visit.state.value],
        meta={"tag": [res._coding(SYS_VISIT_STATE, visit.state.value)]},
        priority=1 if visit.urgent else 5,
        description=visit.reason or None,
        start=visit.expected_at,
        slot=[_ref("Slot", visit.slot_id)] if visit.slot_id else None,
        created=visit.booked_at,
        participant=[
            {"actor": _ref("Patient", visit.patient_id), "status": "accepted"},
            {"actor": _ref("Practitioner", visit.specialist_id), "status": "accepted"},
            {"actor": _ref("Organization", visit.institution_id), "status": "accepted"},
        ],
    )


def service_request(referral: Referral) -> ServiceRequest:
    notes = [{"text": referral.summary}]
    if referral.care_plan:
        notes.append({"text": referral.care_plan})
    return ServiceRequest(
        id=str(referral.id),
        status=REQUEST_STATUS[referral.state.value],
        intent="order",
        meta={"tag": [res._coding(SYS_REFERRAL_STATE, referral.state.value)]},
        category=[
            {
                "coding": [res._coding("http://snomed.info/sct", "3457005", "Patient referral")],
                "text": "upward referral"
                if referral.direction.value == "up"
                else "downward referral",
            }
        ],
        subject=_ref("Patient", referral.patient_id),
        authoredOn=referral.created_at,
        requester=_ref("Practitioner", referral.requested_by_id),
        performer=[_ref("Organization", referral.to_institution_id)],
        occurrenceDateTime=referral.appointment_at,
        reasonCode=[{"text": referral.reason}],
        basedOn=[_ref("ServiceRequest", referral.parent_id)] if referral.parent_id else None,
        note=notes,
    )


def _respond(resource: Resource) -> Response:
    return Response(
        resource.model_dump_json(),
        media_type=f"{res.FHIR_JSON}; charset=utf-8",
        headers={"Cache-Control": "no-store"},
    )


def _bundle(request: Request, rtype: str, found: list[Any]) -> Response:
    base = str(request.base_url).rstrip("/") + "/fhir/r4"
    link = [{"relation": "self", "url": str(request.url)}]
    return _respond(searchset(base=base, resources=found, total=len(found), link=link))


@router.get("/Schedule/{resource_id}")
async def read_schedule(resource_id: str, session: DbSession, ctx: FhirCtx) -> Response:
    clinic = await session.get(ClinicSession, _id(resource_id, "Schedule"))
    if clinic is None:
        raise NotFound("Schedule not found", code="fhir.not_found")
    return _respond(schedule(clinic))


@router.get("/Schedule")
async def search_schedule(
    request: Request, session: DbSession, ctx: FhirCtx, actor: str | None = None
) -> Response:
    """Clinic sessions; `actor=Practitioner/<id>` for one specialist's."""
    query = select(ClinicSession).order_by(ClinicSession.starts_at.desc()).limit(MAX)
    if (who := _ref_id(actor, "Practitioner")) is not None:
        query = query.where(ClinicSession.specialist_id == who)
    return _bundle(request, "Schedule", [schedule(c) for c in await session.scalars(query)])


@router.get("/Slot/{resource_id}")
async def read_slot(resource_id: str, session: DbSession, ctx: FhirCtx) -> Response:
    row = await session.get(ClinicSlot, _id(resource_id, "Slot"))
    if row is None:
        raise NotFound("Slot not found", code="fhir.not_found")
    return _respond(slot(row))


@router.get("/Slot")
async def search_slot(
    request: Request,
    session: DbSession,
    ctx: FhirCtx,
    schedule: str | None = None,
    status: str | None = None,
) -> Response:
    """Slots of one Schedule (`schedule=Schedule/<id>`), optionally `status=free|busy`."""
    wanted = _ref_id(schedule, "Schedule")
    if wanted is None:
        raise InvalidInput(
            "search slots of one schedule (schedule=Schedule/<id>)", code="fhir.bad_parameter"
        )
    query = select(ClinicSlot).where(ClinicSlot.session_id == wanted).order_by(ClinicSlot.starts_at)
    if status == "free":
        query = query.where(ClinicSlot.visit_id.is_(None))
    elif status == "busy":
        query = query.where(ClinicSlot.visit_id.is_not(None))
    return _bundle(request, "Slot", [slot(s) for s in await session.scalars(query.limit(MAX))])


@router.get("/Appointment/{resource_id}")
async def read_appointment(resource_id: str, session: DbSession, ctx: FhirCtx) -> Response:
    visit = await session.get(ClinicVisit, _id(resource_id, "Appointment"))
    if visit is None or not board.visible_to(ctx.principal, visit):
        raise NotFound("Appointment not found", code="fhir.not_found")
    patient = await session.get(Patient, visit.patient_id)
    if patient is not None:
        await records_access.record(
            session,
            ctx,
            "clinic.visit.read",
            patient,
            entity_type="clinic_visit",
            entity_id=visit.id,
        )
    return _respond(appointment(visit))


@router.get("/Appointment")
async def search_appointment(
    request: Request,
    session: DbSession,
    ctx: FhirCtx,
    patient: str | None = None,
    status: str | None = None,
) -> Response:
    """The caller's clinic visits, by `patient=Patient/<id>` and FHIR `status`."""
    query = select(ClinicVisit).where(board.visible(ctx.principal))
    if (pid := _ref_id(patient, "Patient")) is not None:
        query = query.where(ClinicVisit.patient_id == pid)
    if status:
        states = [k for k, v in APPOINTMENT_STATUS.items() if v == status]
        query = query.where(ClinicVisit.state.in_(states))
    rows = list(await session.scalars(query.order_by(ClinicVisit.expected_at.desc()).limit(MAX)))
    await audit.record(
        session=session,
        actor=ctx.actor,
        action="clinic.visit.list",
        details={"results": len(rows)},
    )
    return _bundle(request, "Appointment", [appointment(v) for v in rows])


@router.get("/ServiceRequest/{resource_id}")
async def read_service_request(resource_id: str, session: DbSession, ctx: FhirCtx) -> Response:
    """A referral (`<id>`) or a remote consultation (`consult-<id>`, `fhir/consult.py`)."""
    if resource_id.startswith(fhir_consult.PREFIX):
        return await fhir_consult.read_request(session, ctx, resource_id)
    try:
        referral = await referral_service.read_with_audit(
            session=session, ctx=ctx, referral_id=_id(resource_id, "ServiceRequest")
        )
    except NotFound:
        raise NotFound("ServiceRequest not found", code="fhir.not_found") from None
    return _respond(service_request(referral))


@router.get("/ServiceRequest")
async def search_service_request(
    request: Request,
    session: DbSession,
    ctx: FhirCtx,
    patient: str | None = None,
    status: str | None = None,
) -> Response:
    """Referrals to and from the caller's institution and the caller's consultations, by
    `patient` and FHIR `status`."""
    work = await referral_service.worklist(session=session, principal=ctx.principal, limit=MAX)
    rows = [r.referral for r in work.rows]
    if (pid := _ref_id(patient, "Patient")) is not None:
        rows = [r for r in rows if r.patient_id == pid]
    if status:
        rows = [r for r in rows if REQUEST_STATUS[r.state.value] == status]
    await audit.record(
        session=session,
        actor=ctx.actor,
        action="referral.list",
        details={"results": len(rows)},
    )
    consults = await fhir_consult.search_requests(session, ctx, pid, status)
    return _bundle(request, "ServiceRequest", [*(service_request(r) for r in rows), *consults])
