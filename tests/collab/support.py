"""Real servers and real Yjs clients for the collab tests.

`Node` runs the app under uvicorn on 127.0.0.1 in a thread (as `yiyun serve` does);
`YClient` is a pycrdt document synced through pycrdt's `Provider` over a real
WebSocket, the way a Python client of our y-websocket endpoint works.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import secrets
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from pycrdt import Doc, Provider
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.factories import World, seed_world
from tests.services import free_port
from yiyun.core import migrate
from yiyun.meetings.models import Meeting, MeetingMember, MeetingState
from yiyun.settings import (
    BusSettings,
    DbSettings,
    MediaSettings,
    SecuritySettings,
    Settings,
    StorageSettings,
)
from yiyun.web.app import create_app


@dataclass
class Setup:
    tmp: Path
    db_url: str
    world: World
    meeting_code: str
    ended_code: str


def settings_for(tmp: Path, db_url: str, bus_url: str = "memory://") -> Settings:
    return Settings(
        env="test",
        data_dir=tmp,
        log_json=True,
        db=DbSettings(url=db_url, migrate_on_start=False),
        bus=BusSettings(url=bus_url),
        storage=StorageSettings(path=tmp / "blobs"),
        media=MediaSettings(engine="fake"),
        security=SecuritySettings(
            secret_key="collab-secret-key-0123456789abcdef",
            data_key="collab-data-key-0123456789abcdef",
            argon2_time_cost=1,
            argon2_memory_kib=64,
        ),
    )


def prepare(tmp: Path, db_url: str | None = None) -> Setup:
    """A migrated database with the personas and two meetings: one open (alice hosts,
    bob takes part, nina observes), one ended."""
    url = db_url or f"sqlite+aiosqlite:///{tmp}/collab.db"
    migrate.upgrade(url)
    app = create_app(settings_for(tmp, url), configure_logs=False)

    async def seed() -> tuple[World, str, str]:
        async with app.state.sessions() as s, s.begin():
            world = await seed_world(s, app.state.settings.security, app.state.cipher)
            codes = []
            for state in (MeetingState.OPEN, MeetingState.ENDED):
                meeting = Meeting(
                    code=secrets.token_hex(5),
                    title="病例讨论",
                    kind="instant",
                    state=state,
                    host_id=world.users["alice"].id,
                    institution_id=world.inst["chc_a"].id,
                )
                s.add(meeting)
                await s.flush()
                for name, role in (("alice", "host"), ("bob", "participant"), ("nina", "observer")):
                    s.add(
                        MeetingMember(
                            meeting_id=meeting.id,
                            user_id=world.users[name].id,
                            role=role,
                            invited_at=meeting.created_at,
                        )
                    )
                codes.append(meeting.code)
        await app.state.engine.dispose()
        return world, codes[0], codes[1]

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        world, open_code, ended_code = pool.submit(asyncio.run, seed()).result()
    return Setup(tmp, url, world, open_code, ended_code)


class Node:
    """One app node under uvicorn in its own thread."""

    def __init__(self, settings: Settings, port: int | None = None) -> None:
        self.app: Any = create_app(settings, configure_logs=False)
        self.port = port or free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_config=None)
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/docs"

    def start(self) -> Node:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


@contextlib.contextmanager
def running(settings: Settings, port: int | None = None) -> Iterator[Node]:
    node = Node(settings, port).start()
    try:
        yield node
    finally:
        node.stop()


class WsChannel:
    """pycrdt's `Channel` over a websockets client connection."""

    def __init__(self, ws: ClientConnection, path: str) -> None:
        self._ws = ws
        self._path = path

    @property
    def path(self) -> str:
        return self._path

    def __aiter__(self) -> WsChannel:
        return self

    async def __anext__(self) -> bytes:
        try:
            return await self.recv()
        except ConnectionClosed:
            raise StopAsyncIteration from None

    async def send(self, message: bytes) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self._ws.send(message)

    async def recv(self) -> bytes:
        data = await self._ws.recv()
        return data if isinstance(data, bytes) else data.encode()


@contextlib.asynccontextmanager
async def synced(url: str, token: str, doc: Doc | None = None) -> AsyncIterator[Doc]:
    """A pycrdt document connected to `url` until the block ends (synced on entry)."""
    doc = doc if doc is not None else Doc()
    async with connect(f"{url}?token={token}", max_size=None) as ws:
        provider = Provider(doc, WsChannel(ws, url))
        async with provider:
            await asyncio.wait_for(provider.synced.wait(), 10)
            yield doc


async def close_code(url: str, token: str | None) -> int:
    """Connect and return the close code the server ends the socket with."""
    query = f"?token={token}" if token else ""
    async with connect(url + query) as ws:
        with contextlib.suppress(ConnectionClosed):
            while True:
                await asyncio.wait_for(ws.recv(), 10)
        assert ws.close_code is not None
        return ws.close_code


async def until(predicate: Any, timeout: float = 10.0) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)
