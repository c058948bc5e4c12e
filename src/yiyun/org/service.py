"""Consortium use cases. Services flush, never commit; every write is audited."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.audit import service as audit
from yiyun.audit.service import Actor
from yiyun.auth import passwords, policy, revocation
from yiyun.auth import service as auth_service
from yiyun.auth.policy import Action, Target, require
from yiyun.auth.principal import Principal
from yiyun.core import textsearch
from yiyun.core.clock import now
from yiyun.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from yiyun.core.pagination import PageParams, paginate
from yiyun.org import specialties
from yiyun.org.enums import InstitutionKind, Role
from yiyun.org.models import Department, Institution, Region, Terminal, User, UserRole
from yiyun.org.schemas import (
    DepartmentCreate,
    InstitutionCreate,
    InstitutionRead,
    StaffCreate,
    StaffRead,
    StaffUpdate,
    TerminalCreate,
)
from yiyun.settings import SecuritySettings

# --- institutions ----------------------------------------------------------------------


async def list_regions(*, session: AsyncSession) -> list[Region]:
    return list((await session.scalars(select(Region).order_by(Region.code))).all())


async def list_institutions(
    *,
    session: AsyncSession,
    kind: InstitutionKind | None = None,
    q: str | None = None,
    params: PageParams | None = None,
) -> tuple[list[Institution], int]:
    query = select(Institution).order_by(Institution.kind, Institution.code)
    if kind is not None:
        query = query.where(Institution.kind == kind)
    if q:
        query = query.where(
            textsearch.contains(q.strip(), Institution.name, Institution.name_en, Institution.code)
        )
    return await paginate(session, query, params or PageParams(size=200))


async def get_institution(*, session: AsyncSession, institution_id: int) -> Institution:
    row = await session.get(Institution, institution_id)
    if row is None:
        raise NotFound("institution not found", code="institution.not_found")
    return row


_INSTITUTIONS = cast("Table", Institution.__table__)
_INSTITUTION_BY_ID = select(_INSTITUTIONS).where(_INSTITUTIONS.c.id == bindparam("id"))


async def read_institution(*, session: AsyncSession, institution_id: int) -> InstitutionRead:
    """One institution as the API shows it, read as a plain row (no ORM object: this is
    every client's most frequent lookup)."""
    conn = await session.connection()
    row = (await conn.execute(_INSTITUTION_BY_ID, {"id": institution_id})).first()
    if row is None:
        raise NotFound("institution not found", code="institution.not_found")
    return InstitutionRead.model_validate(row)


async def create_institution(
    *, session: AsyncSession, principal: Principal, data: InstitutionCreate, actor: Actor
) -> Institution:
    require(principal, Action.MANAGE_INSTITUTION)
    if await session.get(Region, data.region_id) is None:
        raise InvalidInput(
            "region does not exist", code="institution.bad_region", details={"field": "region_id"}
        )
    if data.parent_id is not None:
        await get_institution(session=session, institution_id=data.parent_id)
    if await session.scalar(select(Institution.id).where(Institution.code == data.code)):
        raise Conflict("an institution with this code exists", code="institution.duplicate_code")
    row = Institution(**data.model_dump())
    session.add(row)
    await session.flush()
    await audit.record(
        session=session,
        actor=actor,
        action="institution.create",
        entity_type="institution",
        entity_id=row.id,
        institution_id=row.id,
    )
    return row


# --- departments -----------------------------------------------------------------------


async def list_departments(*, session: AsyncSession, institution_id: int) -> list[Department]:
    query = select(Department).where(Department.institution_id == institution_id)
    return list((await session.scalars(query.order_by(Department.code))).all())


async def create_department(
    *,
    session: AsyncSession,
    principal: Principal,
    institution_id: int,
    data: DepartmentCreate,
    actor: Actor,
) -> Department:
    await get_institution(session=session, institution_id=institution_id)
    require(principal, Action.MANAGE_STAFF, Target.of(institution_id))
    exists = await session.scalar(
        select(Department.id).where(
            Department.institution_id == institution_id, Department.code == data.code
        )
    )
    if exists:
        raise Conflict("a department with this code exists", code="department.duplicate_code")
    row = Department(institution_id=institution_id, **data.model_dump())
    session.add(row)
    await session.flush()
    await audit.record(
        session=session,
        actor=actor,
        action="department.create",
        entity_type="department",
        entity_id=row.id,
        institution_id=institution_id,
    )
    return row


# --- staff -----------------------------------------------------------------------------


def staff_read(user: User) -> StaffRead:
    today = now().date()
    return StaffRead(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        institution_id=user.institution_id,
        department_id=user.department_id,
        roles=sorted(user.role_set),
        title=user.title,
        licence_no=user.licence_no,
        licence_valid_until=user.licence_valid_until,
        licence_valid=user.licence_valid_until is not None and user.licence_valid_until >= today,
        specialties=list(user.specialties or []),
        years_of_practice=user.years_of_practice,
        email=user.email,
        active=user.active,
        totp_enrolled=user.totp_enrolled_at is not None,
    )


async def list_staff(
    *,
    session: AsyncSession,
    principal: Principal,
    institution_id: int | None = None,
    q: str | None = None,
    params: PageParams | None = None,
) -> tuple[list[User], int]:
    """Staff the principal may see, optionally within one institution."""
    query = select(User).order_by(User.institution_id, User.username)
    if institution_id is not None:
        require(principal, Action.VIEW_STAFF, Target.of(institution_id))
        query = query.where(User.institution_id == institution_id)
    query = query.where(policy.scope(principal, Action.VIEW_STAFF).where(User.institution_id))
    if q:
        query = query.where(textsearch.contains(q.strip(), User.username, User.display_name))
    return await paginate(session, query, params or PageParams())


async def get_staff(*, session: AsyncSession, principal: Principal, user_id: int) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("staff member not found", code="staff.not_found")
    require(principal, Action.VIEW_STAFF, Target.of(user.institution_id))
    return user


async def _check_roles(
    session: AsyncSession,
    principal: Principal,
    institution_id: int,
    roles: set[Role],
    user_id: int | None = None,
) -> None:
    """The roles given or taken away must be the principal's to grant (`policy`)."""
    if (
        user_id is not None
        and user_id == principal.user_id
        and not principal.has(Role.CONSORTIUM_ADMIN)
    ):
        raise PermissionDenied("you cannot change your own roles", code="staff.self_grant")
    grantable = policy.grantable_roles(principal, institution_id, user_id)
    if not roles <= grantable:
        raise PermissionDenied(
            "you cannot grant or remove these roles",
            code="staff.role_not_grantable",
            details={"roles": sorted(roles - grantable)},
        )
    institution = await get_institution(session=session, institution_id=institution_id)
    if Role.AUTHORITY in roles and institution.kind != InstitutionKind.HEALTH_AUTHORITY:
        raise InvalidInput(
            "the authority role belongs to health-authority staff only",
            code="staff.authority_outside_authority",
        )


async def create_staff(
    *,
    session: AsyncSession,
    principal: Principal,
    data: StaffCreate,
    cfg: SecuritySettings,
    actor: Actor,
) -> User:
    require(principal, Action.MANAGE_STAFF, Target.of(data.institution_id))
    await _check_roles(session, principal, data.institution_id, set(data.roles))
    if data.department_id is not None:
        dept = await session.get(Department, data.department_id)
        if dept is None or dept.institution_id != data.institution_id:
            raise InvalidInput(
                "department is not part of the institution",
                code="staff.bad_department",
                details={"field": "department_id"},
            )
    if await auth_service.user_by_username(session, data.username) is not None:
        raise Conflict("this username is taken", code="staff.duplicate_username")
    passwords.check_policy(
        data.password, min_length=cfg.password_min_length, username=data.username
    )
    fields = data.model_dump(exclude={"roles", "password", "phone"})
    fields["specialties"] = specialties.require_all(data.specialties, field="specialties")
    user = User(
        **fields,
        password_hash=passwords.hash_password(data.password),
        password_changed_at=now(),
        roles=[UserRole(role=r) for r in set(data.roles)],
    )
    if data.phone:
        user.phone_enc = auth_service.cipher(cfg).encrypt(data.phone, context="staff-phone")
    session.add(user)
    await session.flush()
    await audit.record(
        session=session,
        actor=actor,
        action="staff.create",
        entity_type="user",
        entity_id=user.id,
        institution_id=user.institution_id,
        details={"roles": sorted(r.value for r in data.roles)},
    )
    return user


async def update_staff(
    *, session: AsyncSession, principal: Principal, user_id: int, data: StaffUpdate, actor: Actor
) -> User:
    user = await get_staff(session=session, principal=principal, user_id=user_id)
    require(principal, Action.MANAGE_STAFF, Target.of(user.institution_id))
    changes = data.model_dump(exclude_unset=True)
    if changes.get("specialties") is not None:
        changes["specialties"] = specialties.require_all(
            changes["specialties"], field="specialties"
        )
    if changes.get("department_id") is not None:
        dept = await session.get(Department, changes["department_id"])
        if dept is None or dept.institution_id != user.institution_id:
            raise InvalidInput(
                "department is not part of the institution",
                code="staff.bad_department",
                details={"field": "department_id"},
            )
    for key, value in changes.items():
        setattr(user, key, value)
    await session.flush()
    revocation.changed(session, user_ids=[user.id])
    await audit.record(
        session=session,
        actor=actor,
        action="staff.update",
        entity_type="user",
        entity_id=user.id,
        institution_id=user.institution_id,
        details={"fields": sorted(changes)},
    )
    return user


async def set_roles(
    *, session: AsyncSession, principal: Principal, user_id: int, roles: list[Role], actor: Actor
) -> User:
    user = await get_staff(session=session, principal=principal, user_id=user_id)
    require(principal, Action.MANAGE_STAFF, Target.of(user.institution_id))
    wanted = set(roles)
    await _check_roles(session, principal, user.institution_id, wanted ^ user.role_set, user.id)
    if user.id == principal.user_id and not wanted & {
        Role.CONSORTIUM_ADMIN,
        Role.INSTITUTION_ADMIN,
    }:
        raise Conflict("you cannot remove your own administrator role", code="staff.self_demotion")
    before = sorted(r.value for r in user.role_set)
    user.roles = [r for r in user.roles if r.role in wanted]
    for role in wanted - user.role_set:
        user.roles.append(UserRole(role=role))
    await session.flush()
    revocation.changed(session, user_ids=[user.id])
    await audit.record(
        session=session,
        actor=actor,
        action="staff.roles",
        entity_type="user",
        entity_id=user.id,
        institution_id=user.institution_id,
        details={"before": before, "after": sorted(r.value for r in wanted)},
    )
    return user


async def set_active(
    *, session: AsyncSession, principal: Principal, user_id: int, active: bool, actor: Actor
) -> User:
    """Disable (ending every session at once) or re-enable an account."""
    user = await get_staff(session=session, principal=principal, user_id=user_id)
    require(principal, Action.MANAGE_STAFF, Target.of(user.institution_id))
    if user.id == principal.user_id and not active:
        raise Conflict("you cannot disable your own account", code="staff.self_disable")
    user.active = active
    user.disabled_at = None if active else now()
    ended = 0 if active else await auth_service.revoke_all(session=session, user_id=user.id)
    await session.flush()
    await audit.record(
        session=session,
        actor=actor,
        action="staff.enable" if active else "staff.disable",
        entity_type="user",
        entity_id=user.id,
        institution_id=user.institution_id,
        details={"sessions_ended": ended},
    )
    return user


# --- terminals -------------------------------------------------------------------------


async def list_terminals(
    *, session: AsyncSession, principal: Principal, institution_id: int
) -> list[Terminal]:
    require(principal, Action.VIEW_TERMINALS, Target.of(institution_id))
    query = select(Terminal).where(Terminal.institution_id == institution_id)
    return list((await session.scalars(query.order_by(Terminal.code))).all())


async def create_terminal(
    *,
    session: AsyncSession,
    principal: Principal,
    institution_id: int,
    data: TerminalCreate,
    actor: Actor,
) -> Terminal:
    await get_institution(session=session, institution_id=institution_id)
    require(principal, Action.MANAGE_TERMINALS, Target.of(institution_id))
    if await session.scalar(select(Terminal.id).where(Terminal.code == data.code)):
        raise Conflict("a terminal with this code exists", code="terminal.duplicate_code")
    row = Terminal(institution_id=institution_id, **data.model_dump())
    session.add(row)
    await session.flush()
    await audit.record(
        session=session,
        actor=actor,
        action="terminal.create",
        entity_type="terminal",
        entity_id=row.id,
        institution_id=institution_id,
    )
    return row
