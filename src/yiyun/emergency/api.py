"""Emergency command JSON API."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request

from yiyun.emergency import board as board_mod
from yiyun.emergency import service
from yiyun.emergency.schemas import (
    ConveneAll,
    ConvenedRead,
    IncidentCreate,
    IncidentDetail,
    IncidentRead,
    LogCreate,
    LogRead,
    ResourceCreate,
    ResourceRead,
    TaskCreate,
    TaskRead,
    TaskStep,
)
from yiyun.web.deps import CurrentActor, CurrentPrincipal, DbSession, PatientCtx
from yiyun.web.params import Id

router = APIRouter()


@router.get("/emergency/board")
async def board(session: DbSession, principal: CurrentPrincipal) -> dict[str, Any]:
    """Sites with map positions, alert and terminal state, tasks, resources; open incidents."""
    return await board_mod.board(session=session, principal=principal)


@router.post("/emergency/incidents", response_model=IncidentRead, status_code=201)
async def open_incident(
    data: IncidentCreate,
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
) -> IncidentRead:
    incident = await service.open_incident(
        session=session,
        bus=request.app.state.bus,
        principal=principal,
        actor=actor,
        title=data.title,
        site_ids=data.site_ids,
        alert_id=data.alert_id,
    )
    return IncidentRead.model_validate(incident)


@router.get("/emergency/incidents/{incident_id}", response_model=IncidentDetail)
async def get_incident(
    incident_id: Id, session: DbSession, principal: CurrentPrincipal
) -> IncidentDetail:
    view = await service.incident_detail(
        session=session, principal=principal, incident_id=incident_id
    )
    return IncidentDetail(
        **IncidentRead.model_validate(view.incident).model_dump(),
        log=[LogRead.model_validate(e) for e in view.log],
        tasks=[TaskRead.model_validate(t) for t in view.tasks],
    )


@router.post("/emergency/incidents/{incident_id}/log", response_model=LogRead, status_code=201)
async def add_log(
    incident_id: Id,
    data: LogCreate,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
) -> LogRead:
    entry = await service.add_log(
        session=session, principal=principal, actor=actor, incident_id=incident_id, text=data.text
    )
    return LogRead.model_validate(entry)


@router.post("/emergency/incidents/{incident_id}/convene", response_model=ConvenedRead)
async def convene(
    incident_id: Id,
    request: Request,
    session: DbSession,
    ctx: PatientCtx,
) -> ConvenedRead:
    """One click: a meeting with the incident's sites' on-duty staff, all rung at once."""
    done = await service.convene(
        session=session, bus=request.app.state.bus, ctx=ctx, incident_id=incident_id
    )
    return ConvenedRead(
        incident_id=done.incident.id, meeting_id=done.meeting_id, rung=done.rung, sites=done.sites
    )


@router.post("/emergency/convene-all", response_model=ConvenedRead)
async def convene_all(
    data: ConveneAll,
    request: Request,
    session: DbSession,
    ctx: PatientCtx,
) -> ConvenedRead:
    """Open an incident covering every care site and convene them all."""
    incident = await service.open_incident(
        session=session,
        bus=request.app.state.bus,
        principal=ctx.principal,
        actor=ctx.actor,
        title=data.title,
        site_ids=await service.care_site_ids(session),
    )
    done = await service.convene(
        session=session, bus=request.app.state.bus, ctx=ctx, incident_id=incident.id
    )
    return ConvenedRead(
        incident_id=incident.id, meeting_id=done.meeting_id, rung=done.rung, sites=done.sites
    )


@router.post(
    "/emergency/incidents/{incident_id}/tasks", response_model=list[TaskRead], status_code=201
)
async def dispatch(
    incident_id: Id,
    data: TaskCreate,
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
) -> list[TaskRead]:
    tasks = await service.dispatch(
        session=session,
        bus=request.app.state.bus,
        principal=principal,
        actor=actor,
        incident_id=incident_id,
        site_ids=data.site_ids,
        title=data.title,
        detail=data.detail,
        due_at=data.due_at,
    )
    return [TaskRead.model_validate(t) for t in tasks]


@router.get("/emergency/tasks", response_model=list[TaskRead])
async def my_tasks(session: DbSession, principal: CurrentPrincipal) -> list[TaskRead]:
    """The caller's site's tasks (all tasks for the command room)."""
    rows = await service.tasks_for(session=session, principal=principal)
    return [TaskRead.model_validate(t) for t in rows]


@router.post("/emergency/tasks/{task_id}/{action}", response_model=TaskRead)
async def task_step(
    task_id: Id,
    action: Literal["acknowledge", "complete", "cancel"],
    data: TaskStep,
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
) -> TaskRead:
    task = await service.task_step(
        session=session,
        bus=request.app.state.bus,
        principal=principal,
        actor=actor,
        task_id=task_id,
        action=action,
        result=data.result,
    )
    return TaskRead.model_validate(task)


@router.post("/emergency/resources", response_model=ResourceRead, status_code=201)
async def report_resources(
    data: ResourceCreate, session: DbSession, principal: CurrentPrincipal, actor: CurrentActor
) -> ResourceRead:
    """A site reports beds, fever-clinic capacity and supplies (its own site by default)."""
    fields = data.model_dump(exclude={"site_id"})
    report = await service.report_resources(
        session=session,
        principal=principal,
        actor=actor,
        site_id=data.site_id or principal.institution_id,
        data=fields,
    )
    return ResourceRead.model_validate(report)


# Declared last: its `{action}` segment would otherwise shadow /convene, /tasks and /log.
@router.post("/emergency/incidents/{incident_id}/{action}", response_model=IncidentRead)
async def incident_step(
    incident_id: Id,
    action: Literal["close", "reopen"],
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
) -> IncidentRead:
    incident = await service.transition_incident(
        session=session,
        bus=request.app.state.bus,
        principal=principal,
        actor=actor,
        incident_id=incident_id,
        action=action,
    )
    return IncidentRead.model_validate(incident)
