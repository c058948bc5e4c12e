"""Emergency command use cases: incidents, log, tasks, resources, convening sites."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.audit import service as audit
from yiyun.audit.service import Actor
from yiyun.auth import policy
from yiyun.auth.policy import Action, Target, allows, require
from yiyun.auth.principal import Principal
from yiyun.core.bus import EventBus
from yiyun.core.clock import now
from yiyun.core.errors import InvalidInput, NotFound
from yiyun.emergency import workflow
from yiyun.emergency.models import (
    Incident,
    IncidentState,
    LogEntry,
    ResourceReport,
    Task,
    TaskState,
)
from yiyun.i18n.text import Text
from yiyun.meetings import schedule as meetings_schedule
from yiyun.meetings import service as meetings_service
from yiyun.meetings.schemas import MeetingCreate, Subject
from yiyun.notify import service as notify_service
from yiyun.org.enums import InstitutionKind, Role
from yiyun.org.models import Institution, User, UserRole
from yiyun.records import service as records_service

# Until a duty roster exists, these roles at a site are the ones rung when it is convened.
ON_DUTY_ROLES = (Role.INSTITUTION_ADMIN, Role.COMMUNITY_DOCTOR, Role.SPECIALIST, Role.NURSE)
MAX_ON_DUTY_PER_SITE = 3
# Sites are rung a batch at a time so no single notification write or push burst grows
# with the size of the district.
RING_BATCH = 50


@dataclass(frozen=True)
class Convened:
    incident: Incident
    meeting_id: int
    rung: int
    sites: int


async def _sites(session: AsyncSession, site_ids: list[int]) -> list[Institution]:
    wanted = sorted(set(site_ids))
    rows = list(
        (await session.scalars(select(Institution).where(Institution.id.in_(wanted)))).all()
    )
    if len(rows) != len(wanted):
        raise InvalidInput(
            "unknown site",
            code="emergency.unknown_site",
            details={"missing": sorted(set(wanted) - {r.id for r in rows})},
        )
    return rows


async def care_site_ids(session: AsyncSession) -> list[int]:
    query = select(Institution.id).where(
        Institution.kind != InstitutionKind.HEALTH_AUTHORITY, Institution.active.is_(True)
    )
    return list((await session.scalars(query.order_by(Institution.id))).all())


async def log(
    session: AsyncSession,
    incident: Incident,
    text: str,
    *,
    kind: str = "note",
    author_id: int | None = None,
) -> LogEntry:
    entry = LogEntry(
        incident_id=incident.id, at=now(), author_id=author_id, kind=kind, text=text[:4000]
    )
    session.add(entry)
    await session.flush()
    return entry


async def open_incident(
    *,
    session: AsyncSession,
    bus: EventBus,
    principal: Principal,
    actor: Actor,
    title: str,
    site_ids: list[int],
    alert_id: int | None = None,
) -> Incident:
    require(principal, Action.COMMAND_EMERGENCY)
    await _sites(session, site_ids)
    incident = Incident(
        title=title[:200],
        state=IncidentState.OPEN,
        alert_id=alert_id,
        site_ids=sorted(set(site_ids)),
        created_by_id=principal.user_id,
        created_at=now(),
    )
    session.add(incident)
    await session.flush()
    await log(
        session,
        incident,
        f"opened by {principal.display_name}",
        kind="opened",
        author_id=principal.user_id,
    )
    await audit.record(
        session=session,
        actor=actor,
        action="emergency.open",
        entity_type="incident",
        entity_id=incident.id,
        details={"sites": len(incident.site_ids), "alert_id": alert_id},
    )
    workflow.INCIDENT.announce(
        session=session,
        bus=bus,
        entity_id=incident.id,
        action="open",
        before=None,
        after=incident.state,
        at=incident.created_at,
        extra=workflow.incident_fields(incident),
    )
    return incident


async def get_incident(
    *, session: AsyncSession, principal: Principal, incident_id: int
) -> Incident:
    incident = await session.get(Incident, incident_id)
    if incident is None:
        raise NotFound("incident not found", code="emergency.incident_not_found")
    require(principal, Action.RESPOND_EMERGENCY, Target(frozenset(incident.site_ids)))
    return incident


async def transition_incident(
    *,
    session: AsyncSession,
    bus: EventBus,
    principal: Principal,
    actor: Actor,
    incident_id: int,
    action: str,
) -> Incident:
    incident = await get_incident(session=session, principal=principal, incident_id=incident_id)
    await workflow.step_incident(
        session=session,
        bus=bus,
        principal=principal,
        actor=actor,
        incident=incident,
        action=action,
    )
    await log(session, incident, action, kind=action, author_id=principal.user_id)
    return incident


async def on_duty_staff(session: AsyncSession, site_ids: list[int]) -> list[User]:
    """Who is rung for a site: its clinical staff and administrators (a few per site)."""
    query = (
        select(User)
        .join(UserRole, UserRole.user_id == User.id)
        .where(
            User.institution_id.in_(site_ids),
            User.active.is_(True),
            UserRole.role.in_(ON_DUTY_ROLES),
        )
        .order_by(User.institution_id, User.id)
    )
    per_site: dict[int, list[User]] = {}
    for user in (await session.scalars(query)).unique():
        bucket = per_site.setdefault(user.institution_id, [])
        if len(bucket) < MAX_ON_DUTY_PER_SITE and user not in bucket:
            bucket.append(user)
    return [u for users in per_site.values() for u in users]


async def convene(
    *, session: AsyncSession, bus: EventBus, ctx: records_service.Ctx, incident_id: int
) -> Convened:
    """One click: a video meeting with the incident's sites' on-duty staff, all rung at once."""
    principal = ctx.principal
    incident = await get_incident(session=session, principal=principal, incident_id=incident_id)
    require(principal, Action.COMMAND_EMERGENCY)
    staff = await on_duty_staff(session, incident.site_ids)
    try:
        data = MeetingCreate(title=incident.title)
    except ValidationError:
        raise InvalidInput(
            "the incident's title cannot be a meeting title",
            code="emergency.bad_title",
            details={"field": "title"},
        ) from None
    meeting = await meetings_schedule.create(
        session=session,
        ctx=ctx,
        data=data,
        bus=bus,
        subject=Subject(type="emergency.incident", id=incident.id),
    )
    # The sites' staff are added by id, however many there are (a request's list of names
    # is capped for people typing them; this one is not), and rung in batches below.
    await meetings_service.add_participants(
        session=session, meeting=meeting, user_ids=[u.id for u in staff]
    )
    rung = 0
    ids = [u.id for u in staff if u.id != principal.user_id]
    for start in range(0, len(ids), RING_BATCH):
        rung += await meetings_service.ring(
            session=session,
            bus=bus,
            meeting=meeting,
            caller=principal,
            user_ids=ids[start : start + RING_BATCH],
        )
    incident.meeting_id = meeting.id
    await log(
        session,
        incident,
        f"convened {len(incident.site_ids)} sites, rang {rung}",
        kind="convened",
        author_id=principal.user_id,
    )
    return Convened(
        incident=incident, meeting_id=meeting.id, rung=rung, sites=len(incident.site_ids)
    )


# --- tasks -----------------------------------------------------------------------------


async def dispatch(
    *,
    session: AsyncSession,
    bus: EventBus,
    principal: Principal,
    actor: Actor,
    incident_id: int,
    site_ids: list[int],
    title: str,
    detail: str = "",
    due_at: datetime | None = None,
) -> list[Task]:
    incident = await get_incident(session=session, principal=principal, incident_id=incident_id)
    require(principal, Action.COMMAND_EMERGENCY)
    sites = await _sites(session, site_ids)
    tasks = [
        Task(
            incident_id=incident.id,
            site_id=s.id,
            title=title[:200],
            detail=detail,
            state=TaskState.SENT,
            due_at=due_at,
            created_at=now(),
        )
        for s in sites
    ]
    session.add_all(tasks)
    await session.flush()
    for task in tasks:
        workflow.TASK.announce(
            session=session,
            bus=bus,
            entity_id=task.id,
            action="dispatch",
            before=None,
            after=task.state,
            at=task.created_at,
            extra=workflow.task_fields(task),
        )
    staff = await on_duty_staff(session, [s.id for s in sites])
    await notify_service.notify(
        session=session,
        bus=bus,
        user_ids=[u.id for u in staff],
        kind="emergency.task",
        title=title,
        body=Text("Task for the incident: {incident}", incident=incident.title),
        link="/emergency/tasks",
        urgent=True,
    )
    await log(
        session,
        incident,
        f"task to {len(sites)} sites: {title}",
        kind="task",
        author_id=principal.user_id,
    )
    await audit.record(
        session=session,
        actor=actor,
        action="emergency.dispatch",
        entity_type="incident",
        entity_id=incident.id,
        details={"sites": len(sites)},
    )
    return tasks


async def tasks_for(
    *, session: AsyncSession, principal: Principal, incident_id: int | None = None
) -> list[Task]:
    """The tasks the caller may see: every site's for the command room, else its own."""
    require(principal, Action.RESPOND_EMERGENCY, own_target(principal))
    scope = policy.scope(principal, Action.RESPOND_EMERGENCY)
    query = select(Task).where(scope.where(Task.site_id)).order_by(Task.id.desc()).limit(500)
    if incident_id is not None:
        query = query.where(Task.incident_id == incident_id)
    return list((await session.scalars(query)).all())


