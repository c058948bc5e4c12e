"""FHIR R4 for remote consultations: the request as a ServiceRequest, its workflow state
as a Task, and each signed opinion as a DiagnosticReport with the signed PDF as its
`presentedForm`.

Ids are prefixed so they never collide with referrals' ServiceRequests:
`ServiceRequest/consult-<id>`, `Task/consult-<id>`, `DiagnosticReport/opinion-<id>`.
Scoping is the consultation's own (`consult.service.get`: the requester and the inviting
institution, the experts asked, the invited department, dispatchers and the authority;
clinical text only to those who see it), and every read or search is audited with the
patient's institutions.
"""

from __future__ import annotations

import base64
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from fhir.resources.R4B.diagnosticreport import DiagnosticReport
from fhir.resources.R4B.servicerequest import ServiceRequest
from fhir.resources.R4B.task import Task
from sqlalchemy import select

from yiyun.audit import service as audit
from yiyun.consult import opinion as opinions
from yiyun.consult import service as consult_service
from yiyun.consult.models import Consult, Opinion
from yiyun.core.errors import NotFound
from yiyun.records.access import Ctx
from yiyun.web.deps import DbSession, Store
from yiyun.web.fhir import resources as res
from yiyun.web.fhir.bundle import searchset
from yiyun.web.fhir.caller import FhirCtx

router = APIRouter()
PREFIX, OPINION_PREFIX = "consult-", "opinion-"
SYS_STATE = "urn:yiyun:consult-state"
SYS_SPECIALTY = "urn:yiyun:specialty"
SYS_ICD10 = "http://hl7.org/fhir/sid/icd-10"
MAX = 100

REQUEST_STATUS = {
    "draft": "draft",
    "requested": "active",
    "assigned": "active",
    "accepted": "active",
    "in_session": "active",
    "reported": "active",
    "closed": "completed",
    "cancelled": "revoked",
}
TASK_STATUS = {
    "draft": "draft",
    "requested": "requested",
    "assigned": "received",
    "accepted": "accepted",
    "in_session": "in-progress",
    "reported": "completed",
    "closed": "completed",
    "cancelled": "cancelled",
}
PRIORITY = {"emergency": "stat", "urgent": "urgent", "routine": "routine"}


def _ref(rtype: str, ident: int | str) -> dict[str, str]:
    return {"reference": f"{rtype}/{ident}"}


def consult_id(raw: str, prefix: str = PREFIX) -> int:
    """The number of a prefixed id (`consult-12` → 12), else "not found"."""
    value = raw.removeprefix(prefix)
    if value == raw or not value.isdecimal() or not 0 < int(value) < 2**31:
        raise NotFound("resource not found", code="fhir.not_found")
    return int(value)


def service_request(consult: Consult, *, clinical: bool) -> ServiceRequest:
    return ServiceRequest(
        id=f"{PREFIX}{consult.id}",
        status=REQUEST_STATUS[consult.state.value],
        intent="order",
        priority=PRIORITY[consult.urgency.value],
        meta={"tag": [res._coding(SYS_STATE, consult.state.value)]},
        identifier=[{"system": "urn:yiyun:consult", "value": consult_service.number(consult)}],
        category=[
            {
                "coding": [res._coding("http://snomed.info/sct", "11429006", "Consultation")],
                "text": "remote consultation"
                + (" (multidisciplinary)" if consult.kind.value == "mdt" else ""),
            }
        ],
        code={"coding": [res._coding(SYS_SPECIALTY, consult.specialty)]},
        subject=_ref("Patient", consult.patient_id),
        authoredOn=consult.created_at,
        requester=_ref("Practitioner", consult.requester_id),
        performer=[_ref("Practitioner", e) for e in sorted(consult.accepted_ids)] or None,
        occurrenceDateTime=consult.scheduled_at,
        reasonCode=[{"text": consult.reason}],
        supportingInfo=[_ref("DocumentReference", d) for d in consult.document_ids] or None,
        note=[{"text": consult.summary}] if clinical and consult.summary else None,
    )


def task(consult: Consult) -> Task:
    owner = consult.accepted_by_id or next(iter(sorted(consult.accepted_ids)), None)
    return Task.model_validate(
        {
            "resourceType": "Task",
            "id": f"{PREFIX}{consult.id}",
            "status": TASK_STATUS[consult.state.value],
            "businessStatus": {"coding": [res._coding(SYS_STATE, consult.state.value)]},
            "intent": "order",
            "priority": PRIORITY[consult.urgency.value],
            "basedOn": [_ref("ServiceRequest", f"{PREFIX}{consult.id}")],
            "focus": _ref("ServiceRequest", f"{PREFIX}{consult.id}"),
            "for": _ref("Patient", consult.patient_id),
            "authoredOn": consult.created_at.isoformat(),
            "lastModified": (
                consult.closed_at
                or consult.cancelled_at
                or consult.reported_at
                or consult.started_at
                or consult.submitted_at
                or consult.created_at
            ).isoformat(),
            "requester": _ref("Practitioner", consult.requester_id),
            "owner": _ref("Practitioner", owner) if owner else None,
            "executionPeriod": (
                {"start": consult.scheduled_at.isoformat()} if consult.scheduled_at else None
            ),
        }
    )


