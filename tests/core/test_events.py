"""The outbox: events go out once, after the outermost commit, and never for work that was
rolled back (a whole transaction or only a SAVEPOINT inside it)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from yiyun.core import events
from yiyun.core.bus import InProcessBus

CHANNEL = "test.events"


async def _drain(sub: Any) -> list[str]:
    await events.settle()
    got = []
    while (message := await sub.get(timeout=0.1)) is not None:
        got.append(message["n"])
    return got


class Boom(Exception):
    pass


async def test_a_commit_publishes_once_and_only_after_it(app: Any) -> None:
    bus = InProcessBus()
    async with bus.subscribe(CHANNEL) as sub:
        async with app.state.sessions() as session:
            async with session.begin():
                await session.execute(text("SELECT 1"))
                events.publish_after_commit(session, bus, CHANNEL, {"n": "a"})
                events.publish_after_commit(session, bus, CHANNEL, {"n": "b"})
                assert events.pending(session) == [(CHANNEL, {"n": "a"}), (CHANNEL, {"n": "b"})]
                assert await sub.get(timeout=0.05) is None
            assert await _drain(sub) == ["a", "b"]
            async with session.begin():  # the next transaction starts with an empty outbox
                await session.execute(text("SELECT 1"))
                assert events.pending(session) == []
        assert await _drain(sub) == []


async def test_a_rollback_publishes_nothing(app: Any) -> None:
    bus = InProcessBus()
    async with bus.subscribe(CHANNEL) as sub:
        async with app.state.sessions() as session:
            with pytest.raises(Boom):
                async with session.begin():
                    await session.execute(text("SELECT 1"))
                    events.publish_after_commit(session, bus, CHANNEL, {"n": "lost"})
                    raise Boom
        async with app.state.sessions() as session:
            await session.execute(text("SELECT 1"))
            events.publish_after_commit(session, bus, CHANNEL, {"n": "closed"})
            # closed without a commit
        assert await _drain(sub) == []


async def test_a_rolled_back_savepoint_drops_only_its_own_events(app: Any) -> None:
    bus = InProcessBus()
    async with bus.subscribe(CHANNEL) as sub:
        async with app.state.sessions() as session, session.begin():
            await session.execute(text("SELECT 1"))
            events.publish_after_commit(session, bus, CHANNEL, {"n": "outer"})
            with pytest.raises(Boom):
                async with session.begin_nested():
                    events.publish_after_commit(session, bus, CHANNEL, {"n": "inner"})
                    raise Boom
            async with session.begin_nested():
                events.publish_after_commit(session, bus, CHANNEL, {"n": "kept"})
            assert await sub.get(timeout=0.05) is None  # a released SAVEPOINT is no commit
        assert await _drain(sub) == ["outer", "kept"]


async def test_a_released_savepoint_is_lost_with_its_transaction(app: Any) -> None:
    bus = InProcessBus()
    async with bus.subscribe(CHANNEL) as sub:
        async with app.state.sessions() as session:
            with pytest.raises(Boom):
                async with session.begin():
                    await session.execute(text("SELECT 1"))
                    async with session.begin_nested():
                        events.publish_after_commit(session, bus, CHANNEL, {"n": "inner"})
                    raise Boom
        assert await _drain(sub) == []
