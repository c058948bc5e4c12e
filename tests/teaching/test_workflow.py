"""The library video's table on the state machine: every (state, action) pair taken for
real, who may withdraw, and what a step leaves behind (audit row, bus event after commit)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import World
from tests.workflow_checks import assert_illegal, assert_legal, assert_rolled_back, attempt
from yiyun.audit.service import SYSTEM
from yiyun.auth import service as auth_service
from yiyun.core.errors import PermissionDenied
from yiyun.teaching import workflow
from yiyun.teaching.models import Video, VideoState

VS = VideoState
# Written out by hand from the module's diagram, not computed from the table.
LEGAL = {
    (VS.UPLOADED, "start"): VS.TRANSCODING,
    (VS.FAILED, "start"): VS.TRANSCODING,
    (VS.TRANSCODING, "finish"): VS.READY,
    (VS.TRANSCODING, "fail"): VS.FAILED,
    (VS.READY, "withdraw"): VS.WITHDRAWN,
    (VS.FAILED, "withdraw"): VS.WITHDRAWN,
    (VS.WITHDRAWN, "republish"): VS.READY,
}
SYSTEM_ACTIONS = {"start", "finish", "fail"}
PAIRS = list(
    itertools.product(VideoState, ["start", "finish", "fail", "withdraw", "republish", "edit"])
)


def test_the_table_is_the_documented_one() -> None:
    assert {p: s.to for p, s in workflow.MACHINE.table.items()} == LEGAL


async def make_video(app: Any, world: World, state: VideoState) -> int:
    async with app.state.sessions() as s, s.begin():
        video = Video(
            institution_id=world.inst["chc_a"].id,
            uploaded_by_id=world.users["alice"].id,
            title="心电图判读",
            source_key="teaching/videos/x/source.mp4",
            source_name="x.mp4",
            state=state,
            tags=[],
            renditions=[],
            hls_prefix="teaching/videos/x/hls/1",
        )
        s.add(video)
        await s.flush()
        return video.id


def stepper(app: Any, world: World, action: str, who: str = "alice"):  # type: ignore[no-untyped-def]
    principal = None if action in SYSTEM_ACTIONS else auth_service.principal_of(world.users[who])

    async def step(session: AsyncSession, video: Video) -> None:
        await workflow.MACHINE.transition(
            session=session,
            bus=app.state.bus,
            entity=video,
            action=action,
            actor=SYSTEM if principal is None else principal.actor(),
            principal=principal,
            event=workflow.fields(video),
        )

    return step


@pytest.mark.parametrize(("state", "action"), PAIRS, ids=[f"{s}-{a}" for s, a in PAIRS])
async def test_every_pair_follows_the_table(
    app: Any, world: World, state: VideoState, action: str
) -> None:
    video_id = await make_video(app, world, state)
    out = await attempt(
        app,
        machine=workflow.MACHINE,
        model=Video,
        entity_id=video_id,
        action=action,
        step=stepper(app, world, action),
    )
    if (state, action) in LEGAL:
        assert_legal(out, to=LEGAL[(state, action)], action=action, entity_id=video_id)
        assert out.published[0]["institution_id"] == world.inst["chc_a"].id
        return
    assert_illegal(out, state=state.value, action=action, code="teaching.illegal_transition")


@pytest.mark.parametrize(
    ("who", "allowed"),
    [
        ("alice", True),
        ("ines", True),
        ("admin", True),
        ("nina", False),
        ("mallory", False),
        ("bob", False),
    ],
)
async def test_withdrawing_is_the_uploaders_or_an_administrators(
    app: Any, world: World, who: str, allowed: bool
) -> None:
    video_id = await make_video(app, world, VS.READY)
    out = await attempt(
        app,
        machine=workflow.MACHINE,
        model=Video,
        entity_id=video_id,
        action="withdraw",
        step=stepper(app, world, "withdraw", who),
    )
    if allowed:
        assert_legal(out, to=VS.WITHDRAWN, action="withdraw", entity_id=video_id)
    else:
        assert isinstance(out.error, PermissionDenied) and out.error.code == "teaching.not_owner"
        assert out.state == VS.READY and out.audited == 0 and out.published == []


async def test_a_step_rolled_back_leaves_nothing(app: Any, world: World) -> None:
    video_id = await make_video(app, world, VS.READY)
    out = await attempt(
        app,
        machine=workflow.MACHINE,
        model=Video,
        entity_id=video_id,
        action="withdraw",
        step=stepper(app, world, "withdraw"),
        roll_back=True,
    )
    assert_rolled_back(out, state=VS.READY)
