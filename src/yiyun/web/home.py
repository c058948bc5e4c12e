"""Role home pages: each role lands on what it needs first."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select

from yiyun.auth import policy
from yiyun.auth.policy import Action, Target, allows
from yiyun.emergency import service as emergency_service
from yiyun.meetings import agenda, schedule
from yiyun.meetings.config import config_from
from yiyun.org import overview as org_overview
from yiyun.org import service as org_service
from yiyun.org.models import Institution
from yiyun.records import service as records_service
from yiyun.web.deps import CurrentPrincipal, DbSession
from yiyun.web.pagekit import page

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, session: DbSession, principal: CurrentPrincipal) -> Response:
    institution = await org_service.get_institution(
        session=session, institution_id=principal.institution_id
    )
    wide = policy.scope(principal, Action.VIEW_STAFF).everywhere
    consortium = await org_overview.overview(session=session) if wide else None
    local = await org_overview.overview(session=session, institution_id=institution.id)
    patients = None
    if allows(principal, Action.LIST_PATIENTS, policy.own(principal)):
        query = records_service.visible_query(principal).subquery()
        patients = int(await session.scalar(select(func.count()).select_from(query)) or 0)
    attention = (
        await org_overview.terminals_needing_attention(session=session)
        if allows(principal, Action.WATCH_TERMINALS)
        else []
    )
    attention_total = (
        await org_overview.count_needing_attention(session=session) if attention else 0
    )
    early = config_from(request.app.state.settings).join_early_minutes
    mine = await schedule.listing(session=session, principal=principal, upcoming=True, limit=6)
    incidents, tasks = await emergency_service.open_work(session=session, principal=principal)
    today = (
        await agenda.today_in_district(session) if allows(principal, Action.VIEW_DISPATCH) else None
    )
    site_ids = {t.site_id for t in tasks} | {m.institution_id for m in today or []}
    sites = {
        i.id: i
        for i in await session.scalars(select(Institution).where(Institution.id.in_(site_ids)))
    }
    return page(
        request,
        principal,
        "home/home.html",
        {
            "my_meetings": [(m, agenda.join_state(m, early_minutes=early)) for m in mine],
            "open_tasks": tasks,
            "task_area": allows(principal, Action.VIEW_DISPATCH)
            or allows(principal, Action.RESPOND_EMERGENCY, Target.of(principal.institution_id)),
            "open_incidents": incidents,
            "today_meetings": today,
            "sites": sites,
            "institution": institution,
            "consortium": consortium,
            "local": local,
            "patients": patients,
            "attention": attention,
            "read_only": policy.reads_everywhere_writes_nothing(principal),
            "attention_total": attention_total,
            "can_manage_staff": allows(principal, Action.MANAGE_STAFF, Target.of(institution.id)),
            "can_register": allows(principal, Action.REGISTER_PATIENT, Target.of(institution.id)),
        },
    )
