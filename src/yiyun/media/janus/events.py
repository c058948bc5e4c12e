"""The Janus engine's state, and what Janus tells it turned into engine events.

`EngineState` holds the rooms and participants of this app node and emits the
engine events. Janus pushes room events to every publisher handle in a room, so
the same notice arrives once per local participant: each is handled against the
state (a feed already known, a participant already gone), never counted.

* `publishers`: feeds became active; subscribers without them renegotiate;
* `unpublished` / `leaving` / `kicked`: a feed went; its subscribers renegotiate;
  a local participant that Janus dropped is `ParticipantGone` ("failed"/"kicked");
* `talking`: a new speaker is `ActiveSpeaker` (level in dBov, 0 = loudest);
* `destroyed`: another app node destroyed the room;
* `hangup` / `detached` on a publisher handle: publications or the participant
  are gone; on a subscriber handle: the subscription is rebuilt on next subscribe;
* a node down: each local participant `ParticipantGone("node_down")`, each room
  `RoomMoved`; the room's spec is kept so that the next join places it again.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Literal

from yiyun.media.engine import (
    ActiveSpeaker,
    EngineEvent,
    EventListener,
    MediaError,
    ParticipantGone,
    ParticipantNotFound,
    PublicationsChanged,
    RenegotiationNeeded,
    RoomMoved,
    RoomNotFound,
    RoomSpec,
)
from yiyun.media.janus import videoroom as vr
from yiyun.media.janus.client import JanusEvent
from yiyun.media.janus.placement import JanusNode
from yiyun.media.janus.rooms import Participant, Room

logger = logging.getLogger(__name__)

Reason = Literal["left", "kicked", "failed", "node_down"]


class EngineState:
    """Rooms and participants held by this app node, and the events they raise."""

    def __init__(self) -> None:
        self._rooms: dict[str, Room] = {}
        self._displaced: dict[str, RoomSpec] = {}  # rooms of a failed node, re-placed on join
        self._listener: EventListener | None = None

    async def _emit(self, event: EngineEvent) -> None:
        if self._listener is not None:
            await self._listener(event)

    def _room(self, room_id: str) -> Room:
        room = self._rooms.get(room_id)
        if room is None:
            raise RoomNotFound("media room not found")
        return room

    def _participant(self, room: Room, participant_id: str) -> Participant:
        part = room.participants.get(participant_id)
        if part is None:
            raise ParticipantNotFound("participant not in the media room")
        return part

    async def _drop_handles(self, part: Participant) -> None:
        for handle in (part.handle, part.sub.handle if part.sub else None):
            if handle is not None:
                with contextlib.suppress(MediaError):
                    await handle.detach()
        part.sub = None

    def _unfeed(self, room: Room, participant_id: str) -> None:
        """Forget a participant's feed: Janus's own notice of it comes later, moot."""
        room.node.load -= 1
        room.feeds.pop(participant_id, None)
        room.speakers = [s for s in room.speakers if s != participant_id]

    def _forget(self, room: Room) -> None:
        self._rooms.pop(room.spec.room_id, None)
        room.node.rooms.discard(room.spec.room_id)

    async def _publications_changed(self, room: Room, participant_id: str) -> None:
        part = room.participants.get(participant_id)
        pubs = tuple(part.publications) if part is not None else ()
        await self._emit(PublicationsChanged(room.spec.room_id, participant_id, pubs))
        for other_id, other in room.participants.items():
            if other_id != participant_id and other.subscribed:
                await self._renegotiate(room, other_id, force=True)

    async def _renegotiate(self, room: Room, participant_id: str, *, force: bool = False) -> None:
        part = room.participants.get(participant_id)
        if part is None or not part.subscribed or (part.renegotiation_pending and not force):
            return
        part.renegotiation_pending = True
        await self._emit(RenegotiationNeeded(room.spec.room_id, participant_id))

    async def _on_publisher_event(self, room: Room, participant_id: str, ev: JanusEvent) -> None:
        if self._rooms.get(room.spec.room_id) is not room:
            return  # the room is gone here; late events are moot
        kind = ev.data.get("videoroom") if ev.kind == "event" else None
        if kind == "event":
            await self._on_room_event(room, participant_id, vr.RoomEvent.parse(ev.data))
        elif kind in ("talking", "stopped-talking"):
            talk = vr.Talking.parse(ev.data)
            if kind == "stopped-talking":
                room.speaking = None if room.speaking == talk.id else room.speaking
            elif room.speaking != talk.id:
                room.speaking = talk.id
                room.speakers = [talk.id, *(s for s in room.speakers if s != talk.id)]
                await self._emit(ActiveSpeaker(room.spec.room_id, talk.id, -talk.level))
        elif kind == "destroyed":
            self._forget(room)
            for pid, part in list(room.participants.items()):
                room.participants.pop(pid)
                await self._drop_handles(part)
                await self._emit(ParticipantGone(room.spec.room_id, pid, "left"))
        elif ev.kind in ("hangup", "detached"):
            await self._publisher_lost(room, participant_id, ev.kind)
        elif ev.kind in ("slowlink", "media"):
            logger.debug("janus %s on %s: %s", ev.kind, room.spec.room_id, ev.data)

    async def _on_room_event(self, room: Room, participant_id: str, ev: vr.RoomEvent) -> None:
        if ev.publishers:
            for feed in room.learn(ev.publishers):
                await room.notify()
                for other in list(room.participants):
                    sub = room.participants[other].sub
                    if other != feed and (sub is None or feed not in sub.feeds()):
                        await self._renegotiate(room, other)
        notices: tuple[tuple[str | None, Reason | None], ...] = (
            (ev.unpublished, None),
            (ev.leaving, "failed"),
            (ev.kicked, "kicked"),
        )
        for gone, reason in notices:
            if gone is None:
                continue
            if gone == "ok":  # about this handle's own participant
                if ev.reason == "kicked" and participant_id in room.participants:
                    await self._gone(room, participant_id, "kicked")
                continue
            await self._feed_gone(room, gone)
            if reason is not None and gone in room.participants:
                await self._gone(room, gone, reason)

    async def _feed_gone(self, room: Room, feed: str) -> None:
        if room.feeds.pop(feed, None) is None:
            return
        room.speakers = [s for s in room.speakers if s != feed]
        for other, part in list(room.participants.items()):
            if part.sub is not None and feed in part.sub.feeds():
                await self._renegotiate(room, other)

    async def _gone(self, room: Room, participant_id: str, reason: Reason) -> None:
        part = room.participants.pop(participant_id)
        await self._drop_handles(part)
        self._unfeed(room, participant_id)
        await self._emit(ParticipantGone(room.spec.room_id, participant_id, reason))
        await self._publications_changed(room, participant_id)

    async def _publisher_lost(self, room: Room, participant_id: str, what: str) -> None:
        part = room.participants.get(participant_id)
        if part is None:
            return
        if what == "detached":
            await self._gone(room, participant_id, "failed")
        elif part.publications:  # the publish PeerConnection closed
            part.publications, part.published = [], False
            await self._feed_gone(room, participant_id)
            await self._publications_changed(room, participant_id)

    async def _on_subscriber_event(self, room: Room, participant_id: str, ev: JanusEvent) -> None:
        part = room.participants.get(participant_id)
        if part is None or part.sub is None or part.sub.handle.id != ev.handle_id:
            return
        if ev.kind in ("hangup", "detached"):
            handle, part.sub = part.sub.handle, None  # the next subscribe builds a new one
            if ev.kind == "hangup":
                with contextlib.suppress(MediaError):
                    await handle.detach()
            await self._renegotiate(room, participant_id)

    async def _node_down(self, node: JanusNode, rooms: set[str], reason: str) -> None:
        for room_id in sorted(rooms):
            room = self._rooms.pop(room_id, None)
            if room is None:
                continue
            self._displaced[room_id] = room.spec
            for pid in list(room.participants):
                room.participants.pop(pid)
                await self._emit(ParticipantGone(room_id, pid, "node_down"))
            await self._emit(RoomMoved(room_id, f"media node failed: {reason}"))
