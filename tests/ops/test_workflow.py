"""The alarm table on the state machine: every (state, action) pair taken for real."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import World
from tests.workflow_checks import assert_illegal, assert_legal, assert_rolled_back, attempt
from yiyun.auth import service as auth_service
from yiyun.core.clock import now
from yiyun.core.errors import PermissionDenied
from yiyun.ops import alarms, workflow
from yiyun.ops.models import Alarm, AlarmKind, AlarmState

A = AlarmState
LEGAL = {
    (A.RAISED, "acknowledge"): A.ACKNOWLEDGED,
    (A.RAISED, "clear"): A.CLEARED,
    (A.ACKNOWLEDGED, "clear"): A.CLEARED,
}
PAIRS = list(itertools.product(AlarmState, ["acknowledge", "clear", "raise"]))


def test_the_table_is_the_documented_one() -> None:
    assert {p: s.to for p, s in workflow.MACHINE.table.items()} == LEGAL


async def make(app: Any, state: AlarmState, source: str = "") -> int:
    async with app.state.sessions() as s, s.begin():
        stamp = now()
        alarm = Alarm(
            kind=AlarmKind.JOB_LATE, source=f"job-{state}{source}", severity="major", state=state,
            raised_at=stamp, last_seen_at=stamp, details={},
            open_key=None if state is A.CLEARED else f"job_late:job-{state}{source}",
        )  # fmt: skip
        s.add(alarm)
        await s.flush()
        return alarm.id


def _step(app: Any, world: World, action: str, who: str = "otto") -> Any:
    principal = auth_service.principal_of(world.users[who])

    async def step(session: AsyncSession, alarm: Alarm) -> None:
        await alarms.act(
            session=session, bus=app.state.bus, alarm=alarm, action=action,
            principal=principal, actor=principal.actor(),
        )  # fmt: skip

    return step


@pytest.mark.parametrize(("state", "action"), PAIRS, ids=[f"{s}-{a}" for s, a in PAIRS])
async def test_every_pair_follows_the_table(
    app: Any, world: World, state: AlarmState, action: str
) -> None:
    alarm_id = await make(app, state)
    out = await attempt(
        app, machine=workflow.MACHINE, model=Alarm, entity_id=alarm_id, action=action,
        step=_step(app, world, action),
    )  # fmt: skip
    if (state, action) in LEGAL:
        assert_legal(out, to=LEGAL[(state, action)], action=action, entity_id=alarm_id)
        return
    assert_illegal(out, state=state.value, action=action, code="ops.illegal_transition")


async def test_only_operations_take_steps(app: Any, world: World) -> None:
    for who in ("ines", "hana", "alice"):
        alarm_id = await make(app, A.RAISED, who)
        out = await attempt(
            app, machine=workflow.MACHINE, model=Alarm, entity_id=alarm_id,
            action="acknowledge", step=_step(app, world, "acknowledge", who),
        )  # fmt: skip
        assert isinstance(out.error, PermissionDenied) and out.error.code == "ops.alarm_denied"
        assert out.state == "raised"


async def test_a_rolled_back_step_leaves_nothing(app: Any, world: World) -> None:
    alarm_id = await make(app, A.RAISED)
    out = await attempt(
        app, machine=workflow.MACHINE, model=Alarm, entity_id=alarm_id, action="acknowledge",
        step=_step(app, world, "acknowledge"), roll_back=True,
    )  # fmt: skip
    assert_rolled_back(out, state="raised")
