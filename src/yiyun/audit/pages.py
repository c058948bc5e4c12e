"""Audit pages: browse entries, verify the chain."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from yiyun.audit import actions, queries, service
from yiyun.auth.policy import Action, allows
from yiyun.core.pagination import PageParams
from yiyun.web.deps import CurrentPrincipal, DbSession
from yiyun.web.pagekit import page

router = APIRouter()


@router.get("/audit", response_class=HTMLResponse)
async def audit_log(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    patient_id: Annotated[int | None, Query(gt=0, le=2**31 - 1)] = None,
    action: Annotated[str | None, Query(max_length=64, pattern=r"^[a-z_.]*$")] = None,
    outcome: Literal["success", "denied", "error", "not_found", "duplicate", ""] = "",
    page_no: Annotated[int, Query(alias="page", ge=1, le=100_000)] = 1,
    verify: bool = False,
    entity_type: Annotated[str | None, Query(max_length=32, pattern=r"^[a-z_]*$")] = None,
    entity_id: Annotated[int | None, Query(gt=0, le=2**31 - 1)] = None,
) -> Response:
    params = PageParams(page=page_no, size=50)
    rows, total = await queries.list_events(
        session=session,
        principal=principal,
        patient_id=patient_id,
        action=action or None,
        outcome=outcome or None,
        params=params,
        entity_type=entity_type or None,
        entity_id=entity_id,
    )
    names = await queries.institution_names(session, {e.institution_id for e in rows})
    can_verify = allows(principal, Action.VIEW_AUDIT)
    result = await service.verify(session=session) if verify and can_verify else None
    return page(
        request,
        principal,
        "audit/log.html",
        {
            "events": rows,
            "names": names,
            "own_institution": principal.institution_id,
            "total": total,
            "page_no": page_no,
            "pages": max(1, -(-total // params.size)),
            "patient_id": patient_id or "",
            "action": action or "",
            "outcome": outcome,
            "entity_type": entity_type or "",
            "entity_id": entity_id or "",
            "can_verify": can_verify,
            "result": result,
            "action_label": actions.label,
            "action_areas": actions.areas(),
        },
    )
