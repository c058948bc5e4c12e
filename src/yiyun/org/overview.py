"""Counts for home pages and dashboards (SQL aggregation, scoped by the caller)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.org.enums import InstitutionKind, Role, TerminalStatus
from yiyun.org.models import Department, Institution, Terminal, User, UserRole


@dataclass
class Overview:
    institutions_by_kind: dict[InstitutionKind, int] = field(default_factory=dict)
    staff_by_role: dict[Role, int] = field(default_factory=dict)
    terminals_by_status: dict[TerminalStatus, int] = field(default_factory=dict)
    departments: int = 0
    staff_total: int = 0

    @property
    def care_sites(self) -> int:
        return sum(
            n for k, n in self.institutions_by_kind.items() if k != InstitutionKind.HEALTH_AUTHORITY
        )

    @property
    def terminals_total(self) -> int:
        return sum(self.terminals_by_status.values())


async def overview(*, session: AsyncSession, institution_id: int | None = None) -> Overview:
    """Consortium-wide counts, or one institution's when `institution_id` is given."""
    result = Overview()
    inst_q = select(Institution.kind, func.count()).group_by(Institution.kind)
    role_q = (
        select(UserRole.role, func.count())
        .join(User, User.id == UserRole.user_id)
        .where(User.active.is_(True))
        .group_by(UserRole.role)
    )
    term_q = _terminals().group_by(Terminal.status)
    dept_q = select(func.count()).select_from(Department)
    staff_q = select(func.count()).select_from(User).where(User.active.is_(True))
    if institution_id is not None:
        inst_q = inst_q.where(Institution.id == institution_id)
        role_q = role_q.where(User.institution_id == institution_id)
        term_q = term_q.where(Terminal.institution_id == institution_id)
        dept_q = dept_q.where(Department.institution_id == institution_id)
        staff_q = staff_q.where(User.institution_id == institution_id)
    result.institutions_by_kind = {k: n for k, n in (await session.execute(inst_q)).all()}
    result.staff_by_role = {r: n for r, n in (await session.execute(role_q)).all()}
    result.terminals_by_status = {s: n for s, n in (await session.execute(term_q)).all()}
    result.departments = int(await session.scalar(dept_q) or 0)
    result.staff_total = int(await session.scalar(staff_q) or 0)
    return result


def _terminals() -> Select[TerminalStatus, int]:
    """The one definition of the terminals a figure counts: active ones, at any site."""
    return select(Terminal.status, func.count()).where(Terminal.active.is_(True))


async def terminals_by_site(*, session: AsyncSession) -> dict[int, dict[TerminalStatus, int]]:
    """Active terminals per site and status (the same rows `overview` totals)."""
    query = (
        _terminals()
        .add_columns(Terminal.institution_id)
        .group_by(Terminal.institution_id, Terminal.status)
    )
    found: dict[int, dict[TerminalStatus, int]] = {}
    for status, n, site_id in (await session.execute(query)).all():
        found.setdefault(site_id, {})[TerminalStatus(status)] = int(n)
    return found


def _attention() -> Select[Terminal, Institution]:
    return (
        select(Terminal, Institution)
        .join(Institution, Institution.id == Terminal.institution_id)
        .where(Terminal.status != TerminalStatus.ONLINE, Terminal.active.is_(True))
    )


async def terminals_needing_attention(
    *, session: AsyncSession, limit: int | None = 20
) -> list[tuple[Terminal, Institution]]:
    """Active terminals that are not online, faults first; `limit=None` for all."""
    query = _attention().order_by(Terminal.status, Institution.code, Terminal.code)
    if limit is not None:
        query = query.limit(limit)
    return [(t, i) for t, i in (await session.execute(query)).all()]


async def count_needing_attention(*, session: AsyncSession) -> int:
    query = select(func.count()).select_from(_attention().subquery())
    return int(await session.scalar(query) or 0)
