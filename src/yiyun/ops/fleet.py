"""The terminal fleet as operations see it: state from heartbeats, health, credential."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.auth.policy import Scope
from yiyun.ops.models import DeviceCredential, TerminalHealth
from yiyun.org.enums import TerminalStatus
from yiyun.org.models import Institution, Terminal


@dataclass(frozen=True)
class FleetRow:
    terminal: Terminal
    site: Institution
    health: TerminalHealth | None
    enrolled: bool  # a live device credential
    pending: bool  # an unused enrolment code

    @property
    def last_seen(self) -> datetime | None:
        return self.health.seen_at if self.health else None


def _where(scope: Scope, status: TerminalStatus | None, site_id: int | None) -> list[object]:
    conds: list[object] = [Terminal.active.is_(True)]
    if scope.institutions is not None:
        conds.append(Terminal.institution_id.in_(sorted(scope.institutions)))
    if status is not None:
        conds.append(Terminal.status == status)
    if site_id is not None:
        conds.append(Terminal.institution_id == site_id)
    return conds


async def fleet(
    *,
    session: AsyncSession,
    scope: Scope,
    status: TerminalStatus | None = None,
    site_id: int | None = None,
    limit: int = 200,
    offset: int = 0,
) -> tuple[list[FleetRow], int]:
    """Terminals in scope, faults and offline first; and how many there are."""
    live = (
        select(
            DeviceCredential.terminal_id,
            func.max(DeviceCredential.enrolled_at).label("enrolled"),
            func.count(DeviceCredential.id).label("n"),
        )
        .where(DeviceCredential.revoked_at.is_(None))
        .group_by(DeviceCredential.terminal_id)
        .subquery()
    )
    conds = _where(scope, status, site_id)
    query = (
        select(Terminal, Institution, TerminalHealth, live.c.enrolled, live.c.n)
        .join(Institution, Institution.id == Terminal.institution_id)
        .outerjoin(TerminalHealth, TerminalHealth.terminal_id == Terminal.id)
        .outerjoin(live, live.c.terminal_id == Terminal.id)
        .where(and_(*conds))  # type: ignore[arg-type]
        .order_by(Terminal.status, Institution.code, Terminal.code)
        .limit(limit)
        .offset(offset)
    )
    rows = [
        FleetRow(t, i, h, enrolled is not None, bool(n) and enrolled is None)
        for t, i, h, enrolled, n in (await session.execute(query)).all()
    ]
    total = await session.scalar(
        select(func.count()).select_from(Terminal).where(and_(*conds))  # type: ignore[arg-type]
    )
    return rows, int(total or 0)


async def counts(*, session: AsyncSession, scope: Scope) -> dict[str, int]:
    query = (
        select(Terminal.status, func.count())
        .where(and_(*_where(scope, None, None)))  # type: ignore[arg-type]
        .group_by(Terminal.status)
    )
    found = {s.value: 0 for s in TerminalStatus}
    found |= {str(s): int(n) for s, n in (await session.execute(query)).all()}
    return found
