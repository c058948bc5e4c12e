"""The de-identification review on the state machine: the documented table, every
(state, action) pair taken for real, who may decide, and a rolled-back step."""

from __future__ import annotations

import itertools
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import World
from tests.learning.helpers import meeting, recording
from tests.workflow_checks import assert_illegal, assert_legal, assert_rolled_back, attempt
from yiyun.auth import service as auth_service
from yiyun.core.errors import PermissionDenied
from yiyun.learning import workflow
from yiyun.learning.models import DeidReview, ReviewState

RS = ReviewState
# Written out by hand from the module's diagram.
LEGAL = {
    (RS.SUBMITTED, "approve"): RS.APPROVED,
    (RS.SUBMITTED, "reject"): RS.REJECTED,
    (RS.REJECTED, "resubmit"): RS.SUBMITTED,
    (RS.APPROVED, "publish"): RS.APPROVED,
}
# Who takes each action in the pair test: a reviewer decides, the submitter resubmits.
ACTOR = {"approve": "admin", "reject": "admin", "resubmit": "bob", "publish": "bob"}
PAIRS = list(itertools.product(ReviewState, ["approve", "reject", "resubmit", "publish"]))


def test_the_table_is_the_documented_one() -> None:
    assert {p: s.to for p, s in workflow.MACHINE.table.items()} == LEGAL


async def make_review(app: Any, client: httpx.AsyncClient, world: World, state: RS) -> int:
    mid = await meeting(client, world)
    rid = await recording(app, world, mid)
    async with app.state.sessions() as s, s.begin():
        row = DeidReview(
            recording_id=rid,
            institution_id=world.inst["lead"].id,
            submitted_by_id=world.users["bob"].id,
            state=state,
        )
        s.add(row)
        await s.flush()
        return row.id


def stepper(app: Any, world: World, action: str, who: str):  # type: ignore[no-untyped-def]
    principal = auth_service.principal_of(world.users[who])

    async def step(session: AsyncSession, review: DeidReview) -> None:
        await workflow.MACHINE.transition(
            session=session,
            bus=app.state.bus,
            entity=review,
            action=action,
            actor=principal.actor(),
            principal=principal,
            event={"recording_id": review.recording_id},
        )

    return step


@pytest.mark.parametrize(("state", "action"), PAIRS, ids=[f"{s}-{a}" for s, a in PAIRS])
async def test_every_pair_follows_the_table(
    app: Any, client: httpx.AsyncClient, world: World, state: RS, action: str
) -> None:
    review_id = await make_review(app, client, world, state)
    out = await attempt(
        app,
        machine=workflow.MACHINE,
        model=DeidReview,
        entity_id=review_id,
        action=action,
        step=stepper(app, world, action, ACTOR[action]),
    )
    if (state, action) in LEGAL:
        assert_legal(out, to=LEGAL[(state, action)], action=action, entity_id=review_id)
        return
    assert_illegal(out, state=state.value, action=action, code="learning.review_illegal")


@pytest.mark.parametrize(
    ("who", "allowed"),
    [("admin", True), ("bob", False), ("ines", False), ("alice", False), ("hana", False)],
)
async def test_a_reviewer_is_an_administrator_of_the_site_and_not_the_submitter(
    app: Any, client: httpx.AsyncClient, world: World, who: str, allowed: bool
) -> None:
    review_id = await make_review(app, client, world, RS.SUBMITTED)
    out = await attempt(
        app,
        machine=workflow.MACHINE,
        model=DeidReview,
        entity_id=review_id,
        action="approve",
        step=stepper(app, world, "approve", who),
    )
    if allowed:
        assert_legal(out, to=RS.APPROVED, action="approve", entity_id=review_id)
    else:
        assert isinstance(out.error, PermissionDenied)
        assert out.error.code == "learning.reviewer_only"
        assert out.state == RS.SUBMITTED and out.audited == 0 and out.published == []


async def test_a_step_rolled_back_leaves_nothing(
    app: Any, client: httpx.AsyncClient, world: World
) -> None:
    review_id = await make_review(app, client, world, RS.SUBMITTED)
    out = await attempt(
        app,
        machine=workflow.MACHINE,
        model=DeidReview,
        entity_id=review_id,
        action="approve",
        step=stepper(app, world, "approve", "admin"),
        roll_back=True,
    )
    assert_rolled_back(out, state=RS.SUBMITTED)
