"""Reading the audit log, scoped by the access policy."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.audit.models import AuditEvent
from yiyun.auth.policy import Action, Target, require, sees_all_institutions
from yiyun.auth.principal import Principal
from yiyun.core.pagination import PageParams, paginate


async def list_events(
    *,
    session: AsyncSession,
    principal: Principal,
    patient_id: int | None = None,
    action: str | None = None,
    outcome: str | None = None,
    params: PageParams | None = None,
) -> tuple[list[AuditEvent], int]:
    """Newest first; institution administrators see their institution's entries only."""
    require(principal, Action.VIEW_AUDIT, Target.of(principal.institution_id))
    query = select(AuditEvent).order_by(AuditEvent.seq.desc())
    if not sees_all_institutions(principal, Action.VIEW_AUDIT):
        query = query.where(AuditEvent.institution_id == principal.institution_id)
    if patient_id is not None:
        query = query.where(AuditEvent.patient_id == patient_id)
    if action:
        query = query.where(AuditEvent.action.startswith(action))
    if outcome:
        query = query.where(AuditEvent.outcome == outcome)
    return await paginate(session, query, params or PageParams())
