"""Reading the audit log, scoped by the access policy."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.audit.chain import institution_marker
from yiyun.audit.models import AuditEvent
from yiyun.auth import policy
from yiyun.auth.policy import Action, require
from yiyun.auth.principal import Principal
from yiyun.core import textsearch
from yiyun.core.pagination import PageParams, paginate
from yiyun.org.models import Institution


def visible(principal: Principal) -> ColumnElement[bool]:
    """Entries in the caller's audit scope: made by its institutions' staff, or about
    their data (a patient of theirs read from another institution)."""
    scope = policy.scope(principal, Action.VIEW_AUDIT)
    if scope.everywhere:
        return scope.where(AuditEvent.institution_id)
    about: list[Any] = [
        textsearch.contains(institution_marker(i), AuditEvent.subject_institutions)
        for i in sorted(scope.institutions or ())
    ]
    return or_(false(), scope.where(AuditEvent.institution_id), *about)


async def institution_names(
    session: AsyncSession, ids: set[int | None]
) -> dict[int, tuple[str, str]]:
    """`id -> (name, English name)` for showing where the actors came from."""
    wanted = sorted(i for i in ids if i is not None)
    if not wanted:
        return {}
    rows = await session.execute(
        select(Institution.id, Institution.name, Institution.name_en).where(
            Institution.id.in_(wanted)
        )
    )
    return {i: (name, name_en) for i, name, name_en in rows.all()}


async def list_events(
    *,
    session: AsyncSession,
    principal: Principal,
    patient_id: int | None = None,
    action: str | None = None,
    outcome: str | None = None,
    params: PageParams | None = None,
    entity_type: str | None = None,
    entity_id: int | None = None,
) -> tuple[list[AuditEvent], int]:
    """Newest first; institution administrators see their institution's entries only:
    what its staff did, and what anyone did with its patients' data."""
    require(principal, Action.VIEW_AUDIT, policy.own(principal))
    query = select(AuditEvent).where(visible(principal)).order_by(AuditEvent.seq.desc())
    if patient_id is not None:
        query = query.where(AuditEvent.patient_id == patient_id)
    if action:
        query = query.where(textsearch.prefix(action, AuditEvent.action))
    if outcome:
        query = query.where(AuditEvent.outcome == outcome)
    if entity_type:  # one case's trail (supervision drill-down)
        query = query.where(AuditEvent.entity_type == entity_type)
        if entity_id is not None:
            query = query.where(AuditEvent.entity_id == str(entity_id))
    return await paginate(session, query, params or PageParams())
