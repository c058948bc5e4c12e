"""The meeting table on the state machine: every (state, action) pair taken for real, who
may end or cancel, and what a step leaves behind (audit row, bus event after commit)."""

from __future__ import annotations

import itertools
import secrets
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import World
from tests.meetings.test_room import open_room
from tests.workflow_checks import assert_illegal, assert_legal, assert_rolled_back, attempt
from yiyun.audit.models import AuditEvent
from yiyun.auth import service as auth_service
from yiyun.core import events
from yiyun.core.errors import PermissionDenied
from yiyun.meetings import workflow
from yiyun.meetings.models import Meeting, MeetingMember, MeetingState
from yiyun.meetings.workflow import MACHINE

M = MeetingState
# Written out by hand from the documented machine, not computed from workflow.TABLE.
LEGAL: dict[tuple[MeetingState, str], MeetingState] = {
    (M.SCHEDULED, "open"): M.OPEN,
    (M.OPEN, "end"): M.ENDED,
    (M.SCHEDULED, "cancel"): M.CANCELLED,
    **{(s, a): s for s in (M.SCHEDULED, M.OPEN) for a in ("edit", "invite", "invite_guest")},
    **{(s, a): s for s in (M.SCHEDULED, M.OPEN) for a in ("set_role", "join")},
    (M.SCHEDULED, "reschedule"): M.SCHEDULED,
    (M.OPEN, "ring"): M.OPEN,
}
ACTIONS = sorted(MACHINE.actions | {"start", "reopen"})
PAIRS = list(itertools.product(MeetingState, ACTIONS))


def test_the_table_is_the_documented_one() -> None:
    table = {pair: step.to for pair, step in MACHINE.table.items()}
    assert table == LEGAL


async def make_meeting(app: object, world: World, state: MeetingState) -> int:
    async with app.state.sessions() as s, s.begin():  # type: ignore[attr-defined]
        meeting = Meeting(
            code=secrets.token_hex(5),
            title="病例讨论",
            kind="scheduled",
            state=state,
            host_id=world.users["alice"].id,
            institution_id=world.inst["chc_a"].id,
        )
        s.add(meeting)
        await s.flush()
        s.add(
            MeetingMember(
                meeting_id=meeting.id,
                user_id=meeting.host_id,
                role="host",
                invited_at=meeting.created_at,
            )
        )
        return meeting.id


def _step(app: object, world: World, action: str, who: str = "alice"):  # type: ignore[no-untyped-def]
    principal = auth_service.principal_of(world.users[who])

    async def step(session: AsyncSession, meeting: Meeting) -> None:
        await workflow.transition(
            session=session,
            bus=app.state.bus,  # type: ignore[attr-defined]
            meeting=meeting,
            action=action,
            actor=principal.actor(),
            principal=principal,
        )

    return step


@pytest.mark.parametrize(("state", "action"), PAIRS, ids=[f"{s}-{a}" for s, a in PAIRS])
async def test_every_pair_follows_the_table(
    app: object, world: World, state: MeetingState, action: str
) -> None:
    meeting_id = await make_meeting(app, world, state)
    out = await attempt(
        app,
        machine=MACHINE,
        model=Meeting,
        entity_id=meeting_id,
        action=action,
        step=_step(app, world, action),
    )
    if (state, action) in LEGAL:
        assert_legal(out, to=LEGAL[(state, action)], action=action, entity_id=meeting_id)
        assert out.published[0]["meeting_id"] == meeting_id
        assert out.published[0]["from"] == state.value
        return
    code = {M.ENDED: "meeting.ended", M.CANCELLED: "meeting.cancelled"}.get(
        state, "meeting.illegal_transition"
    )
    assert_illegal(out, state=state.value, action=action, code=code)


async def test_a_rolled_back_end_publishes_nothing(app: object, world: World) -> None:
    meeting_id = await make_meeting(app, world, M.OPEN)
    out = await attempt(
        app,
        machine=MACHINE,
        model=Meeting,
        entity_id=meeting_id,
        action="end",
        step=_step(app, world, "end"),
        roll_back=True,
    )
    assert_rolled_back(out, state="open")


@pytest.mark.parametrize(("state", "action"), [(M.OPEN, "end"), (M.SCHEDULED, "cancel")])
async def test_only_the_host_ends_or_cancels(
    app: object, world: World, state: MeetingState, action: str
) -> None:
    meeting_id = await make_meeting(app, world, state)
    out = await attempt(
        app,
        machine=MACHINE,
        model=Meeting,
        entity_id=meeting_id,
        action=action,
        step=_step(app, world, action, who="bob"),
    )
    assert isinstance(out.error, PermissionDenied) and out.error.code == "meeting.host_only"
    assert out.state == state.value and out.audited == 0 and out.published == []


async def test_ending_records_when(app: object, world: World) -> None:
    meeting_id = await make_meeting(app, world, M.OPEN)
    await attempt(
        app,
        machine=MACHINE,
        model=Meeting,
        entity_id=meeting_id,
        action="end",
        step=_step(app, world, "end"),
    )
    async with app.state.sessions() as s:  # type: ignore[attr-defined]
        meeting = await s.get(Meeting, meeting_id)
        assert meeting is not None and meeting.ended_at is not None
        assert meeting.state is M.ENDED  # an enum in Python, the same string in the table


async def test_the_room_ends_a_meeting_through_the_table(app: Any, world: World) -> None:
    async with open_room(app, world) as room:
        await room.create("bob", "alice")
        bob = await room.join("bob")
        async with app.state.bus.subscribe(workflow.CHANNEL) as sub:
            await bob.send(type="control", action="end")
            await bob.expect("ended")
            await events.settle()
            message = await sub.get(timeout=2)
            assert await sub.get(timeout=0.2) is None
    assert message is not None
    assert (message["meeting_id"], message["action"], message["from"], message["state"]) == (
        room.meeting,
        "end",
        "open",
        "ended",
    )
    async with app.state.sessions() as s:
        ended = await s.get(Meeting, room.meeting)
        assert ended is not None and ended.state is M.ENDED and ended.ended_at is not None
        audit = (
            await s.scalars(
                select(AuditEvent).where(
                    AuditEvent.action == "meeting.end", AuditEvent.entity_id == str(room.meeting)
                )
            )
        ).one()
        assert audit.details["from"] == "open" and audit.details["to"] == "ended"
