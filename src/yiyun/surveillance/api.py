"""Surveillance JSON API: report counts, run detection, work alerts, dashboard and KPIs.

Scoping (service.py): the health authority and the consortium admin see the district;
a site's own staff see their site; ops and dispatch get 403. Alerts outside the caller's
scope answer 404.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Body, File, Query, Request, UploadFile

from yiyun.auth import policy
from yiyun.auth.policy import Action
from yiyun.auth.principal import Principal
from yiyun.core.bus import EventBus
from yiyun.core.clock import now
from yiyun.core.errors import InvalidInput
from yiyun.core.pagination import Page
from yiyun.surveillance import detection, ingest, service, workflow
from yiyun.surveillance.config import config_from
from yiyun.surveillance.models import (
    EARLIEST,
    LATEST,
    AlertActionIn,
    AlertDetail,
    AlertEventRead,
    AlertRead,
    AlertState,
    CountRead,
    CountsIn,
    DashboardRead,
    IngestResult,
    KpiRead,
    RunIn,
    RunRead,
    SyndromeRead,
    TrendsRead,
    local_date,
)
from yiyun.surveillance.workflow import AlertAction
from yiyun.web.deps import AppSettings, CurrentActor, CurrentPrincipal, DbSession
from yiyun.web.params import Id, Paging

router = APIRouter()
Day = Annotated[date | None, Query(description="YYYY-MM-DD", ge=EARLIEST, le=LATEST)]


def _bus(request: Request) -> EventBus:
    bus: EventBus = request.app.state.bus
    return bus


@router.post("/surveillance/counts", response_model=IngestResult)
async def report_counts(
    data: CountsIn, session: DbSession, principal: CurrentPrincipal, actor: CurrentActor
) -> IngestResult:
    """Report daily counts; bad rows come back with their row number (from 1) and reason."""
    return await ingest.ingest_rows(
        session=session, principal=principal, actor=actor, rows=data.rows
    )


@router.post("/surveillance/counts/csv", response_model=IngestResult)
async def upload_counts_csv(
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
    settings: AppSettings,
    file: Annotated[
        UploadFile,
        File(
            description="CSV (UTF-8 or GB 18030) with the header date,site,syndrome,count",
            json_schema_extra={"minLength": 1},
        ),
    ],
) -> IngestResult:
    """Upload a CSV (UTF-8 or GB 18030); rows are numbered as in a spreadsheet (header = 1)."""
    limit = settings.storage.max_upload_bytes
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise InvalidInput(
            "the file is too large", code="upload.too_large", details={"max_bytes": limit}
        )
    return await ingest.ingest_csv(session=session, principal=principal, actor=actor, data=data)


@router.post("/surveillance/counts/fhir", response_model=IngestResult)
async def report_counts_fhir(
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
    document: Annotated[
        dict[str, Any],
        Body(
            description="MeasureReport or Bundle (FHIR R4)",
            json_schema_extra={
                "required": ["resourceType"],
                "properties": {"resourceType": {"enum": ["MeasureReport", "Bundle"]}},
            },
        ),
    ],
) -> IngestResult:
    """A FHIR R4 MeasureReport per site and day (a group per syndrome), or a Bundle of them."""
    return await ingest.ingest_fhir(
        session=session, principal=principal, actor=actor, document=document
    )


@router.get("/surveillance/counts", response_model=Page[CountRead])
async def list_counts(
    session: DbSession,
    params: Paging,
    principal: CurrentPrincipal,
    site_id: Annotated[int | None, Query(gt=0, le=2**31 - 1)] = None,
    syndrome: Annotated[str | None, Query(max_length=32)] = None,
    start: Day = None,
    end: Day = None,
) -> Page[CountRead]:
    rows, total = await service.list_counts(
        session=session,
        principal=principal,
        params=params,
        site_id=site_id,
        syndrome=syndrome,
        start=start,
        end=end,
    )
    items = [CountRead.model_validate(r) for r in rows]
    return Page.of(items, total, params)


@router.get("/surveillance/syndromes", response_model=list[SyndromeRead])
async def list_syndromes(session: DbSession, principal: CurrentPrincipal) -> list[SyndromeRead]:
    rows = await service.list_syndromes(session=session, principal=principal)
    return [SyndromeRead.model_validate(r) for r in rows]


@router.get("/surveillance/trends", response_model=TrendsRead)
async def trends(
    session: DbSession,
    principal: CurrentPrincipal,
    days: Annotated[int, Query(ge=1, le=1100)] = 90,
    end: Day = None,
) -> dict[str, Any]:
    """Daily totals per syndrome over the caller's scope (the command room's chart)."""
    return await service.trends(session=session, principal=principal, days=days, end=end)


@router.get("/surveillance/dashboard", response_model=DashboardRead)
async def dashboard(
    session: DbSession, principal: CurrentPrincipal, start: Day = None, end: Day = None
) -> dict[str, Any]:
    """Counts per day and syndrome, per-site totals, open alerts with map positions."""
    last = end or local_date(now())
    if start and not 0 <= (last - start).days <= 1100:
        raise InvalidInput(
            "the window must run forward and span at most 1100 days",
            code="surveillance.bad_window",
        )
    return await service.dashboard(session=session, principal=principal, start=start, end=end)


@router.post("/surveillance/run", response_model=RunRead)
async def run_detection(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
    settings: AppSettings,
    data: Annotated[RunIn | None, Body()] = None,
) -> detection.RunSummary:
    """Run detection now (health authority); re-running the same days adds nothing."""
    policy.require(principal, Action.MANAGE_ALERTS)
    config = config_from(settings)
    if data is not None and data.lookback_days is not None:
        config = config.model_copy(update={"lookback_days": data.lookback_days})
    return await detection.run(
        session=session,
        bus=_bus(request),
        as_of=data.as_of if data else None,
        config=config,
        actor=actor,
    )


@router.get("/surveillance/alerts", response_model=Page[AlertRead])
async def list_alerts(
    session: DbSession,
    params: Paging,
    principal: CurrentPrincipal,
    state: AlertState | None = None,
    open: Annotated[bool, Query(description="only alerts still being worked")] = False,
    site_id: Annotated[int | None, Query(gt=0, le=2**31 - 1)] = None,
    syndrome: Annotated[str | None, Query(max_length=32)] = None,
) -> Page[AlertRead]:
    rows, total = await service.list_alerts(
        session=session,
        principal=principal,
        params=params,
        state=state,
        open_only=open,
        site_id=site_id,
        syndrome=syndrome,
    )
    items = [AlertRead.model_validate(a) for a in rows]
    return Page.of(items, total, params)


async def _detail(session: DbSession, alert_id: int, principal: Principal) -> AlertDetail:
    alert = await service.get_alert(session=session, principal=principal, alert_id=alert_id)
    events = await service.alert_events(session=session, alert_id=alert.id)
    return AlertDetail(
        **AlertRead.model_validate(alert).model_dump(),
        events=[AlertEventRead.model_validate(e) for e in events],
    )


@router.get("/surveillance/alerts/{alert_id}", response_model=AlertDetail)
async def get_alert(alert_id: Id, session: DbSession, principal: CurrentPrincipal) -> AlertDetail:
    """An alert with its log of events."""
    return await _detail(session, alert_id, principal)


@router.post("/surveillance/alerts/{alert_id}/{action}", response_model=AlertDetail)
async def take_action(
    alert_id: Id,
    action: AlertAction,
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
    data: Annotated[AlertActionIn | None, Body()] = None,
) -> AlertDetail:
    """acknowledge, investigate, confirm, dismiss, close; assign with `{"user_id": ...}`.

    A step the alert's state does not allow answers 409 naming the state and the action.
    """
    alert = await service.get_alert(session=session, principal=principal, alert_id=alert_id)
    body = data or AlertActionIn()
    await workflow.take(
        session=session,
        bus=_bus(request),
        principal=principal,
        actor=actor,
        alert=alert,
        action=action,
        note=body.note,
        assignee_id=body.user_id,
    )
    return await _detail(session, alert_id, principal)


@router.get("/surveillance/kpi", response_model=KpiRead)
async def kpi(
    session: DbSession,
    principal: CurrentPrincipal,
    start: Day = None,
    end: Day = None,
    within_hours: Annotated[float, Query(gt=0, le=24 * 30)] = 24.0,
) -> dict[str, Any]:
    """Response KPIs of alerts opened in the window, per site and overall (CIDARS style)."""
    return await service.kpi(
        session=session, principal=principal, start=start, end=end, within_hours=within_hours
    )
