"""FHIR R4 read and search: Organization, Location, Practitioner, PractitionerRole, Patient.

Scoping is the REST API's (`auth.policy`). Patient reads go through
`records.service.read` and searches through `visible_query` plus a `patient.list` audit
entry, so outsiders get 404 and every access is on the audit chain. Each body is built
as a `fhir.resources` model, so what leaves the server validates. Search parameters are
parsed in `bundle` and turned into SQL in `search`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from fhir.resources.R4B.resource import Resource
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun import __version__
from yiyun.audit import service as audit
from yiyun.auth.policy import Action, Target, own, require
from yiyun.core.clock import now
from yiyun.core.errors import NotFound
from yiyun.inquiry import fhir as inquiry_fhir
from yiyun.inquiry import service as inquiry_service
from yiyun.inquiry.models import Inquiry
from yiyun.org import service as org_service
from yiyun.org.models import Department, Terminal, User
from yiyun.records import resident_id
from yiyun.records import service as records_service
from yiyun.records.models import Patient
from yiyun.records.service import Ctx
from yiyun.web.deps import DbSession
from yiyun.web.fhir import resources as res
from yiyun.web.fhir.bundle import (
    SearchRequest,
    links,
    parse_id,
    parse_search,
    parse_token,
    searchset,
)
from yiyun.web.fhir.caller import FhirCtx
from yiyun.web.fhir.search import PATIENT, TABLES, clauses, count, institution_codes, search_tables

router = APIRouter()
JSON_FORMATS = frozenset(
    {"json", "application/json", "application/fhir+json", "application/json+fhir"}
)


async def _patients(session: AsyncSession, ctx: Ctx, rows: list[Patient]) -> list[Resource]:
    reads = [await records_service.to_read(session, p, ctx.cipher) for p in rows]
    codes = await institution_codes(
        session, (r.institution_id for read in reads for r in read.record_numbers)
    )
    return [
        res.patient(read, institution_codes=codes, updated_at=p.updated_at)
        for read, p in zip(reads, rows, strict=True)
    ]


def _full_resident_id(raw: str) -> str | None:
    token = parse_token(raw)
    if token.code is None or token.system not in (None, res.SYS_RESIDENT_ID):
        return None
    if token.system is None:
        try:
            resident_id.parse(token.code)
        except resident_id.ResidentIdError:
            return None
    return token.code


async def _resolve_resident_ids(
    session: AsyncSession, ctx: Ctx, request: SearchRequest
) -> SearchRequest:
    """Swap full resident ID numbers for the MPI of the patient each one names.

    The lookup goes through the keyed hash (`find_by_id_number`, which audits a denied
    lookup). The MPI then filters and appears in the links, so no response echoes the
    number. A number naming no visible patient drops out of its list; if nothing is
    left, the parameter matches nothing and its link shows the masked number.
    """
    criteria = []
    for crit in request.criteria:
        if crit.name != "identifier":
            criteria.append(crit)
            continue
        kept, masked = [], []
        for raw in crit.values:
            number = _full_resident_id(raw)
            if number is None:
                kept.append(raw)
                continue
            try:
                found = await records_service.find_by_id_number(
                    session=session, ctx=ctx, id_number=number
                )
            except NotFound:
                found = None
            if found is not None:
                kept.append(f"{res.SYS_MPI}|{found.mpi}")
            else:
                masked.append(f"{res.SYS_RESIDENT_ID}|{resident_id.mask(number.strip().upper())}")
        criteria.append(replace(crit, values=tuple(kept or masked)))
    return replace(request, criteria=tuple(criteria))


async def _search_patients(
    session: AsyncSession, ctx: Ctx, request: SearchRequest
) -> tuple[list[Resource], int, SearchRequest]:
    require(ctx.principal, Action.LIST_PATIENTS, own(ctx.principal))
    request = await _resolve_resident_ids(session, ctx, request)
    visible: Any = records_service.visible_query(ctx.principal)  # Select of Patient rows
    query = visible.where(*clauses(PATIENT, request)).order_by(Patient.id)
    total = await count(session, query)
    page = query.offset(request.paging.offset).limit(request.paging.count)
    rows: list[Patient] = list((await session.scalars(page)).all())
    await audit.record(
        session=session,
        actor=ctx.actor,
        action="patient.list",
        entity_type="patient",
        details={
            "interface": "fhir",
            "returned": len(rows),
            "parameters": sorted({c.name for c in request.criteria}),
            "patient_ids": [p.id for p in rows],
        },
    )
    return await _patients(session, ctx, rows), total, request


def _number(text: str, what: str, prefix: str = "") -> int:
    ident = parse_id(text[len(prefix) :]) if text.startswith(prefix) else None
    if ident is None:
        raise NotFound(f"{what} not found", code=f"{what}.not_found")
    return ident


async def _read_location(session: AsyncSession, ctx: Ctx, rid: str) -> Resource:
    if rid.startswith(res.TERM_PREFIX):
        term = await session.get(Terminal, _number(rid, "terminal", res.TERM_PREFIX))
        if term is None:
            raise NotFound("terminal not found", code="terminal.not_found")
        require(ctx.principal, Action.VIEW_TERMINALS, Target.of(term.institution_id))
        return res.terminal_location(term)
    require(ctx.principal, Action.VIEW_CONSORTIUM)
    dept = await session.get(Department, _number(rid, "department", res.DEPT_PREFIX))
    if dept is None:
        raise NotFound("department not found", code="department.not_found")
    codes = await institution_codes(session, [dept.institution_id])
    return res.department_location(dept, codes.get(dept.institution_id, ""))


async def _read_organization(session: AsyncSession, ctx: Ctx, rid: str) -> Resource:
    require(ctx.principal, Action.VIEW_CONSORTIUM)
    return res.organization(
        await org_service.get_institution(
            session=session, institution_id=_number(rid, "institution")
        )
    )


async def _read_staff(session: AsyncSession, ctx: Ctx, rid: str) -> User:
    return await org_service.get_staff(
        session=session, principal=ctx.principal, user_id=_number(rid, "staff")
    )


async def _read_patient(session: AsyncSession, ctx: Ctx, rid: str) -> Resource:
    patient = await records_service.read(
        session=session, ctx=ctx, patient_id=_number(rid, "patient")
    )
    return (await _patients(session, ctx, [patient]))[0]


async def _read_practitioner(session: AsyncSession, ctx: Ctx, rid: str) -> Resource:
    return res.practitioner(await _read_staff(session, ctx, rid))


async def _read_practitioner_role(session: AsyncSession, ctx: Ctx, rid: str) -> Resource:
    return res.practitioner_role(await _read_staff(session, ctx, rid))


async def _read_communication(session: AsyncSession, ctx: Ctx, rid: str) -> Resource:
    inquiry = await inquiry_service.for_staff(
        session=session,
        principal=ctx.principal,
        actor=ctx.actor,
        inquiry_id=_number(rid, "inquiry"),
    )
    return inquiry_fhir.communication(await inquiry_service.thread(session, inquiry))


async def _search_communications(
    session: AsyncSession, ctx: Ctx, request: SearchRequest
) -> tuple[list[Resource], int]:
    """Questions the caller may open (their pool's, or claimed by them); each returned
    one is audited as a read (of patient data when linked)."""
    query = inquiry_service.staff_query(ctx.principal)
    for crit in request.criteria:
        if crit.name == "_id":
            ids = [parse_id(v) for v in crit.values]
            query = query.where(Inquiry.id.in_([i for i in ids if i is not None]))
        elif crit.name == "subject":
            ids = [parse_id(v.rsplit("/", 1)[-1]) for v in crit.values]
            query = query.where(Inquiry.patient_id.in_([i for i in ids if i is not None]))
        elif crit.name == "status":
            states = [s for v in crit.values for s in inquiry_fhir.STATES.get(v, [])]
            query = query.where(Inquiry.state.in_(states))
    total = await count(session, query)
    page = query.order_by(Inquiry.id).offset(request.paging.offset).limit(request.paging.count)
    rows = list((await session.scalars(page)).all())
    found: list[Resource] = []
    for row in rows:
        await inquiry_service.audit_staff_read(session, ctx.actor, row)
        found.append(inquiry_fhir.communication(await inquiry_service.thread(session, row)))
    return found, total


READERS: dict[str, Callable[[AsyncSession, Ctx, str], Awaitable[Resource]]] = {
    "Communication": _read_communication,
    "Organization": _read_organization,
    "Location": _read_location,
    "Practitioner": _read_practitioner,
    "PractitionerRole": _read_practitioner_role,
    "Patient": _read_patient,
}


# --- routes ----------------------------------------------------------------------------


def _respond(resource: Resource, *, private: bool = True) -> Response:
    headers = {"Cache-Control": "no-store"} if private else None
    return Response(
        resource.model_dump_json(), media_type=f"{res.FHIR_JSON}; charset=utf-8", headers=headers
    )


def _check_format(request: Request) -> None:
    wanted = request.query_params.get("_format")
    if wanted and wanted.split(";")[0].strip().replace(" ", "+") not in JSON_FORMATS:
        raise HTTPException(406, "only JSON is supported (_format=json)")


def _known(resource_type: str) -> str:
    if resource_type not in res.SEARCH_PARAMS:
        raise NotFound(
            "this server does not support the resource type", code="fhir.unsupported_type"
        )
    return resource_type


def _base(request: Request) -> str:
    return str(request.url_for("fhir_metadata")).removesuffix("/metadata")


@router.get("/metadata", name="fhir_metadata")
async def metadata(request: Request) -> Response:
    """The CapabilityStatement; no sign-in needed."""
    _check_format(request)
    statement = res.capability_statement(
        base_url=_base(request), version=__version__, today=now().date()
    )
    return _respond(statement, private=False)


async def _search(
    resource_type: str,
    items: list[tuple[str, str]],
    request: Request,
    session: AsyncSession,
    ctx: Ctx,
) -> Response:
    _check_format(request)
    rtype = _known(resource_type)
    strict = "handling=strict" in request.headers.get("prefer", "").replace(" ", "")
    wanted = parse_search(items, res.SEARCH_PARAMS[rtype], strict=strict)
    if rtype == "Patient":
        found, total, wanted = await _search_patients(session, ctx, wanted)
    elif rtype == "Communication":
        found, total = await _search_communications(session, ctx, wanted)
    else:
        action, tables = TABLES[rtype]
        if action is not None:
            require(ctx.principal, action)
        found, total = await search_tables(session, ctx.principal, tables, wanted)
    base = _base(request)
    bundle = searchset(
        base=base, resources=found, total=total, link=links(f"{base}/{rtype}", wanted, total)
    )
    return _respond(bundle)


@router.get("/{resource_type}")
async def search_type(
    resource_type: str, request: Request, session: DbSession, ctx: FhirCtx
) -> Response:
    """Search one resource type; the result is a searchset Bundle."""
    return await _search(resource_type, request.query_params.multi_items(), request, session, ctx)


@router.post("/{resource_type}/_search")
async def search_type_post(
    resource_type: str, request: Request, session: DbSession, ctx: FhirCtx
) -> Response:
    """Search with the parameters in a form body: keeps identifiers out of URLs and logs."""
    form = await request.form()
    items = request.query_params.multi_items() + [
        (k, v) for k, v in form.multi_items() if isinstance(v, str) and k != "csrf_token"
    ]
    return await _search(resource_type, items, request, session, ctx)


@router.get("/{resource_type}/{resource_id}")
async def read(
    resource_type: str, resource_id: str, request: Request, session: DbSession, ctx: FhirCtx
) -> Response:
    """Read one resource by its logical id."""
    _check_format(request)
    return _respond(await READERS[_known(resource_type)](session, ctx, resource_id))
