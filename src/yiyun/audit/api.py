"""Audit JSON API: browse entries and verify the chain."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from yiyun.audit import queries, service
from yiyun.audit.schemas import AuditEventRead, VerifyRead
from yiyun.auth.policy import Action, require
from yiyun.core.pagination import Page
from yiyun.web.deps import CurrentPrincipal, DbSession
from yiyun.web.params import Paging

router = APIRouter()


@router.get("/audit/events", response_model=Page[AuditEventRead])
async def list_events(
    session: DbSession,
    params: Paging,
    principal: CurrentPrincipal,
    patient_id: Annotated[int | None, Query(gt=0, le=2**31 - 1)] = None,
    action: Annotated[str | None, Query(max_length=64, pattern=r"^[a-z_.]+$")] = None,
    outcome: Literal["success", "denied", "error", "not_found", "duplicate"] | None = None,
) -> Page[AuditEventRead]:
    rows, total = await queries.list_events(
        session=session,
        principal=principal,
        patient_id=patient_id,
        action=action,
        outcome=outcome,
        params=params,
    )
    return Page.of([AuditEventRead.model_validate(r) for r in rows], total, params)


@router.get("/audit/verify", response_model=VerifyRead)
async def verify_chain(session: DbSession, principal: CurrentPrincipal) -> VerifyRead:
    """Recompute the whole hash chain (consortium-wide auditors only)."""
    require(principal, Action.VIEW_AUDIT)
    result = await service.verify(session=session)
    return VerifyRead(
        ok=result.ok,
        checked=result.checked,
        first_bad_seq=result.first_bad_seq,
        reason=result.reason,
    )
