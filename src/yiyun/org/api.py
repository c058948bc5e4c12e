"""Consortium JSON API."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from yiyun.auth.policy import Action, require
from yiyun.core.pagination import Page
from yiyun.org import service
from yiyun.org.enums import InstitutionKind
from yiyun.org.schemas import (
    DepartmentCreate,
    DepartmentRead,
    InstitutionCreate,
    InstitutionRead,
    RegionRead,
    RolesUpdate,
    StaffCreate,
    StaffRead,
    StaffUpdate,
    TerminalCreate,
    TerminalRead,
)
from yiyun.web.deps import AppSettings, CurrentActor, CurrentPrincipal, DbSession
from yiyun.web.params import Id, LongPaging, Paging

router = APIRouter()


@router.get("/regions", response_model=list[RegionRead])
async def list_regions(session: DbSession, principal: CurrentPrincipal) -> list[RegionRead]:
    require(principal, Action.VIEW_CONSORTIUM)
    return [RegionRead.model_validate(r) for r in await service.list_regions(session=session)]


@router.get("/institutions", response_model=Page[InstitutionRead])
async def list_institutions(
    session: DbSession,
    params: LongPaging,
    principal: CurrentPrincipal,
    kind: InstitutionKind | None = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
) -> Page[InstitutionRead]:
    require(principal, Action.VIEW_CONSORTIUM)
    rows, total = await service.list_institutions(session=session, kind=kind, q=q, params=params)
    return Page.of([InstitutionRead.model_validate(r) for r in rows], total, params)


@router.post(
    "/institutions",
    response_model=InstitutionRead,
    status_code=201,
)
async def create_institution(
    data: InstitutionCreate, session: DbSession, principal: CurrentPrincipal, actor: CurrentActor
) -> InstitutionRead:
    row = await service.create_institution(
        session=session, principal=principal, data=data, actor=actor
    )
    return InstitutionRead.model_validate(row)


@router.get("/institutions/{institution_id}", response_model=InstitutionRead)
async def get_institution(
    institution_id: Id, session: DbSession, principal: CurrentPrincipal
) -> InstitutionRead:
    require(principal, Action.VIEW_CONSORTIUM)
    return await service.read_institution(session=session, institution_id=institution_id)


@router.get("/institutions/{institution_id}/departments", response_model=list[DepartmentRead])
async def list_departments(
    institution_id: Id, session: DbSession, principal: CurrentPrincipal
) -> list[DepartmentRead]:
    require(principal, Action.VIEW_CONSORTIUM)
    await service.get_institution(session=session, institution_id=institution_id)
    rows = await service.list_departments(session=session, institution_id=institution_id)
    return [DepartmentRead.model_validate(r) for r in rows]


@router.post(
    "/institutions/{institution_id}/departments", response_model=DepartmentRead, status_code=201
)
async def create_department(
    institution_id: Id,
    data: DepartmentCreate,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
) -> DepartmentRead:
    row = await service.create_department(
        session=session, principal=principal, institution_id=institution_id, data=data, actor=actor
    )
    return DepartmentRead.model_validate(row)


@router.get("/institutions/{institution_id}/terminals", response_model=list[TerminalRead])
async def list_terminals(
    institution_id: Id, session: DbSession, principal: CurrentPrincipal
) -> list[TerminalRead]:
    await service.get_institution(session=session, institution_id=institution_id)
    rows = await service.list_terminals(
        session=session, principal=principal, institution_id=institution_id
    )
    return [TerminalRead.model_validate(r) for r in rows]


@router.post(
    "/institutions/{institution_id}/terminals", response_model=TerminalRead, status_code=201
)
async def create_terminal(
    institution_id: Id,
    data: TerminalCreate,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
) -> TerminalRead:
    row = await service.create_terminal(
        session=session, principal=principal, institution_id=institution_id, data=data, actor=actor
    )
    return TerminalRead.model_validate(row)


@router.get("/staff", response_model=Page[StaffRead])
async def list_staff(
    session: DbSession,
    params: Paging,
    principal: CurrentPrincipal,
    institution_id: Annotated[int | None, Query(gt=0, le=2**31 - 1)] = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
) -> Page[StaffRead]:
    rows, total = await service.list_staff(
        session=session,
        principal=principal,
        institution_id=institution_id,
        q=q,
        params=params,
    )
    return Page.of([service.staff_read(u) for u in rows], total, params)


@router.post(
    "/staff",
    response_model=StaffRead,
    status_code=201,
)
async def create_staff(
    data: StaffCreate,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
    settings: AppSettings,
) -> StaffRead:
    """Create a staff account at an institution.

    Refused besides what the body's schema says: a department that is not the
    institution's; the authority role at an institution that is not a health-authority
    institution; a common password."""
    user = await service.create_staff(
        session=session, principal=principal, data=data, cfg=settings.security, actor=actor
    )
    return service.staff_read(user)


@router.get("/staff/{user_id}", response_model=StaffRead)
async def get_staff(user_id: Id, session: DbSession, principal: CurrentPrincipal) -> StaffRead:
    return service.staff_read(
        await service.get_staff(session=session, principal=principal, user_id=user_id)
    )


@router.patch("/staff/{user_id}", response_model=StaffRead)
async def update_staff(
    user_id: Id,
    data: StaffUpdate,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
) -> StaffRead:
    user = await service.update_staff(
        session=session, principal=principal, user_id=user_id, data=data, actor=actor
    )
    return service.staff_read(user)


@router.put("/staff/{user_id}/roles", response_model=StaffRead)
async def set_roles(
    user_id: Id,
    data: RolesUpdate,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
) -> StaffRead:
    user = await service.set_roles(
        session=session, principal=principal, user_id=user_id, roles=data.roles, actor=actor
    )
    return service.staff_read(user)


@router.post("/staff/{user_id}/disable", response_model=StaffRead)
async def disable_staff(
    user_id: Id, session: DbSession, principal: CurrentPrincipal, actor: CurrentActor
) -> StaffRead:
    """Disable the account and end all of its sessions and tokens at once."""
    user = await service.set_active(
        session=session, principal=principal, user_id=user_id, active=False, actor=actor
    )
    return service.staff_read(user)


@router.post("/staff/{user_id}/enable", response_model=StaffRead)
async def enable_staff(
    user_id: Id, session: DbSession, principal: CurrentPrincipal, actor: CurrentActor
) -> StaffRead:
    user = await service.set_active(
        session=session, principal=principal, user_id=user_id, active=True, actor=actor
    )
    return service.staff_read(user)
