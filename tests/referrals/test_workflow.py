"""The referral table on the state machine: every (state, action) pair taken for real,
who may take each step, and what a step leaves behind."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import World
from tests.workflow_checks import (
    assert_illegal,
    assert_legal,
    assert_refused,
    assert_rolled_back,
    attempt,
)
from yiyun.auth import service as auth_service
from yiyun.referrals import workflow
from yiyun.referrals.models import Direction, Referral, ReferralState

RS = ReferralState
AT = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)
LEGAL = {
    (RS.REQUESTED, "accept"): RS.ACCEPTED,
    (RS.REQUESTED, "reject"): RS.REJECTED,
    (RS.ACCEPTED, "arrive"): RS.ARRIVED,
    (RS.ARRIVED, "complete"): RS.COMPLETED,
    (RS.REQUESTED, "cancel"): RS.CANCELLED,
    (RS.ACCEPTED, "cancel"): RS.CANCELLED,
}
ACTIONS = ["accept", "reject", "arrive", "complete", "cancel"]
PAIRS = list(itertools.product(ReferralState, ACTIONS))


def test_the_table_is_the_documented_one() -> None:
    assert {p: s.to for p, s in workflow.MACHINE.table.items()} == LEGAL


async def make_referral(app: Any, world: World, state: ReferralState) -> int:
    async with app.state.sessions() as s, s.begin():
        referral = Referral(
            direction=Direction.UP,
            patient_id=world.patients["pa"].id,
            from_institution_id=world.inst["chc_a"].id,
            to_institution_id=world.inst["lead"].id,
            reason="胸痛待查",
            summary="反复胸闷 2 周。",
            appointment_at=AT,
            state=state,
            requested_by_id=world.users["alice"].id,
            created_at=AT,
        )
        s.add(referral)
        await s.flush()
        return referral.id


def _step(app: Any, world: World, action: str, who: str):  # type: ignore[no-untyped-def]
    principal = auth_service.principal_of(world.users[who])

    async def step(session: AsyncSession, referral: Referral) -> None:
        await workflow.step(
            session=session,
            bus=app.state.bus,
            principal=principal,
            actor=principal.actor(),
            referral=referral,
            action=action,
            reason="床位已满" if action in ("reject", "cancel") else "",
        )

    return step


@pytest.mark.parametrize(("state", "action"), PAIRS, ids=[f"{s}-{a}" for s, a in PAIRS])
async def test_every_pair_follows_the_table(
    app: Any, world: World, state: ReferralState, action: str
) -> None:
    referral_id = await make_referral(app, world, state)
    who = "alice" if action == "cancel" else "bob"  # the sender cancels, the receiver decides
    out = await attempt(
        app,
        machine=workflow.MACHINE,
        model=Referral,
        entity_id=referral_id,
        action=action,
        step=_step(app, world, action, who),
    )
    if (state, action) in LEGAL:
        assert_legal(out, to=LEGAL[(state, action)], action=action, entity_id=referral_id)
        message = out.published[0]
        assert message["to_institution_id"] == world.inst["lead"].id
        assert message["direction"] == "up"
        return
    assert_illegal(out, state=state.value, action=action, code="referral.illegal_transition")


@pytest.mark.parametrize(
    ("state", "action", "who", "code"),
    [
        (RS.REQUESTED, "accept", "alice", "referral.receiver_only"),  # the sender
        (RS.REQUESTED, "accept", "carol", "referral.receiver_only"),  # dispatcher, not clinical
        (RS.REQUESTED, "reject", "mallory", "referral.receiver_only"),
        (RS.ACCEPTED, "arrive", "hana", "referral.receiver_only"),
        (RS.REQUESTED, "cancel", "bob", "referral.sender_only"),
        (RS.REQUESTED, "cancel", "mallory", "referral.sender_only"),
    ],
)
async def test_each_rule_refuses_the_wrong_people(
    app: Any, world: World, state: ReferralState, action: str, who: str, code: str
) -> None:
    referral_id = await make_referral(app, world, state)
    out = await attempt(
        app,
        machine=workflow.MACHINE,
        model=Referral,
        entity_id=referral_id,
        action=action,
        step=_step(app, world, action, who),
    )
    assert_refused(out, state=state.value, code=code)


async def test_a_rolled_back_step_leaves_nothing(app: Any, world: World) -> None:
    referral_id = await make_referral(app, world, RS.REQUESTED)
    out = await attempt(
        app,
        machine=workflow.MACHINE,
        model=Referral,
        entity_id=referral_id,
        action="accept",
        step=_step(app, world, "accept", "bob"),
        roll_back=True,
    )
    assert_rolled_back(out, state="requested")
