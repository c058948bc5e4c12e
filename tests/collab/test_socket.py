"""The y-websocket endpoint: edits reach others and survive a restart; access follows
the meeting; an outsider cannot tell a document exists."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pycrdt import Map
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.collab.support import (
    Node,
    Setup,
    close_code,
    prepare,
    running,
    settings_for,
    synced,
    until,
)
from tests.factories import PASSWORD

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Setup:
    return prepare(tmp_path_factory.mktemp("collab"))


@pytest.fixture(scope="module")
def node(setup: Setup) -> Iterator[Node]:
    with running(settings_for(setup.tmp, setup.db_url)) as n:
        yield n


def board(node: Node, code: str) -> str:
    return f"{node.ws}/whiteboard/{code}"


async def test_an_edit_reaches_the_other_participant(node: Node, setup: Setup) -> None:
    url = board(node, setup.meeting_code)
    tokens = setup.world.tokens
    async with synced(url, tokens["alice"]) as a, synced(url, tokens["bob"]) as b:
        assert a.get("meta", type=Map).get("schema") == 1
        a.get("elements", type=Map)["s1"] = {"type": "pen", "points": [1.0, 2.0]}
        elements = b.get("elements", type=Map)
        await until(lambda: "s1" in elements)
        assert elements["s1"]["type"] == "pen"


async def test_an_observer_reads_but_cannot_write(node: Node, setup: Setup) -> None:
    url = board(node, setup.meeting_code)
    tokens = setup.world.tokens
    async with synced(url, tokens["nina"]) as watcher:
        watcher.get("elements", type=Map)["forged"] = {"type": "rect"}
        async with synced(url, tokens["alice"]) as host:
            host.get("elements", type=Map)["real"] = {"type": "rect"}
            seen = watcher.get("elements", type=Map)
            await until(lambda: "real" in seen)
        async with synced(url, tokens["bob"]) as other:
            assert "real" in other.get("elements", type=Map)
            assert "forged" not in other.get("elements", type=Map)


async def test_an_ended_meeting_is_read_only_for_its_members(node: Node, setup: Setup) -> None:
    url = board(node, setup.ended_code)
    async with synced(url, setup.world.tokens["alice"]) as doc:
        doc.get("elements", type=Map)["late"] = {"type": "rect"}
    async with synced(url, setup.world.tokens["bob"]) as doc:
        assert "late" not in doc.get("elements", type=Map)


@pytest.mark.parametrize(
    ("who", "path", "expected"),
    [
        ("mallory", "whiteboard/{open}", 4404),  # another institution's doctor
        ("hana", "whiteboard/{open}", 4404),  # the health authority is no member either
        ("alice", "whiteboard/nosuchmeeting", 4404),  # a meeting that does not exist
        ("alice", "nosuchkind/{open}", 4404),
        ("alice", "whiteboard/bad%20key!", 4404),
        (None, "whiteboard/{open}", 1008),  # not signed in
        ("badtoken", "whiteboard/{open}", 1008),
    ],
)
async def test_outsiders_get_nothing(
    node: Node, setup: Setup, who: str | None, path: str, expected: int
) -> None:
    token = setup.world.tokens.get(who or "", who)
    url = f"{node.ws}/" + path.format(open=setup.meeting_code)
    assert await close_code(url, token) == expected


async def test_nothing_is_lost_across_a_server_restart(setup: Setup, tmp_path: Path) -> None:
    settings = settings_for(setup.tmp, setup.db_url)
    tokens = setup.world.tokens
    with running(settings) as first:
        url = f"{first.ws}/screen-annotation/{setup.meeting_code}"
        async with synced(url, tokens["alice"]) as doc:
            for i in range(30):
                doc.get("elements", type=Map)[f"m{i}"] = {"type": "arrow", "n": i}
            # the last edit is on the wire; the block's end waits for the queue to drain
        async with synced(url, tokens["bob"]) as check:
            await until(lambda: len(check.get("elements", type=Map)) == 30)
    with running(settings) as second:
        url = f"{second.ws}/screen-annotation/{setup.meeting_code}"
        async with synced(url, tokens["bob"]) as doc:
            elements = doc.get("elements", type=Map)
            assert sorted(elements.keys()) == sorted(f"m{i}" for i in range(30))


async def test_logging_out_closes_the_board_of_that_session(node: Node, setup: Setup) -> None:
    base = f"http://127.0.0.1:{node.port}/api/v1/auth"
    async with httpx.AsyncClient() as http:
        issued = await http.post(
            f"{base}/token",
            json={"username": "bob", "password": PASSWORD, "code": setup.world.code("bob")},
        )
        assert issued.status_code == 200, issued.text
        token = issued.json()["access_token"]
        async with connect(f"{board(node, setup.meeting_code)}?token={token}") as ws:
            await asyncio.wait_for(ws.recv(), 10)  # the server's first sync step
            out = await http.post(f"{base}/logout", headers={"Authorization": f"Bearer {token}"})
            assert out.status_code == 204
            with contextlib.suppress(ConnectionClosed):
                while True:
                    await asyncio.wait_for(ws.recv(), 2)
            assert ws.close_code == 1008