@dataclass(frozen=True)
class IncidentView:
    incident: Incident
    log: list[LogEntry]
    tasks: list[Task]


async def incident_detail(
    *, session: AsyncSession, principal: Principal, incident_id: int
) -> IncidentView:
    """An incident with its log and the tasks the caller may see."""
    incident = await get_incident(session=session, principal=principal, incident_id=incident_id)
    entries = await session.scalars(
        select(LogEntry).where(LogEntry.incident_id == incident.id).order_by(LogEntry.id)
    )
    tasks = await tasks_for(session=session, principal=principal, incident_id=incident.id)
    return IncidentView(incident, list(entries.all()), tasks)


async def add_log(
    *, session: AsyncSession, principal: Principal, actor: Actor, incident_id: int, text: str
) -> LogEntry:
    """A command-room note on an incident's log (audited)."""
    incident = await get_incident(session=session, principal=principal, incident_id=incident_id)
    require(principal, Action.COMMAND_EMERGENCY)
    entry = await log(session, incident, text, author_id=principal.user_id)
    await audit.record(
        session=session,
        actor=actor,
        action="emergency.log",
        entity_type="incident",
        entity_id=incident.id,
        details={"entry_id": entry.id},
    )
    return entry


OPEN_TASK_STATES = ("sent", "acknowledged")


