"""Command room page (health authority) and the site's task and resource page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from yiyun.auth.policy import Action, require
from yiyun.emergency import service
from yiyun.emergency.schemas import ResourceCreate
from yiyun.org import service as org_service
from yiyun.web.deps import CurrentActor, CurrentPrincipal, DbSession
from yiyun.web.pagekit import invalid, page, see_other
from yiyun.web.params import Id

router = APIRouter()


@router.get("/emergency", response_class=HTMLResponse)
async def command_room(
    request: Request, session: DbSession, principal: CurrentPrincipal, wall: bool = False
) -> Response:
    require(principal, Action.COMMAND_EMERGENCY)
    tasks = await service.tasks_for(session=session, principal=principal)
    return page(request, principal, "emergency/command.html", {"wall": wall, "tasks": tasks[:50]})


@router.get("/emergency/tasks", response_class=HTMLResponse)
async def site_tasks(request: Request, session: DbSession, principal: CurrentPrincipal) -> Response:
    require(principal, Action.RESPOND_EMERGENCY, service.own_target(principal))
    tasks = await service.tasks_for(session=session, principal=principal)
    site = await org_service.get_institution(
        session=session, institution_id=principal.institution_id
    )
    return page(request, principal, "emergency/tasks.html", {"tasks": tasks, "site": site})


@router.post("/emergency/tasks/{task_id}/{action}")
async def task_step(
    task_id: Id,
    action: str,
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
    result: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    await service.task_step(
        session=session,
        bus=request.app.state.bus,
        principal=principal,
        actor=actor,
        task_id=task_id,
        action=action,
        result=result,
    )
    return see_other("/emergency/tasks?done=saved")


@router.post("/emergency/resources")
async def report(
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
    beds_total: Annotated[int, Form(ge=0, le=100_000)],
    beds_free: Annotated[int, Form(ge=0, le=100_000)],
    fever_clinic_capacity: Annotated[int, Form(ge=0, le=100_000)],
    fever_clinic_waiting: Annotated[int, Form(ge=0, le=100_000)],
    masks: Annotated[int, Form(ge=0, le=10_000_000)] = 0,
    test_kits: Annotated[int, Form(ge=0, le=10_000_000)] = 0,
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    try:
        data = ResourceCreate(
            beds_total=beds_total,
            beds_free=beds_free,
            fever_clinic_capacity=fever_clinic_capacity,
            fever_clinic_waiting=fever_clinic_waiting,
            supplies={"masks": masks, "test_kits": test_kits},
            note=note,
        )
    except ValidationError as exc:
        raise invalid(exc) from None
    await service.report_resources(
        session=session,
        principal=principal,
        actor=actor,
        site_id=principal.institution_id,
        data=data.model_dump(exclude={"site_id"}),
    )
    return see_other("/emergency/tasks?done=saved")
