"""Incident and task state machines (on `yiyun.core.statemachine`).

    incident:  open --close--> closed --reopen--> open
    task:      sent --acknowledge--> acknowledged --complete--> done
                 |                        |
                 +--------cancel----------+--> cancelled

The command room (health authority) closes and reopens incidents and cancels tasks; a
site's own staff acknowledge and complete its tasks. Any other (state, action) pair is an
`IllegalTransition` (409) naming both. Every step is audited and announced on the bus
(`emergency.incident`, `emergency.task`) after commit.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.audit import service as audit
from yiyun.audit.service import Actor
from yiyun.auth.policy import Action, Target, allows
from yiyun.auth.principal import Principal
from yiyun.core.bus import EventBus
from yiyun.core.clock import now
from yiyun.core.statemachine import Machine, Step, Who
from yiyun.emergency.models import Incident, IncidentState, Task, TaskState

IS, TS = IncidentState, TaskState
ILLEGAL = "emergency.illegal_transition"
INCIDENT_CHANNEL = "emergency.incident"
TASK_CHANNEL = "emergency.task"


def _commands(principal: Any, _entity: object) -> bool:
    return allows(principal, Action.COMMAND_EMERGENCY)


def _site_responds(principal: Any, task: Task) -> bool:
    return allows(principal, Action.RESPOND_EMERGENCY, Target.of(task.site_id))


COMMAND: Who[Any] = Who(_commands)
SITE: Who[Task] = Who(_site_responds)

INCIDENT_TABLE: dict[tuple[IncidentState, str], Step[IncidentState, Incident]] = {
    (IS.OPEN, "close"): Step(IS.CLOSED, COMMAND),
    (IS.CLOSED, "reopen"): Step(IS.OPEN, COMMAND),
}
TASK_TABLE: dict[tuple[TaskState, str], Step[TaskState, Task]] = {
    (TS.SENT, "acknowledge"): Step(TS.ACKNOWLEDGED, SITE),
    (TS.SENT, "cancel"): Step(TS.CANCELLED, COMMAND),
    (TS.ACKNOWLEDGED, "complete"): Step(TS.DONE, SITE),
    (TS.ACKNOWLEDGED, "cancel"): Step(TS.CANCELLED, COMMAND),
}

INCIDENT: Machine[IncidentState, Incident] = Machine(
    name="incident",
    states=IncidentState,
    table=INCIDENT_TABLE,
    audit=audit.record,
    entity_type="incident",
    audit_prefix="emergency",
    channel=INCIDENT_CHANNEL,
    illegal_code=ILLEGAL,
)
TASK: Machine[TaskState, Task] = Machine(
    name="task",
    states=TaskState,
    table=TASK_TABLE,
    audit=audit.record,
    entity_type="task",
    audit_prefix="emergency.task",
    channel=TASK_CHANNEL,
    illegal_code=ILLEGAL,
)


def incident_fields(incident: Incident) -> dict[str, Any]:
    return {"incident_id": incident.id, "site_ids": list(incident.site_ids)}


def task_fields(task: Task) -> dict[str, Any]:
    return {"task_id": task.id, "incident_id": task.incident_id, "site_id": task.site_id}


async def step_incident(
    *,
    session: AsyncSession,
    bus: EventBus,
    principal: Principal,
    actor: Actor,
    incident: Incident,
    action: str,
) -> IncidentState:
    state = await INCIDENT.transition(
        session=session,
        bus=bus,
        entity=incident,
        action=action,
        actor=actor,
        principal=principal,
        event=incident_fields(incident),
    )
    incident.closed_at = now() if state is IS.CLOSED else None
    return state


async def step_task(
    *,
    session: AsyncSession,
    bus: EventBus,
    principal: Principal,
    actor: Actor,
    task: Task,
    action: str,
    result: str = "",
) -> TaskState:
    state = await TASK.transition(
        session=session,
        bus=bus,
        entity=task,
        action=action,
        actor=actor,
        principal=principal,
        event=task_fields(task),
        institution_id=task.site_id,
    )
    if action == "acknowledge":
        task.acknowledged_at, task.acknowledged_by_id = now(), principal.user_id
    elif action == "complete":
        task.done_at, task.result = now(), result[:4000]
    return state
