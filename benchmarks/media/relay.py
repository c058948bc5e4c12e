"""The baseline SFU: aiortc's `MediaRelay` on aiortc's public API only.

Each publish leg is an `RTCPeerConnection` whose received video is decoded by aiortc
(one decoder thread per track) and fanned out as decoded frames by one `MediaRelay`;
each subscribe leg adds a relay proxy as a send-only track, so aiortc re-encodes
every frame once per subscriber. Proxies are unbuffered (`buffered=False`): a
subscriber whose encoder falls behind skips frames instead of queueing them without
bound. A null consumer reads every publication from the start, so each published
track is decoded exactly once whether or not anyone subscribes (like a recorder).

It speaks the same methods as the engines (`create_room`, `join`, `publish`,
`subscribe`, `complete_subscribe`, `leave`), one room being a dict of participants.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

from aiortc import (
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from yiyun.media.engine import RoomSpec


@dataclass
class _Participant:
    publish: RTCPeerConnection | None = None
    subscribe: RTCPeerConnection | None = None
    tracks: list[MediaStreamTrack] = field(default_factory=list)
    drains: list[asyncio.Task[None]] = field(default_factory=list)


class RelaySfu:
    name = "relay"

    def __init__(self, *, loopback_candidates: bool = False) -> None:
        self.loopback = loopback_candidates
        self.relay = MediaRelay()
        self.rooms: dict[str, dict[str, _Participant]] = {}

    def _peer(self) -> RTCPeerConnection:
        return RTCPeerConnection(
            RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
        )

    def _gather(self, pc: RTCPeerConnection) -> None:
        if self.loopback:  # loopback-only runs: the one non-public call (aioice skips lo)
            from yiyun.media.embedded import _aiortc

            _aiortc.allow_loopback(pc)

    async def start(self, listener: Any) -> None:
        return None

    async def close(self) -> None:
        for room in self.rooms.values():
            for participant in room.values():
                await self._close(participant)
        self.rooms.clear()

    async def create_room(self, spec: RoomSpec) -> None:
        self.rooms.setdefault(spec.room_id, {})

    async def join(self, room_id: str, participant_id: str, *, display_name: str) -> None:
        self.rooms[room_id].setdefault(participant_id, _Participant())

    async def _drain(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                await track.recv()

    async def publish(self, room_id: str, participant_id: str, offer_sdp: str) -> str:
        part = self.rooms[room_id][participant_id]
        pc = self._peer()
        received: list[MediaStreamTrack] = []
        pc.on("track", received.append)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        self._gather(pc)
        await pc.setLocalDescription(await pc.createAnswer())
        part.publish, part.tracks = pc, received
        for track in received:
            drain = self.relay.subscribe(track, buffered=False)
            part.drains.append(asyncio.create_task(self._drain(drain)))
        return str(pc.localDescription.sdp)

    async def subscribe(self, room_id: str, participant_id: str) -> str:
        room = self.rooms[room_id]
        part = room[participant_id]
        pc = self._peer()
        for other_id, other in room.items():
            if other_id == participant_id:
                continue
            for track in other.tracks:
                pc.addTransceiver(self.relay.subscribe(track, buffered=False), "sendonly")
        self._gather(pc)
        await pc.setLocalDescription(await pc.createOffer())
        part.subscribe = pc
        return str(pc.localDescription.sdp)

    async def complete_subscribe(self, room_id: str, participant_id: str, answer_sdp: str) -> None:
        pc = self.rooms[room_id][participant_id].subscribe
        assert pc is not None
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer_sdp, type="answer"))

    async def leave(self, room_id: str, participant_id: str) -> None:
        part = self.rooms.get(room_id, {}).pop(participant_id, None)
        if part is not None:
            await self._close(part)

    async def _close(self, part: _Participant) -> None:
        for task in part.drains:
            task.cancel()
        for pc in (part.subscribe, part.publish):
            if pc is not None:
                for sender in pc.getSenders():
                    if sender.track is not None:
                        sender.track.stop()
                await pc.close()

    def stats(self, room_id: str) -> dict[str, int]:
        room = self.rooms.get(room_id, {})
        return {
            "publications": sum(len(p.tracks) for p in room.values()),
            "subscribe_legs": sum(p.subscribe is not None for p in room.values()),
        }