async def open_work(
    *, session: AsyncSession, principal: Principal, limit: int = 20
) -> tuple[list[Incident], list[Task]]:
    """What is still to do: open incidents (district-wide roles) and open tasks, of the
    principal's own site or, for the district's command and dispatch, of every site."""
    district = allows(principal, Action.VIEW_DISPATCH) or _commands(principal)
    if not district and not allows(principal, Action.RESPOND_EMERGENCY, own_target(principal)):
        return [], []
    tasks = select(Task).where(Task.state.in_(OPEN_TASK_STATES))
    if not district:
        tasks = tasks.where(Task.site_id == principal.institution_id)
    open_tasks = list((await session.scalars(tasks.order_by(Task.id.desc()).limit(limit))).all())
    incidents: list[Incident] = []
    if district:
        query = select(Incident).where(Incident.state == "open").order_by(Incident.id.desc())
        incidents = list((await session.scalars(query.limit(limit))).all())
    return incidents, open_tasks


def own_target(principal: Principal) -> Target:
    return Target.of(principal.institution_id)


def _commands(principal: Principal) -> bool:
    return allows(principal, Action.COMMAND_EMERGENCY)


async def task_step(
    *,
    session: AsyncSession,
    bus: EventBus,
    principal: Principal,
    actor: Actor,
    task_id: int,
    action: str,
    result: str = "",
) -> Task:
    task = await session.get(Task, task_id)
    if task is None:
        raise NotFound("task not found", code="emergency.task_not_found")
    require(principal, Action.RESPOND_EMERGENCY, Target.of(task.site_id))
    await workflow.step_task(
        session=session,
        bus=bus,
        principal=principal,
        actor=actor,
        task=task,
        action=action,
        result=result,
    )
    incident = await session.get(Incident, task.incident_id)
    if incident is not None:
        await log(
            session,
            incident,
            f"task {task.id} {action}",
            kind=f"task.{action}",
            author_id=principal.user_id,
        )
    return task


# --- resources -------------------------------------------------------------------------


async def report_resources(
    *, session: AsyncSession, principal: Principal, actor: Actor, site_id: int, data: dict[str, Any]
) -> ResourceReport:
    require(principal, Action.RESPOND_EMERGENCY, Target.of(site_id))
    await _sites(session, [site_id])
    report = ResourceReport(
        site_id=site_id, reported_at=now(), reported_by_id=principal.user_id, **data
    )
    if report.beds_free > report.beds_total:
        raise InvalidInput(
            "free beds exceed total beds", code="emergency.bad_beds", details={"field": "beds_free"}
        )
    session.add(report)
    await session.flush()
    await audit.record(
        session=session,
        actor=actor,
        action="emergency.resources",
        entity_type="resource_report",
        entity_id=report.id,
        institution_id=site_id,
    )
    return report


async def latest_resources(*, session: AsyncSession) -> list[ResourceReport]:
    """The most recent report of every site."""
    rows = (
        await session.scalars(
            select(ResourceReport).order_by(ResourceReport.site_id, ResourceReport.id.desc())
        )
    ).all()
    latest: dict[int, ResourceReport] = {}
    for row in rows:
        latest.setdefault(row.site_id, row)
    return list(latest.values())
