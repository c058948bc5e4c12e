"""Heartbeats from many devices at once on SQLite, through eight app nodes sharing the
database file: a write that loses the race for the database ("database is locked": a
deferred transaction that read before another writer committed, which the busy timeout
cannot help) is retried as a whole, so no device gets a 500 and every beat is stored."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import httpx
import pytest
from sqlalchemy import select

from tests.factories import World
from tests.ops.helpers import API, enrolled, send
from yiyun.ops.models import TerminalHealth
from yiyun.settings import Settings
from yiyun.web.app import create_app

DEVICES, ROUNDS = 8, 6


@pytest.fixture
async def nodes(settings: Settings, db_backend: str) -> AsyncIterator[list[httpx.AsyncClient]]:
    """Eight app nodes (own engines and connection pools) on the test's database."""
    if db_backend != "sqlite":
        pytest.skip("the lock contention is SQLite's")
    async with AsyncExitStack() as stack:
        clients = []
        for _ in range(DEVICES):
            node = create_app(settings, configure_logs=False)
            transport = httpx.ASGITransport(app=node)
            client = httpx.AsyncClient(transport=transport, base_url="http://testserver")
            clients.append(await stack.enter_async_context(client))
            stack.push_async_callback(node.state.engine.dispose)
            stack.push_async_callback(node.state.bus.close)
            stack.push_async_callback(node.state.hub.close)
            stack.push_async_callback(node.state.rooms.close)
        yield clients


async def test_eight_concurrent_writers_all_get_their_beats_stored(
    app: object, client: httpx.AsyncClient, world: World, nodes: list[httpx.AsyncClient]
) -> None:
    inst = world.inst["chc_a"].id
    codes = ["T-CHCA-1"]
    for n in range(2, DEVICES + 1):
        made = await client.post(
            f"{API}/institutions/{inst}/terminals",
            json={"code": f"T-CHCA-{n}", "name": f"终端{n}", "kind": "pc"},
            headers=world.auth("admin"),
        )
        assert made.status_code == 201, made.text
        codes.append(f"T-CHCA-{n}")
    credentials = [await enrolled(app, client, world, code) for code in codes]
    for _ in range(ROUNDS):
        answers = await asyncio.gather(
            *(send(node, c) for node, c in zip(nodes, credentials, strict=True))
        )
        assert [a.status_code for a in answers] == [200] * DEVICES, [a.text for a in answers]
    async with app.state.sessions() as s:  # type: ignore[attr-defined]
        beats = (await s.scalars(select(TerminalHealth.heartbeats))).all()
    assert sorted(beats) == [ROUNDS] * DEVICES


@pytest.mark.slow
async def test_a_beat_that_finds_the_database_locked_is_retried(
    app: object, client: httpx.AsyncClient, world: World, db_url: str, db_backend: str
) -> None:
    """Another writer holds SQLite's write lock a little longer than the busy timeout
    (5 s): the first attempt fails "database is locked"; the retry stores the beat."""
    if db_backend != "sqlite":
        pytest.skip("the lock is SQLite's")
    credential = await enrolled(app, client, world)
    other = sqlite3.connect(db_url.split("///", 1)[1], isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    loop = asyncio.get_running_loop()
    release = loop.call_later(5.4, other.execute, "COMMIT")
    try:
        answer = await send(client, credential)
    finally:
        release.cancel()
        other.close()
    assert answer.status_code == 200, answer.text
    async with app.state.sessions() as s:  # type: ignore[attr-defined]
        assert (await s.scalars(select(TerminalHealth.heartbeats))).all() == [1]
