"""The light consultation table on the state machine: every (state, action) pair taken
for real, who may take each step, and what a step leaves behind."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import World
from tests.inquiry.helpers import make_inquiry, make_resident
from tests.workflow_checks import assert_illegal, assert_legal, assert_rolled_back, attempt
from yiyun.audit.service import SYSTEM
from yiyun.auth import service as auth_service
from yiyun.core.errors import PermissionDenied
from yiyun.inquiry import workflow
from yiyun.inquiry.models import Inquiry, InquiryState

S = InquiryState
# Written out by hand from the module docstring's diagram, not computed from the table.
LEGAL = {
    (S.OPEN, "claim"): S.CLAIMED,
    (S.OPEN, "withdraw"): S.WITHDRAWN,
    (S.OPEN, "follow_up"): S.OPEN,
    (S.OPEN, "escalate"): S.OPEN,
    (S.CLAIMED, "release"): S.OPEN,
    (S.CLAIMED, "reply"): S.ANSWERED,
    (S.CLAIMED, "video"): S.CLAIMED,
    (S.CLAIMED, "follow_up"): S.CLAIMED,
    (S.CLAIMED, "escalate"): S.CLAIMED,
    (S.ANSWERED, "reply"): S.ANSWERED,
    (S.ANSWERED, "video"): S.ANSWERED,
    (S.ANSWERED, "follow_up"): S.CLAIMED,
    (S.ANSWERED, "close"): S.CLOSED,
}
ACTIONS = ["claim", "withdraw", "release", "reply", "video", "follow_up", "close", "escalate"]
PAIRS = list(itertools.product(InquiryState, ACTIONS))
RESIDENT_ACTIONS = {"withdraw", "follow_up", "close"}
CLAIMER_ACTIONS = {"release", "reply", "video"}


def test_the_table_is_the_documented_one() -> None:
    assert {p: s.to for p, s in workflow.MACHINE.table.items()} == LEGAL


def _step(app: Any, action: str, principal: Any):  # type: ignore[no-untyped-def]
    async def step(session: AsyncSession, inquiry: Inquiry) -> None:
        await workflow.transition(
            session=session,
            bus=app.state.bus,
            inquiry=inquiry,
            action=action,
            actor=principal.actor() if principal is not None else SYSTEM,
            principal=principal,
        )

    return step


@pytest.mark.parametrize(("state", "action"), PAIRS, ids=[f"{s}-{a}" for s, a in PAIRS])
async def test_every_pair_follows_the_table(
    app: Any, world: World, state: InquiryState, action: str
) -> None:
    resident = await make_resident(app, world)
    # the claimer's own steps need a claimer to reach the table (who is checked first)
    claimed = state in (S.CLAIMED, S.ANSWERED, S.CLOSED) or action in CLAIMER_ACTIONS
    inquiry_id = await make_inquiry(
        app, world, resident, state, claimer="alice" if claimed else None
    )
    if action in RESIDENT_ACTIONS:
        principal: Any = resident
    elif action == "escalate":
        principal = None
    else:  # claim by a pool doctor; the claimer's own steps by alice
        principal = auth_service.principal_of(world.users["alice"])
    out = await attempt(
        app,
        machine=workflow.MACHINE,
        model=Inquiry,
        entity_id=inquiry_id,
        action=action,
        step=_step(app, action, principal),
    )
    if (state, action) in LEGAL:
        assert_legal(out, to=LEGAL[(state, action)], action=action, entity_id=inquiry_id)
        assert out.published[0]["institution_id"] == world.inst["chc_a"].id
        return
    assert_illegal(out, state=state.value, action=action, code="inquiry.illegal_transition")


@pytest.mark.parametrize(
    ("state", "action", "who", "code"),
    [
        (S.OPEN, "claim", "mallory", "inquiry.pool_only"),  # another centre's doctor
        (S.OPEN, "claim", "nina", "inquiry.pool_only"),  # a nurse of the centre
        (S.OPEN, "claim", "bob", "inquiry.pool_only"),  # the lead hospital's specialist
        (S.CLAIMED, "reply", "nina", "inquiry.claimer_only"),
        (S.CLAIMED, "release", "mallory", "inquiry.claimer_only"),
        (S.ANSWERED, "video", "bob", "inquiry.claimer_only"),
        (S.ANSWERED, "close", "alice", "inquiry.asker_only"),  # staff never close for them
        (S.OPEN, "withdraw", "other-resident", "inquiry.asker_only"),
        (S.CLAIMED, "reply", "resident", "inquiry.claimer_only"),  # residents never answer
        (S.OPEN, "claim", "resident", "inquiry.pool_only"),
    ],
)
async def test_who_may_take_a_step(
    app: Any, world: World, state: InquiryState, action: str, who: str, code: str
) -> None:
    resident = await make_resident(app, world)
    claimed = state in (S.CLAIMED, S.ANSWERED)
    inquiry_id = await make_inquiry(
        app, world, resident, state, claimer="alice" if claimed else None
    )
    if who == "resident":
        principal: Any = resident
    elif who == "other-resident":
        principal = await make_resident(app, world)
    else:
        principal = auth_service.principal_of(world.users[who])
    out = await attempt(
        app,
        machine=workflow.MACHINE,
        model=Inquiry,
        entity_id=inquiry_id,
        action=action,
        step=_step(app, action, principal),
    )
    assert isinstance(out.error, PermissionDenied) and out.error.code == code
    assert out.state == state.value and out.audited == 0 and out.published == []


async def test_a_rolled_back_step_publishes_nothing(app: Any, world: World) -> None:
    resident = await make_resident(app, world)
    inquiry_id = await make_inquiry(app, world, resident)
    principal = auth_service.principal_of(world.users["alice"])
    out = await attempt(
        app,
        machine=workflow.MACHINE,
        model=Inquiry,
        entity_id=inquiry_id,
        action="claim",
        step=_step(app, "claim", principal),
        roll_back=True,
    )
    assert_rolled_back(out, state="open")
