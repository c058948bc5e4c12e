"""The consultation table on the state machine: every (state, action) pair taken for real,
who may take each step, what a step leaves (audit row, one event after commit), and two
experts accepting one single-expert request at the same moment on PostgreSQL."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.consult.conftest import CW, assigned
from tests.factories import World
from tests.workflow_checks import (
    assert_illegal,
    assert_legal,
    assert_refused,
    assert_rolled_back,
    attempt,
)
from yiyun.auth import service as auth_service
from yiyun.consult import workflow
from yiyun.consult.models import Consult, ConsultState

C = ConsultState
AT = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
# Written out by hand from the module docstring's diagram, not computed from the table.
LEGAL = {
    (C.DRAFT, "submit"): C.REQUESTED,
    (C.REQUESTED, "assign"): C.ASSIGNED,
    (C.REQUESTED, "take"): C.ACCEPTED,
    (C.ASSIGNED, "accept"): C.ACCEPTED,
    (C.ASSIGNED, "decline"): C.REQUESTED,
    (C.ACCEPTED, "start"): C.IN_SESSION,
    (C.IN_SESSION, "sign"): C.REPORTED,
    (C.REPORTED, "amend"): C.REPORTED,
    (C.REPORTED, "decide"): C.CLOSED,
    (C.DRAFT, "cancel"): C.CANCELLED,
    (C.REQUESTED, "cancel"): C.CANCELLED,
    (C.ASSIGNED, "cancel"): C.CANCELLED,
    (C.ACCEPTED, "cancel"): C.CANCELLED,
}
ACTIONS = [
    "submit",
    "assign",
    "take",
    "accept",
    "decline",
    "start",
    "sign",
    "amend",
    "decide",
    "cancel",
]
PAIRS = list(itertools.product(ConsultState, ACTIONS))
WHO = {
    "submit": "alice",
    "assign": "carol",
    "take": "bob",
    "accept": "bob",
    "decline": "bob",
    "start": "alice",
    "sign": "bob",
    "amend": "bob",
    "decide": "alice",
    "cancel": "alice",
}


def test_the_table_is_the_documented_one() -> None:
    assert {p: s.to for p, s in workflow.MACHINE.table.items()} == LEGAL


async def make(app: Any, world: World, state: ConsultState) -> int:
    async with app.state.sessions() as s, s.begin():
        consult = Consult(
            state=state,
            patient_id=world.patients["pa"].id,
            institution_id=world.inst["chc_a"].id,
            requester_id=world.users["alice"].id,
            reason="胸闷待查",
            specialty="03.04",
            created_at=AT,
        )
        s.add(consult)
        await s.flush()
        return consult.id


def _step(app: Any, world: World, action: str, who: str):  # type: ignore[no-untyped-def]
    principal = auth_service.principal_of(world.users[who])

    async def step(session: AsyncSession, consult: Consult) -> None:
        bob = world.users["bob"].id
        consult.expert_ids, consult.accepted_ids = frozenset({bob}), frozenset({bob})
        consult.department_staff_ids = frozenset({bob})
        await workflow.step(
            session=session,
            bus=app.state.bus,
            consult=consult,
            action=action,
            actor=principal.actor(),
            principal=principal,
        )

    return step


@pytest.mark.parametrize(("state", "action"), PAIRS, ids=[f"{s}-{a}" for s, a in PAIRS])
async def test_every_pair_follows_the_table(
    app: Any, world: World, state: ConsultState, action: str
) -> None:
    consult_id = await make(app, world, state)
    out = await attempt(
        app,
        machine=workflow.MACHINE,
        model=Consult,
        entity_id=consult_id,
        action=action,
        step=_step(app, world, action, WHO[action]),
    )
    if (state, action) in LEGAL:
        assert_legal(out, to=LEGAL[(state, action)], action=action, entity_id=consult_id)
        assert out.published[0]["consult_id"] == consult_id
        assert "reason" not in out.published[0]  # no clinical text on the bus
        return
    assert_illegal(out, state=state.value, action=action, code="consult.illegal_transition")


@pytest.mark.parametrize(
    ("state", "action", "who"),
    [
        (C.DRAFT, "submit", "mallory"),  # another institution's doctor
        (C.REQUESTED, "assign", "alice"),  # only the telemedicine centre assigns
        (C.REQUESTED, "take", "mallory"),  # not a specialist of the invited department
        (C.ASSIGNED, "accept", "mallory"),  # not an assigned expert
        (C.ACCEPTED, "start", "carol"),  # the dispatcher is no participant
        (C.IN_SESSION, "sign", "alice"),  # the inviting doctor does not sign the opinion
        (C.REPORTED, "decide", "bob"),  # the expert does not decide the treatment
        (C.REQUESTED, "cancel", "bob"),
    ],
)
async def test_who_may_take_a_step(
    app: Any, world: World, state: ConsultState, action: str, who: str
) -> None:
    consult_id = await make(app, world, state)
    out = await attempt(
        app,
        machine=workflow.MACHINE,
        model=Consult,
        entity_id=consult_id,
        action=action,
        step=_step(app, world, action, who),
    )
    assert_refused(out, state=state.value, prefix="consult.")


async def test_a_rolled_back_step_publishes_nothing(app: Any, world: World) -> None:
    consult_id = await make(app, world, C.REQUESTED)
    out = await attempt(
        app,
        machine=workflow.MACHINE,
        model=Consult,
        entity_id=consult_id,
        action="assign",
        step=_step(app, world, "assign", "carol"),
        roll_back=True,
    )
    assert_rolled_back(out, state="requested")


@pytest.mark.commits
async def test_two_experts_accepting_at_once_exactly_one_wins(
    app: Any, client: httpx.AsyncClient, cw: CW, db_backend: str
) -> None:
    """Two concurrent requests, each its own connection and transaction: one 200, one 409."""
    consult = await assigned(client, cw, "bob", "bea")
    url = f"/api/v1/consults/{consult['id']}/answer"
    results = await asyncio.gather(
        client.post(url, headers=cw.auth("bob"), json={"accept": True}),
        client.post(url, headers=cw.auth("bea"), json={"accept": True}),
    )
    codes = sorted(r.status_code for r in results)
    assert codes == [200, 409], [r.text for r in results]
    detail = (
        await client.get(f"/api/v1/consults/{consult['id']}", headers=cw.auth("alice"))
    ).json()
    answers = sorted(e["answer"] for e in detail["experts"])
    assert detail["state"] == "accepted" and answers == ["accepted", "withdrawn"]
    del db_backend