def report(consult: Consult, op: Opinion, *, pdf: bytes | None = None) -> DiagnosticReport:
    form: dict[str, Any] = {
        "contentType": "application/pdf",
        "language": "zh-CN",
        "url": f"/api/v1/consults/{consult.id}/opinions/{op.id}/pdf",
        "title": f"远程会诊意见 {consult_service.number(consult)} v{op.version}",
    }
    if pdf is not None:
        form["data"] = base64.b64encode(pdf).decode()
        form["size"] = len(pdf)
    return DiagnosticReport(
        id=f"{OPINION_PREFIX}{op.id}",
        status="amended" if op.supersedes_id else "final",
        meta={"tag": [res._coding("urn:yiyun:sha256", op.sha256 or "")]},
        basedOn=[_ref("ServiceRequest", f"{PREFIX}{consult.id}")],
        code={"coding": [res._coding("http://loinc.org", "11488-4", "Consult note")]},
        subject=_ref("Patient", consult.patient_id),
        issued=op.signed_at,
        performer=[_ref("Practitioner", op.author_id)],
        conclusion=op.recommendations or None,
        conclusionCode=[
            {"coding": [res._coding(SYS_ICD10, d["code"], d.get("name"))]} for d in op.diagnoses
        ],
        presentedForm=[form],
    )


def _respond(resource: Any) -> Response:
    return Response(
        resource.model_dump_json(),
        media_type=f"{res.FHIR_JSON}; charset=utf-8",
        headers={"Cache-Control": "no-store"},
    )


def _bundle(request: Request, found: list[Any]) -> Response:
    base = str(request.base_url).rstrip("/") + "/fhir/r4"
    link = [{"relation": "self", "url": str(request.url)}]
    return _respond(searchset(base=base, resources=found, total=len(found), link=link))


async def _load(session: DbSession, ctx: Ctx, raw: str, what: str) -> tuple[Consult, bool]:
    try:
        consult = await consult_service.get(
            session=session, principal=ctx.principal, consult_id=consult_id(raw)
        )
    except NotFound:
        raise NotFound(f"{what} not found", code="fhir.not_found") from None
    experts = await consult_service.experts_of(session, consult.id)
    clinical = consult_service.sees_clinical(ctx.principal, consult, experts)
    await consult_service.audit_read(session, ctx, consult, "consult.read", fhir=what)
    return consult, clinical


async def read_request(session: DbSession, ctx: Ctx, resource_id: str) -> Response:
    consult, clinical = await _load(session, ctx, resource_id, "ServiceRequest")
    return _respond(service_request(consult, clinical=clinical))


async def search_requests(
    session: DbSession, ctx: Ctx, patient: int | None, status: str | None
) -> list[ServiceRequest]:
    """The caller's consultations (their default worklist) as ServiceRequests."""
    try:
        work = await consult_service.worklist(session=session, principal=ctx.principal, limit=MAX)
    except NotFound:
        return []
    rows = [c for c in work.items if patient is None or c.patient_id == patient]
    if status:
        rows = [c for c in rows if REQUEST_STATUS[c.state.value] == status]
    await audit.record(
        session=session, actor=ctx.actor, action="consult.list", details={"results": len(rows)}
    )
    out = []
    for consult in rows:
        experts = await consult_service.experts_of(session, consult.id)
        consult_service.attach(consult, experts)
        clinical = consult_service.sees_clinical(ctx.principal, consult, experts)
        out.append(service_request(consult, clinical=clinical))
    return out


@router.get("/Task/{resource_id}")
async def read_task(resource_id: str, session: DbSession, ctx: FhirCtx) -> Response:
    consult, _ = await _load(session, ctx, resource_id, "Task")
    return _respond(task(consult))


@router.get("/Task")
async def search_task(
    request: Request, session: DbSession, ctx: FhirCtx, focus: str | None = None
) -> Response:
    """The workflow state of one consultation: `focus=ServiceRequest/consult-<id>`."""
    if focus is None:
        return _bundle(request, [])
    consult, _ = await _load(session, ctx, focus.removeprefix("ServiceRequest/"), "Task")
    return _bundle(request, [task(consult)])


@router.get("/DiagnosticReport/{resource_id}")
async def read_report(resource_id: str, session: DbSession, ctx: FhirCtx, store: Store) -> Response:
    """A signed opinion, its PDF inline (base64) in `presentedForm` (audited)."""
    op = await session.get(Opinion, consult_id(resource_id, OPINION_PREFIX))
    if op is None or op.pdf_key is None:
        raise NotFound("DiagnosticReport not found", code="fhir.not_found")
    try:
        op, data = await opinions.opinion_pdf(
            session=session, ctx=ctx, store=store, consult_id=op.consult_id, opinion_id=op.id
        )
        consult = await consult_service.get(
            session=session, principal=ctx.principal, consult_id=op.consult_id
        )
    except NotFound:
        raise NotFound("DiagnosticReport not found", code="fhir.not_found") from None
    return _respond(report(consult, op, pdf=data))


@router.get("/DiagnosticReport")
async def search_report(
    request: Request, session: DbSession, ctx: FhirCtx, based_on: str | None = None
) -> Response:
    """The signed opinions of one consultation: `based-on=ServiceRequest/consult-<id>`."""
    raw = request.query_params.get("based-on") or based_on
    if raw is None:
        return _bundle(request, [])
    consult, clinical = await _load(
        session, ctx, raw.removeprefix("ServiceRequest/"), "DiagnosticReport"
    )
    if not clinical:
        return _bundle(request, [])
    rows = await session.scalars(
        select(Opinion)
        .where(Opinion.consult_id == consult.id, Opinion.pdf_key.is_not(None))
        .order_by(Opinion.version)
    )
    return _bundle(request, [report(consult, op) for op in rows])
