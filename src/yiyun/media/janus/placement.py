"""Janus nodes, their health and load, and where a room goes.

Each node (one URL of `settings.media.janus_urls`) gets one WebSocket, one Janus
session (kept alive every ~25 s) and one control handle for room-level VideoRoom
requests. A health task asks every node for `info` and its room `list` each
`health_interval` seconds; the sum of `num_participants` over a node's rooms is its
load (participants, plus the one placeholder publisher of each room), and local
joins and leaves adjust it between two polls. A node that stops answering, or
whose connection drops, is marked down at once: its rooms are handed to
`on_node_down` (the engine tells signalling to move them). A down node is
reconnected by the same task when it answers again.

A new room goes to the healthy node with the lowest load (ties: the order of the
URLs). Before placing, the nodes are asked whether the room exists already, so
that several app nodes sharing the same Janus nodes agree on a room's node.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from yiyun.media.engine import EngineUnavailable, MediaError
from yiyun.media.janus import videoroom as vr
from yiyun.media.janus.client import JanusConnection, JanusHandle, JanusSession

logger = logging.getLogger(__name__)


@dataclass(eq=False)
class JanusNode:
    url: str
    conn: JanusConnection | None = None
    session: JanusSession | None = None
    control: JanusHandle | None = None
    healthy: bool = False
    load: int = 0
    rooms: set[str] = field(default_factory=set)

    def require_session(self) -> JanusSession:
        if not self.healthy or self.session is None:
            raise EngineUnavailable(f"Janus node {self.url} is down")
        return self.session

    def require_control(self) -> JanusHandle:
        if not self.healthy or self.control is None:
            raise EngineUnavailable(f"Janus node {self.url} is down")
        return self.control


NodeDown = Callable[[JanusNode, set[str], str], Awaitable[None]]


class Placement:
    def __init__(
        self,
        urls: Sequence[str],
        *,
        on_node_down: NodeDown,
        timeout: float = 10.0,
        keepalive: float = 25.0,
        health_interval: float = 5.0,
        api_secret: str | None = None,
        admin_key: str | None = None,
    ) -> None:
        if not urls:
            raise EngineUnavailable("no Janus node configured (settings.media.janus_urls)")
        self.nodes = [JanusNode(url) for url in dict.fromkeys(urls)]
        self._on_node_down = on_node_down
        self._timeout = timeout
        self._keepalive = keepalive
        self._interval = health_interval
        self._api_secret = api_secret
        self._admin_key = admin_key
        self._task: asyncio.Task[None] | None = None
        self._downs: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await asyncio.gather(*(self._connect(node) for node in self.nodes))
        self._task = asyncio.create_task(self._watch(), name="janus-health")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for node in self.nodes:
            node.healthy = False
            if node.session is not None:
                with contextlib.suppress(MediaError):
                    await node.session.destroy()
            if node.conn is not None:
                await node.conn.close()
            node.conn = node.session = node.control = None

    def node_for(self, url: str) -> JanusNode:
        return next(node for node in self.nodes if node.url == url)

    def healthy(self) -> list[JanusNode]:
        return [node for node in self.nodes if node.healthy]

    def choose(self) -> JanusNode:
        """The least-loaded healthy node."""
        nodes = self.healthy()
        if not nodes:
            raise EngineUnavailable("no healthy Janus node")
        return min(nodes, key=lambda node: node.load)

    async def locate(self, room_id: str) -> JanusNode | None:
        """The healthy node that already holds `room_id`, if any."""
        for node in self.healthy():
            try:
                reply = await vr.call(node.require_control(), vr.RoomExists(room=room_id))
            except EngineUnavailable:
                continue
            if vr.ExistsReply.parse(reply.data).exists:
                return node
        return None

    async def refresh(self, node: JanusNode) -> None:
        """Re-read the node's load from its room list (also a health probe)."""
        reply = await vr.call(node.require_control(), vr.ListRooms(admin_key=self._admin_key))
        node.load = sum(room.num_participants for room in vr.RoomList.parse(reply.data).rooms)

    async def _connect(self, node: JanusNode) -> None:
        try:
            conn = await JanusConnection.connect(
                node.url,
                open_timeout=min(self._timeout, 5.0),
                request_timeout=self._timeout,
                api_secret=self._api_secret,
            )
        except EngineUnavailable as exc:
            logger.warning("janus node %s unreachable: %s", node.url, exc)
            return
        try:
            session = await conn.create_session(keepalive=self._keepalive)
            control = await session.attach(vr.PLUGIN)
        except MediaError as exc:
            logger.warning("janus node %s refused a session: %s", node.url, exc)
            await conn.close()
            return
        node.conn, node.session, node.control = conn, session, control
        node.healthy = True
        conn.on_close(lambda: self._lost(node, conn))
        with contextlib.suppress(MediaError):
            await self.refresh(node)
        logger.info("janus node %s up (load %d)", node.url, node.load)

    def _lost(self, node: JanusNode, conn: JanusConnection) -> None:
        if node.conn is conn and node.healthy:
            task = asyncio.create_task(self.mark_down(node, "connection to Janus lost"))
            self._downs.add(task)
            task.add_done_callback(self._downs.discard)

    async def mark_down(self, node: JanusNode, reason: str) -> None:
        if not node.healthy:
            return
        node.healthy = False
        rooms, node.rooms = node.rooms, set()
        node.load = 0
        logger.warning("janus node %s down (%s); %d rooms to move", node.url, reason, len(rooms))
        conn, node.conn, node.session, node.control = node.conn, None, None, None
        await self._on_node_down(node, rooms, reason)
        if conn is not None:
            await conn.close(abort=True)

    async def check(self, node: JanusNode) -> None:
        """One health round for one node: probe a healthy one, retry a down one."""
        conn = node.conn
        if not node.healthy or conn is None:
            await self._connect(node)
            return
        try:
            await conn.info(wait=min(self._timeout, self._interval))
            await self.refresh(node)
        except MediaError as exc:
            await self.mark_down(node, f"not answering: {exc}")

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await asyncio.gather(*(self.check(node) for node in self.nodes))
