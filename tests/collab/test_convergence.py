"""Three clients editing at random, dropping off and coming back at random, end up with
the same document — and so does a client that joins afterwards from storage alone."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycrdt import Doc, Map, Provider, Text
from websockets.asyncio.client import ClientConnection, connect

from tests.collab.support import (
    Node,
    Setup,
    WsChannel,
    prepare,
    running,
    settings_for,
    synced,
    until,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Node, Setup]]:
    setup = prepare(tmp_path_factory.mktemp("converge"))
    with running(settings_for(setup.tmp, setup.db_url)) as node:
        node.app.state.collab.compact_every = 25  # compaction happens during the runs too
        yield node, setup


@dataclass
class Peer:
    url: str
    token: str
    doc: Doc[Any] = field(default_factory=Doc)
    ws: ClientConnection | None = None
    provider: Provider | None = None
    task: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        if self.ws is not None:
            return
        self.ws = await connect(f"{self.url}?token={self.token}", max_size=None)
        self.provider = Provider(self.doc, WsChannel(self.ws, self.url))
        self.task = asyncio.create_task(self.provider.start())
        await self.provider.started.wait()

    async def drop(self) -> None:
        """Cut the connection mid-flight, as a train going into a tunnel would."""
        if self.ws is None:
            return
        self.ws.transport.abort()
        assert self.provider is not None and self.task is not None
        with contextlib.suppress(Exception):
            await self.provider.stop()
        self.task.cancel()
        with contextlib.suppress(BaseException):
            await self.task
        self.ws = self.provider = self.task = None

    def state(self) -> tuple[dict[str, Any], str]:
        return self.doc.get("elements", type=Map).to_py() or {}, str(
            self.doc.get("notes", type=Text)
        )


def from_storage(setup: Setup) -> Doc[Any]:
    path = setup.db_url.split("///", 1)[1]
    doc: Doc[Any] = Doc()
    with sqlite3.connect(path) as db:
        row = db.execute(
            "SELECT id, snapshot, snapshot_upto FROM collab_doc WHERE kind = 'whiteboard'"
            " AND key = ?",
            (setup.meeting_code,),
        ).fetchone()
        if row[1]:
            doc.apply_update(row[1])
        for (data,) in db.execute(
            "SELECT data FROM collab_update WHERE doc_id = ? AND id > ? ORDER BY id",
            (row[0], row[2]),
        ):
            doc.apply_update(data)
    return doc


step = st.tuples(
    st.integers(0, 2),  # which client
    st.sampled_from(["set", "set", "delete", "type", "type", "drop", "pause"]),
    st.integers(0, 7),  # key or position
    st.integers(0, 1000),
)


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(step, min_size=5, max_size=40))
def test_three_clients_converge(server: tuple[Node, Setup], steps: list[Any]) -> None:
    node, setup = server
    url = f"{node.ws}/whiteboard/{setup.meeting_code}"
    tokens = [setup.world.tokens[n] for n in ("alice", "bob", "alice")]

    async def run() -> None:
        peers = [Peer(url, t) for t in tokens]
        for p in peers:
            await p.connect()
        for who, action, n, value in steps:
            peer = peers[who]
            if action == "drop":
                await peer.drop()
                continue
            if action == "pause":
                await asyncio.sleep(value / 100_000)
                await peer.connect()
                continue
            elements = peer.doc.get("elements", type=Map)
            if action == "set":
                elements[f"k{n}"] = {"v": value, "by": who}
            elif action == "delete":
                key = f"k{n}"
                if key in elements:
                    del elements[key]
            else:
                notes = peer.doc.get("notes", type=Text)
                notes.insert(min(n, len(notes)), f"{who}{value};")
            await asyncio.sleep(0)
        for p in peers:
            await p.connect()
        await until(lambda: peers[0].state() == peers[1].state() == peers[2].state(), 15)
        final = peers[0].state()
        for p in peers:
            await p.drop()
        async with synced(url, setup.world.tokens["nina"]) as late:
            elements = late.get("elements", type=Map).to_py() or {}
            assert (elements, str(late.get("notes", type=Text))) == final
        # and storage alone (snapshot + log, as a restarted node loads it) says the same
        stored = from_storage(setup)
        elements = stored.get("elements", type=Map).to_py() or {}
        assert (elements, str(stored.get("notes", type=Text))) == final

    asyncio.run(run())
