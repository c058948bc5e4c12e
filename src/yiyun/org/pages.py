"""Consortium pages: directory, institution, staff management."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from yiyun.auth.policy import ANY, Action, Target, allows, require
from yiyun.core.pagination import PageParams
from yiyun.org import overview as org_overview
from yiyun.org import service
from yiyun.org.enums import InstitutionKind, Role, StaffTitle, TerminalKind
from yiyun.org.schemas import DepartmentCreate, StaffCreate, TerminalCreate
from yiyun.web.deps import AppSettings, CurrentActor, CurrentPrincipal, DbSession
from yiyun.web.pagekit import invalid, page, see_other
from yiyun.web.params import Id

router = APIRouter()


@router.get("/consortium", response_class=HTMLResponse)
async def consortium(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    q: Annotated[str | None, Query(max_length=100)] = None,
    kind: InstitutionKind | None = None,
) -> Response:
    require(principal, Action.VIEW_CONSORTIUM)
    rows, total = await service.list_institutions(
        session=session, kind=kind, q=q, params=PageParams(size=200)
    )
    return page(
        request,
        principal,
        "org/consortium.html",
        {
            "institutions": rows,
            "total": total,
            "q": q or "",
            "kind": kind,
            "kinds": list(InstitutionKind),
        },
    )


@router.get("/terminals/attention", response_class=HTMLResponse)
async def terminals_attention(
    request: Request, session: DbSession, principal: CurrentPrincipal
) -> Response:
    """Every active terminal that is not online, in the whole consortium."""
    require(principal, Action.VIEW_TERMINALS, ANY)
    rows = await org_overview.terminals_needing_attention(session=session, limit=None)
    return page(request, principal, "org/terminals_attention.html", {"attention": rows})


@router.get("/institutions/{institution_id}", response_class=HTMLResponse)
async def institution(
    request: Request, institution_id: Id, session: DbSession, principal: CurrentPrincipal
) -> Response:
    require(principal, Action.VIEW_CONSORTIUM)
    inst = await service.get_institution(session=session, institution_id=institution_id)
    parent = (
        await service.get_institution(session=session, institution_id=inst.parent_id)
        if inst.parent_id
        else None
    )
    target = Target.of(inst.id)
    departments = await service.list_departments(session=session, institution_id=inst.id)
    staff = terminals = None
    if allows(principal, Action.VIEW_STAFF, target):
        staff, _ = await service.list_staff(
            session=session,
            principal=principal,
            institution_id=inst.id,
            params=PageParams(size=200),
        )
    if allows(principal, Action.VIEW_TERMINALS, target):
        terminals = await service.list_terminals(
            session=session, principal=principal, institution_id=inst.id
        )
    return page(
        request,
        principal,
        "org/institution.html",
        {
            "inst": inst,
            "parent": parent,
            "departments": departments,
            "staff": staff,
            "terminals": terminals,
            "terminal_kinds": list(TerminalKind),
            "can_manage_staff": allows(principal, Action.MANAGE_STAFF, target),
            "can_manage_terminals": allows(principal, Action.MANAGE_TERMINALS, target),
        },
    )


@router.post("/institutions/{institution_id}/departments")
async def create_department(
    institution_id: Id,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
    code: Annotated[str, Form(max_length=64)],
    name: Annotated[str, Form(max_length=200)],
    name_en: Annotated[str, Form(max_length=200)],
) -> Response:
    try:
        data = DepartmentCreate(code=code, name=name, name_en=name_en)
    except ValidationError as exc:
        raise invalid(exc) from None
    await service.create_department(
        session=session, principal=principal, institution_id=institution_id, data=data, actor=actor
    )
    return see_other(f"/institutions/{institution_id}?done=created")


@router.post("/institutions/{institution_id}/terminals")
async def create_terminal(
    institution_id: Id,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
    code: Annotated[str, Form(max_length=64)],
    name: Annotated[str, Form(max_length=200)],
    kind: Annotated[TerminalKind, Form()],
) -> Response:
    try:
        data = TerminalCreate(code=code, name=name, kind=kind)
    except ValidationError as exc:
        raise invalid(exc) from None
    await service.create_terminal(
        session=session, principal=principal, institution_id=institution_id, data=data, actor=actor
    )
    return see_other(f"/institutions/{institution_id}?done=created")


@router.get("/staff", response_class=HTMLResponse)
async def staff_list(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    q: Annotated[str | None, Query(max_length=100)] = None,
    page_no: Annotated[int, Query(alias="page", ge=1, le=100_000)] = 1,
) -> Response:
    params = PageParams(page=page_no, size=50)
    rows, total = await service.list_staff(session=session, principal=principal, q=q, params=params)
    own = principal.institution_id
    institutions, _ = await service.list_institutions(session=session, params=PageParams(size=200))
    manageable = [
        i for i in institutions if allows(principal, Action.MANAGE_STAFF, Target.of(i.id))
    ]
    departments = await service.list_departments(session=session, institution_id=own)
    return page(
        request,
        principal,
        "org/staff_list.html",
        {
            "staff": [service.staff_read(u) for u in rows],
            "total": total,
            "q": q or "",
            "page_no": page_no,
            "pages": max(1, -(-total // params.size)),
            "institutions": {i.id: i for i in institutions},
            "manageable": manageable,
            "departments": departments,
            "roles": list(Role),
            "titles": list(StaffTitle),
        },
    )


@router.post("/staff")
async def create_staff(
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
    settings: AppSettings,
    username: Annotated[str, Form(max_length=64)],
    display_name: Annotated[str, Form(max_length=200)],
    institution_id: Annotated[int, Form(gt=0, le=2**31 - 1)],
    roles: Annotated[list[Role], Form()],
    password: Annotated[str, Form(max_length=256)],
    department_id: Annotated[str, Form(max_length=12)] = "",
    title: Annotated[str, Form(max_length=40)] = "",
    licence_no: Annotated[str, Form(max_length=32)] = "",
    licence_valid_until: Annotated[str, Form(max_length=10)] = "",
    specialties: Annotated[str, Form(max_length=500)] = "",
    years_of_practice: Annotated[str, Form(max_length=3)] = "",
) -> Response:
    try:
        data = StaffCreate(
            username=username,
            display_name=display_name,
            institution_id=institution_id,
            roles=roles,
            password=password,
            department_id=int(department_id) if department_id.isdecimal() else None,
            title=StaffTitle(title) if title else None,
            licence_no=licence_no or None,
            licence_valid_until=date.fromisoformat(licence_valid_until)
            if licence_valid_until
            else None,
            specialties=[s.strip() for s in specialties.replace("，", ",").split(",") if s.strip()],
            years_of_practice=int(years_of_practice) if years_of_practice.isdecimal() else None,
        )
    except ValueError as exc:  # pydantic's ValidationError is a ValueError too
        raise invalid(exc) from None
    user = await service.create_staff(
        session=session, principal=principal, data=data, cfg=settings.security, actor=actor
    )
    return see_other(f"/staff/{user.id}?done=created")


@router.get("/staff/{user_id}", response_class=HTMLResponse)
async def staff_detail(
    request: Request, user_id: Id, session: DbSession, principal: CurrentPrincipal
) -> Response:
    user = await service.get_staff(session=session, principal=principal, user_id=user_id)
    inst = await service.get_institution(session=session, institution_id=user.institution_id)
    return page(
        request,
        principal,
        "org/staff_detail.html",
        {
            "s": service.staff_read(user),
            "inst": inst,
            "roles": list(Role),
            "can_manage": allows(principal, Action.MANAGE_STAFF, Target.of(user.institution_id)),
            "is_self": user.id == principal.user_id,
        },
    )


@router.post("/staff/{user_id}/roles")
async def set_roles(
    user_id: Id,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
    roles: Annotated[list[Role], Form()],
) -> Response:
    await service.set_roles(
        session=session, principal=principal, user_id=user_id, roles=roles, actor=actor
    )
    return see_other(f"/staff/{user_id}?done=saved")


@router.post("/staff/{user_id}/disable")
async def disable(
    user_id: Id, session: DbSession, principal: CurrentPrincipal, actor: CurrentActor
) -> Response:
    await service.set_active(
        session=session, principal=principal, user_id=user_id, active=False, actor=actor
    )
    return see_other(f"/staff/{user_id}?done=disabled")


@router.post("/staff/{user_id}/enable")
async def enable(
    user_id: Id, session: DbSession, principal: CurrentPrincipal, actor: CurrentActor
) -> Response:
    await service.set_active(
        session=session, principal=principal, user_id=user_id, active=True, actor=actor
    )
    return see_other(f"/staff/{user_id}?done=enabled")
