"""Incident and task tables on the state machine: every (state, action) pair taken for real,
who may take each step, and what a step leaves behind (audit row, bus event after commit)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import World
from tests.workflow_checks import assert_illegal, assert_legal, assert_rolled_back, attempt
from yiyun.auth import service as auth_service
from yiyun.core.errors import PermissionDenied
from yiyun.emergency import workflow
from yiyun.emergency.models import Incident, IncidentState, Task, TaskState

IS, TS = IncidentState, TaskState
AT = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
# Written out by hand from the documented machines, not computed from the tables.
INCIDENT_LEGAL = {(IS.OPEN, "close"): IS.CLOSED, (IS.CLOSED, "reopen"): IS.OPEN}
TASK_LEGAL = {
    (TS.SENT, "acknowledge"): TS.ACKNOWLEDGED,
    (TS.SENT, "cancel"): TS.CANCELLED,
    (TS.ACKNOWLEDGED, "complete"): TS.DONE,
    (TS.ACKNOWLEDGED, "cancel"): TS.CANCELLED,
}
INCIDENT_PAIRS = list(itertools.product(IncidentState, ["close", "reopen", "cancel"]))
TASK_PAIRS = list(
    itertools.product(TaskState, ["acknowledge", "complete", "cancel", "close", "reopen"])
)


def test_the_tables_are_the_documented_ones() -> None:
    assert {p: s.to for p, s in workflow.INCIDENT.table.items()} == INCIDENT_LEGAL
    assert {p: s.to for p, s in workflow.TASK.table.items()} == TASK_LEGAL


async def make_incident(app: object, world: World, state: IncidentState) -> int:
    async with app.state.sessions() as s, s.begin():  # type: ignore[attr-defined]
        incident = Incident(
            title="发热聚集",
            state=state,
            site_ids=[world.inst["chc_a"].id],
            created_by_id=world.users["hana"].id,
            created_at=AT,
        )
        s.add(incident)
        await s.flush()
        return incident.id


async def make_task(app: object, world: World, state: TaskState) -> int:
    incident_id = await make_incident(app, world, IS.OPEN)
    async with app.state.sessions() as s, s.begin():  # type: ignore[attr-defined]
        task = Task(
            incident_id=incident_id,
            site_id=world.inst["chc_a"].id,
            title="上报发热门诊就诊人数",
            state=state,
            created_at=AT,
        )
        s.add(task)
        await s.flush()
        return task.id


def _incident_step(app: object, world: World, action: str, who: str = "hana"):  # type: ignore[no-untyped-def]
    principal = auth_service.principal_of(world.users[who])

    async def step(session: AsyncSession, incident: Incident) -> None:
        await workflow.step_incident(
            session=session,
            bus=app.state.bus,  # type: ignore[attr-defined]
            principal=principal,
            actor=principal.actor(),
            incident=incident,
            action=action,
        )

    return step


def _task_step(app: object, world: World, action: str, who: str):  # type: ignore[no-untyped-def]
    principal = auth_service.principal_of(world.users[who])

    async def step(session: AsyncSession, task: Task) -> None:
        await workflow.step_task(
            session=session,
            bus=app.state.bus,  # type: ignore[attr-defined]
            principal=principal,
            actor=principal.actor(),
            task=task,
            action=action,
            result="12 人",
        )

    return step


@pytest.mark.parametrize(
    ("state", "action"), INCIDENT_PAIRS, ids=[f"{s}-{a}" for s, a in INCIDENT_PAIRS]
)
async def test_every_incident_pair_follows_the_table(
    app: object, world: World, state: IncidentState, action: str
) -> None:
    incident_id = await make_incident(app, world, state)
    out = await attempt(
        app,
        machine=workflow.INCIDENT,
        model=Incident,
        entity_id=incident_id,
        action=action,
        step=_incident_step(app, world, action),
    )
    if (state, action) in INCIDENT_LEGAL:
        to = INCIDENT_LEGAL[(state, action)]
        assert_legal(out, to=to, action=action, entity_id=incident_id)
        assert out.published[0]["site_ids"] == [world.inst["chc_a"].id]
        return
    assert_illegal(out, state=state.value, action=action, code="emergency.illegal_transition")


@pytest.mark.parametrize(("state", "action"), TASK_PAIRS, ids=[f"{s}-{a}" for s, a in TASK_PAIRS])
async def test_every_task_pair_follows_the_table(
    app: object, world: World, state: TaskState, action: str
) -> None:
    task_id = await make_task(app, world, state)
    who = "hana" if action == "cancel" else "alice"  # the command room cancels, the site answers
    out = await attempt(
        app,
        machine=workflow.TASK,
        model=Task,
        entity_id=task_id,
        action=action,
        step=_task_step(app, world, action, who),
    )
    if (state, action) in TASK_LEGAL:
        to = TASK_LEGAL[(state, action)]
        assert_legal(out, to=to, action=action, entity_id=task_id)
        assert out.published[0]["site_id"] == world.inst["chc_a"].id
        return
    assert_illegal(out, state=state.value, action=action, code="emergency.illegal_transition")


@pytest.mark.parametrize(
    ("state", "action", "who"),
    [
        (TS.SENT, "acknowledge", "mallory"),  # another site's doctor
        (TS.ACKNOWLEDGED, "complete", "mallory"),
        (TS.SENT, "cancel", "alice"),  # the site itself may not cancel
    ],
)
async def test_who_may_take_a_task_step(
    app: object, world: World, state: TaskState, action: str, who: str
) -> None:
    task_id = await make_task(app, world, state)
    out = await attempt(
        app,
        machine=workflow.TASK,
        model=Task,
        entity_id=task_id,
        action=action,
        step=_task_step(app, world, action, who),
    )
    assert isinstance(out.error, PermissionDenied) and out.error.code == "access.denied"
    assert out.state == state.value and out.audited == 0 and out.published == []


async def test_only_the_command_room_closes_an_incident(app: object, world: World) -> None:
    incident_id = await make_incident(app, world, IS.OPEN)
    out = await attempt(
        app,
        machine=workflow.INCIDENT,
        model=Incident,
        entity_id=incident_id,
        action="close",
        step=_incident_step(app, world, "close", who="alice"),
    )
    assert isinstance(out.error, PermissionDenied)
    assert out.state == "open" and out.published == []


async def test_a_rolled_back_task_step_publishes_nothing(app: object, world: World) -> None:
    task_id = await make_task(app, world, TS.SENT)
    out = await attempt(
        app,
        machine=workflow.TASK,
        model=Task,
        entity_id=task_id,
        action="acknowledge",
        step=_task_step(app, world, "acknowledge", "alice"),
        roll_back=True,
    )
    assert_rolled_back(out, state="sent")


async def test_opening_an_incident_is_announced_once_after_commit(
    app: object, world: World
) -> None:
    from yiyun.emergency import service

    principal = auth_service.principal_of(world.users["hana"])
    bus = app.state.bus  # type: ignore[attr-defined]
    async with bus.subscribe(workflow.INCIDENT.channel) as sub:
        async with app.state.sessions() as s, s.begin():  # type: ignore[attr-defined]
            incident = await service.open_incident(
                session=s,
                bus=bus,
                principal=principal,
                actor=principal.actor(),
                title="发热聚集",
                site_ids=[world.inst["chc_a"].id],
            )
            assert await sub.get(timeout=0.05) is None  # not before the commit
        message = await sub.get(timeout=2)
        assert await sub.get(timeout=0.05) is None  # once
    assert message is not None
    assert message["action"] == "open" and message["from"] is None
    assert message["state"] == "open" and message["id"] == incident.id
    assert message["site_ids"] == [world.inst["chc_a"].id]
