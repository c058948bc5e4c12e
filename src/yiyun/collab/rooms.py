"""Live documents on this node: one `Room` per open document, its sockets, and the bus.

An edit travels: socket → checked against the connection's access → applied to the
room's pycrdt document (which validates it) → committed to the append log → only then
sent to the other sockets here and, through the bus, to the other app nodes, which apply
it and pass it on without storing it again. A client's reconnect runs the Yjs sync
handshake both ways, so whatever either side missed is exchanged; a node restart
reloads the snapshot and the log.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pycrdt import (
    Doc,
    YSyncMessageType,
    create_awareness_message,
    create_update_message,
    merge_updates,
)
from pycrdt._sync import create_message
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from yiyun.collab import protocol, store
from yiyun.collab.docs import Access, DocType, TypedDocument
from yiyun.core.bus import EventBus, InProcessBus, Message

logger = logging.getLogger(__name__)

COMPACT_EVERY = 200  # log rows per document before it is folded into the snapshot
IDLE_SECONDS = 30.0  # an empty room stays in memory this long (quick reconnects)

Send = Callable[[bytes], Awaitable[None]]


EMPTY_UPDATE = b"\x00\x00"  # no structs, no deletions
MAX_BACKLOG = 5000  # messages queued for one socket before it counts as gone


@dataclass(eq=False)
class Connection:
    """One socket. Messages to it go through its own queue and sender task, so a slow
    client never holds up the room; one that falls `MAX_BACKLOG` behind is closed
    (it resyncs when it reconnects)."""

    send: Send
    access: Access
    user_id: int | None
    close: Callable[[], Awaitable[None]]
    clients: dict[int, int] = field(default_factory=dict)  # awareness client id → clock
    outbox: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)

    def push(self, message: bytes) -> None:
        if self.outbox.qsize() >= MAX_BACKLOG:
            self.outbox.put_nowait(None)
            return
        self.outbox.put_nowait(message)

    async def run_sender(self) -> None:
        """Drain the outbox into the socket until it closes (run as a task)."""
        while True:
            message = await self.outbox.get()
            if message is None:
                await self.close()
                return
            await self.send(message)


class Room:
    def __init__(
        self, manager: RoomManager, doc_type: DocType, key: str, loaded: store.Loaded
    ) -> None:
        self.manager = manager
        self.doc_type = doc_type
        self.key = key
        self.doc_id = loaded.doc_id
        self.ydoc: Doc[Any] = Doc()
        for data in loaded.updates:
            self.ydoc.apply_update(data)
        self.document: TypedDocument = doc_type.document(self.ydoc)
        self._changes: list[bytes] = []
        self._observer = self.ydoc.observe(lambda event: self._changes.append(event.update))
        self.schema_version = loaded.schema_version
        self.log_rows = loaded.log_rows
        self.connections: set[Connection] = set()
        self.awareness: dict[int, tuple[int, str]] = {}  # client → (clock, state)
        self.channel = f"collab:{doc_type.kind}:{key}"
        self._bus_task: asyncio.Task[None] | None = None
        self._idle: asyncio.TimerHandle | None = None
        self._compacting: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()

    async def start(self) -> None:
        """Subscribe to other nodes, then write the schema into a new document."""
        if self.manager.multi_node:
            self._bus_task = asyncio.create_task(self._listen(), name=f"collab-bus-{self.channel}")
            await self.ready.wait()
        stored = self.document.stored_version
        if stored < self.document.version:
            before = self.ydoc.get_state()
            if stored == 0:
                self.document.initialise()
            else:
                self.document.upgrade(stored)
            await self._commit(self.ydoc.get_update(before), None)
            await store.set_schema_version(self.manager.factory, self.doc_id, self.document.version)

    async def _listen(self) -> None:
        try:
            async with self.manager.bus.subscribe(self.channel) as sub:
                self.ready.set()
                async for message in sub:
                    if message.get("node") == self.manager.node_id:
                        continue
                    await self._remote(message)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("collab: bus listener for a room stopped")
            self.ready.set()

    async def _remote(self, message: Message) -> None:
        data = base64.b64decode(message.get("data", ""))
        if message.get("t") == "u":
            self.ydoc.apply_update(data)
            await self._fanout(create_update_message(data), None)
        elif message.get("t") == "a":
            states = protocol.parse_awareness(data)
            self._remember_awareness(states)
            await self._fanout(create_awareness_message(data), None)

    # --- sockets -------------------------------------------------------------
    async def join(self, conn: Connection) -> None:
        self._cancel_idle()
        self.connections.add(conn)
        # Our state vector first: the client answers with whatever we lack.
        conn.push(create_message(self.ydoc.get_state(), YSyncMessageType.SYNC_STEP1))
        if self.awareness:
            conn.push(create_awareness_message(self._all_awareness()))

    async def leave(self, conn: Connection) -> None:
        self.connections.discard(conn)
        if conn.clients:
            gone = [(c, clock + 1, "null") for c, clock in conn.clients.items()]
            for client, _, _ in gone:
                self.awareness.pop(client, None)
            payload = protocol.awareness_update(gone)
            await self._fanout(create_awareness_message(payload), None)
            await self._publish("a", payload)
        if not self.connections:
            loop = asyncio.get_running_loop()
            self._idle = loop.call_later(
                self.manager.idle_seconds,
                lambda: asyncio.ensure_future(self.manager.close_room(self)),
            )

    async def receive(self, conn: Connection, raw: bytes) -> None:
        message = protocol.parse(raw)
        if isinstance(message, protocol.SyncMessage):
            if message.step == YSyncMessageType.SYNC_STEP1:
                conn.push(
                    create_message(
                        self.ydoc.get_update(message.payload), YSyncMessageType.SYNC_STEP2
                    )
                )
            elif conn.access >= Access.WRITE:
                started = time.perf_counter()
                await self.edit(message.payload, conn)
                if self.manager.timings is not None:
                    self.manager.timings.append(time.perf_counter() - started)
        elif isinstance(message, protocol.AwarenessMessage):
            for client, clock, _ in message.states:
                conn.clients[client] = clock
            self._remember_awareness(message.states)
            await self._fanout(create_awareness_message(message.payload), conn)
            await self._publish("a", message.payload)
        elif isinstance(message, protocol.QueryAwareness):
            conn.push(create_awareness_message(self._all_awareness()))

    async def edit(self, update: bytes, conn: Connection | None) -> None:
        """Apply, store, then acknowledge by passing it on (never the other way round)."""
        if update == EMPTY_UPDATE:
            return  # an empty sync answer
        self._changes.clear()
        try:
            self.ydoc.apply_update(update)
        except Exception as exc:
            raise protocol.ProtocolError("not a Yjs update") from exc
        if not self._changes:
            return  # nothing new: a duplicate, or an echo of what we sent
        # What actually changed (new items and deletions), not the raw message.
        update = self._changes[0] if len(self._changes) == 1 else merge_updates(*self._changes)
        await self._commit(update, conn.user_id if conn else None)
        await self._fanout(create_update_message(update), conn)

    async def _commit(self, update: bytes, user_id: int | None) -> None:
        try:
            await self.manager.writer.append(self.doc_id, update, user_id)
        except Exception:
            # Memory is ahead of storage: forget this room; clients reconnect, resync and
            # send the edit again, and it is stored then.
            await self.manager.close_room(self, force=True)
            raise
        await self._publish("u", update)
        self.log_rows += 1
        if self.log_rows >= self.manager.compact_every and self._compacting is None:
            self._compacting = asyncio.create_task(self._compact())

    async def _compact(self) -> None:
        try:
            folded = await store.compact(self.manager.factory, self.doc_id)
            self.log_rows = max(0, self.log_rows - folded)
        except Exception:
            logger.exception("collab: compaction failed; the log is kept")
        finally:
            self._compacting = None

    async def _publish(self, kind: str, data: bytes) -> None:
        if not self.manager.multi_node:
            return
        message = {"node": self.manager.node_id, "t": kind, "data": base64.b64encode(data).decode()}
        try:
            await self.manager.bus.publish(self.channel, message)
        except Exception:
            logger.warning("collab: bus publish failed; other nodes catch up on reconnect")

    async def _fanout(self, message: bytes, source: Connection | None) -> None:
        for conn in self.connections:
            if conn is not source:
                conn.push(message)

    def _remember_awareness(self, states: list[tuple[int, int, str]]) -> None:
        for client, clock, state in states:
            if state == "null":
                self.awareness.pop(client, None)
            else:
                self.awareness[client] = (clock, state)

    def _all_awareness(self) -> bytes:
        return protocol.awareness_update([(c, k, s) for c, (k, s) in self.awareness.items()])

    def _cancel_idle(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None

    async def stop(self) -> None:
        self._cancel_idle()
        for task in (self._bus_task, self._compacting):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task


class RoomManager:
    """The open rooms of this node, keyed by (kind, key)."""

    def __init__(
        self,
        factory: async_sessionmaker[AsyncSession],
        bus: EventBus,
        *,
        compact_every: int = COMPACT_EVERY,
        idle_seconds: float = IDLE_SECONDS,
    ) -> None:
        self.factory = factory
        self.bus = bus
        # An in-process bus means this is the only node: nothing to fan out to.
        self.multi_node = not isinstance(bus, InProcessBus)
        self.writer = store.UpdateWriter(factory)
        self.node_id = uuid.uuid4().hex
        self.compact_every = compact_every
        self.idle_seconds = idle_seconds
        self.rooms: dict[tuple[str, str], Room] = {}
        # Seconds from an edit's arrival to its broadcast, when a benchmark asks for them.
        self.timings: list[float] | None = None
        self._opening: dict[tuple[str, str], asyncio.Task[Room]] = {}

    async def open(self, doc_type: DocType, key: str) -> Room:
        ident = (doc_type.kind, key)
        room = self.rooms.get(ident)
        if room is not None:
            return room
        task = self._opening.get(ident)
        if task is None:
            task = asyncio.create_task(self._load(doc_type, key))
            self._opening[ident] = task
        try:
            return await asyncio.shield(task)
        finally:
            self._opening.pop(ident, None)

    async def _load(self, doc_type: DocType, key: str) -> Room:
        loaded = await store.open_doc(self.factory, doc_type.kind, key)
        room = Room(self, doc_type, key, loaded)
        self.rooms[(doc_type.kind, key)] = room
        await room.start()
        return room

    async def close_room(self, room: Room, *, force: bool = False) -> None:
        if room.connections and not force:
            return
        if self.rooms.get((room.doc_type.kind, room.key)) is room:
            del self.rooms[(room.doc_type.kind, room.key)]
        await room.stop()
        for conn in list(room.connections):
            with contextlib.suppress(Exception):
                await conn.close()
        if not force:
            with contextlib.suppress(Exception):
                await store.compact(self.factory, room.doc_id)

    async def close(self) -> None:
        for room in list(self.rooms.values()):
            await self.close_room(room, force=True)
        await self.writer.close()

    def stats(self) -> dict[str, Any]:
        return {
            "rooms": len(self.rooms),
            "connections": sum(len(r.connections) for r in self.rooms.values()),
            "commits": self.writer.commits,
            "rows": self.writer.rows,
        }
