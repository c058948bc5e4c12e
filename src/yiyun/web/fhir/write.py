"""FHIR R4 writes a partner system (or staff) needs: create Patient, create ServiceRequest.

- `POST /Patient` registers a patient in the caller's institution through
  `records.patients.register` (the master patient index: a resident ID number already
  registered is never duplicated, 409). `If-None-Exist: identifier=<system>|<number>`
  makes it conditional: a match the caller may read is returned (200) instead.
- `POST /ServiceRequest` is an upward referral from the partner's HIS into the referral
  workflow (`referrals.service.refer_up`): subject, requester (a practitioner of the
  caller's institution), performer (the receiving hospital), reason, note, occurrence.

Bodies are validated with the R4B models of fhir.resources; a refusal is an
OperationOutcome naming the path of the bad element.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import Response
from fhir.resources.R4B.patient import Patient as FhirPatient
from fhir.resources.R4B.servicerequest import ServiceRequest as FhirServiceRequest
from pydantic import ValidationError
from sqlalchemy import select

from yiyun.core.errors import InvalidInput, NotFound
from yiyun.org.models import User
from yiyun.records import resident_id
from yiyun.records import service as records_service
from yiyun.records.models import Patient
from yiyun.records.patients import register
from yiyun.records.schemas import PatientCreate
from yiyun.referrals import service as referral_service
from yiyun.referrals.schemas import ReferralUp
from yiyun.web.deps import DbSession
from yiyun.web.fhir import resources as res
from yiyun.web.fhir.caller import FhirCtx
from yiyun.web.fhir.clinical import service_request
from yiyun.web.fhir.router import _patients

router = APIRouter()
MAX_BODY = 64 * 1024


def _invalid(message: str, path: str) -> InvalidInput:
    return InvalidInput(message, code="fhir.invalid_resource", details={"path": path})


async def _body(request: Request, model: Any, rtype: str) -> Any:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise _invalid("the resource is too large", rtype)
    try:
        data = json.loads(raw)
    except ValueError:
        raise _invalid("the body is not JSON", rtype) from None
    if not isinstance(data, dict) or data.get("resourceType") != rtype:
        raise _invalid(f"the body must be a {rtype} resource", f"{rtype}.resourceType")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        path = ".".join([rtype, *(str(p) for p in first.get("loc", ()))])
        raise _invalid(f"invalid {path}: {first.get('msg', '')[:200]}", path) from None


def _respond(resource: Any, status: int, location: str | None = None) -> Response:
    headers = {"Cache-Control": "no-store"}
    if location:
        headers["Location"] = location
    return Response(
        resource.model_dump_json(), status_code=status, media_type=res.FHIR_JSON, headers=headers
    )


def _resident_number(patient: FhirPatient) -> str | None:
    for ident in patient.identifier or []:
        if ident.system == res.SYS_RESIDENT_ID and ident.value:
            return str(ident.value)
    return None


def _patient_create(patient: FhirPatient) -> PatientCreate:
    name = patient.name[0] if patient.name else None
    given = [str(g) for g in name.given or [] if g] if name else []
    text = (name.text or "".join([name.family or "", *given])) if name else ""
    phone = next((t.value for t in patient.telecom or [] if t.system == "phone" and t.value), None)
    data: dict[str, Any] = {
        "name": text,
        "id_number": _resident_number(patient),
        "sex": patient.gender if patient.gender in ("male", "female") else None,
        "birth_on": patient.birthDate,
        "phone": phone,
        "address": (patient.address[0].text or "") if patient.address else "",
    }
    try:
        return PatientCreate.model_validate({k: v for k, v in data.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first.get("loc", ()))
        path = {"name": "Patient.name", "id_number": "Patient.identifier"}.get(
            field, f"Patient.{field}"
        )
        raise _invalid(f"invalid {path}", path) from None


async def _existing(session: DbSession, ctx: FhirCtx, condition: str) -> Patient | None:
    """The patient an `If-None-Exist: identifier=system|value` names, if the caller sees it."""
    key, _, value = condition.partition("=")
    system, _, number = value.partition("|")
    if key != "identifier" or system not in (res.SYS_RESIDENT_ID, res.SYS_MPI) or not number:
        raise _invalid("If-None-Exist supports identifier=<system>|<value>", "If-None-Exist")
    try:
        if system == res.SYS_MPI:
            found = await session.scalar(select(Patient).where(Patient.mpi == number))
            if found is None:
                return None
            return await records_service.read(session=session, ctx=ctx, patient_id=found.id)
        return await records_service.find_by_id_number(session=session, ctx=ctx, id_number=number)
    except (NotFound, InvalidInput, resident_id.ResidentIdError):
        return None


@router.post("/Patient")
async def create_patient(
    request: Request,
    session: DbSession,
    ctx: FhirCtx,
    if_none_exist: str | None = Header(default=None, max_length=200),
) -> Response:
    """Register a patient (conditional with `If-None-Exist`); 201 with its Location."""
    body = await _body(request, FhirPatient, "Patient")
    if if_none_exist:
        found = await _existing(session, ctx, if_none_exist)
        if found is not None:
            return _respond((await _patients(session, ctx, [found]))[0], 200)
    created = await register(session=session, ctx=ctx, data=_patient_create(body))
    resource = (await _patients(session, ctx, [created]))[0]
    return _respond(resource, 201, f"{_base(request)}/Patient/{created.id}")


def _base(request: Request) -> str:
    return str(request.url_for("fhir_metadata")).removesuffix("/metadata")


def _ref(value: str | None, rtype: str, path: str) -> int:
    raw = (value or "").removeprefix(f"{rtype}/")
    if not raw.isdecimal() or not 0 < int(raw) < 2**31:
        raise _invalid(f"{path} must reference a {rtype}", path)
    return int(raw)


@router.post("/ServiceRequest")
async def create_service_request(request: Request, session: DbSession, ctx: FhirCtx) -> Response:
    """An upward referral from the caller's institution (201 with its Location)."""
    body = await _body(request, FhirServiceRequest, "ServiceRequest")
    subject = body.subject.reference if body.subject else None
    patient_id = _ref(subject, "Patient", "ServiceRequest.subject")
    requester_id = _ref(
        body.requester.reference if body.requester else None,
        "Practitioner",
        "ServiceRequest.requester",
    )
    performer = body.performer[0].reference if body.performer else None
    to_id = _ref(performer, "Organization", "ServiceRequest.performer")
    requester = await session.get(User, requester_id)
    if requester is None or requester.institution_id != ctx.principal.institution_id:
        raise _invalid(
            "the requester is not a practitioner of your institution", "ServiceRequest.requester"
        )
    reason = next((c.text for c in body.reasonCode or [] if c.text), None) or ""
    summary = "\n".join(n.text for n in body.note or [] if n.text)
    when = body.occurrenceDateTime
    try:
        data = ReferralUp.model_validate(
            {
                "patient_id": patient_id,
                "to_institution_id": to_id,
                "reason": reason,
                "summary": summary,
                "appointment_at": when if isinstance(when, datetime) else None,
            }
        )
    except ValidationError as exc:
        field = str(exc.errors()[0].get("loc", ("",))[0])
        path = {
            "reason": "ServiceRequest.reasonCode",
            "summary": "ServiceRequest.note",
            "appointment_at": "ServiceRequest.occurrenceDateTime",
        }.get(field, f"ServiceRequest.{field}")
        raise _invalid(f"invalid {path}", path) from None
    referral = await referral_service.refer_up(
        session=session,
        bus=request.app.state.bus,
        ctx=ctx,
        data=data,
        requested_by_id=requester.id,
    )
    return _respond(
        service_request(referral), 201, f"{_base(request)}/ServiceRequest/{referral.id}"
    )
