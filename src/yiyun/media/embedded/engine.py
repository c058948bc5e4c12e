"""`EmbeddedEngine`: an SFU inside the app process that forwards RTP without decoding.

Each participant has a publish leg (the client offers, we answer receive-only) and a
subscribe leg (we offer one send-only m-section per forwarded publication, the client
answers). Both are aiortc peer connections whose media plane is ours (`legs`,
`_aiortc`): packets are routed, rewritten and re-encrypted, never decoded or
re-encoded. See docs/media.md "Embedded engine".

Signalling contract, beyond `MediaEngine`:

* `publish` replaces the participant's publish leg: clients publish from a fresh
  `RTCPeerConnection` (a new offer with new ICE credentials and certificate).
* `subscribe` renegotiates the existing subscribe leg: m-sections are never removed;
  a section whose publication left goes `inactive` and is reused for the next
  publication of the same kind. Each forwarded section is named
  `a=msid:<publisher participant id> <publication track id>` (kept while idle).
* Simulcast rids are ordered lowest first (known names q/h/f, l/m/h, low/high) or in
  `a=simulcast` order; `Layer.LOW` is the lowest layer, `Layer.HIGH` the highest.
* Mute (`set_muted`) drops the publication in the room before the fan-out; recording
  (`recorder.Recorder`) depacketises the included participants' RTP into frames and
  writes them, without decoding, to one Matroska file at the end.
* `loopback_candidates=True` also offers a 127.0.0.1 host candidate (tests, and
  `make run` on a loopback-only machine; browsers then need
  `--allow-loopback-in-peer-connection`). Off by default: production hosts have a
  real interface and loopback candidates only waste connectivity checks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Literal

from yiyun.media.embedded import _aiortc, offers
from yiyun.media.embedded.legs import LegLost, PublishLeg, SubscribeLeg, _Leg
from yiyun.media.embedded.recorder import Recorder
from yiyun.media.embedded.room import Member, Room
from yiyun.media.engine import (
    EngineEvent,
    EngineLoad,
    EventListener,
    IceCandidate,
    InvalidOffer,
    Layer,
    Leg,
    MediaKind,
    ParticipantGone,
    ParticipantNotFound,
    ParticipantState,
    PublicationsChanged,
    RenegotiationNeeded,
    RoomNotFound,
    RoomSpec,
    RoomState,
    with_mutes,
)
from yiyun.media.recording import Recordings
from yiyun.media.rtp_out import RtpTarget
from yiyun.media.sdp import check_secure

logger = logging.getLogger(__name__)

REPORT_INTERVAL_S = 1.0
GoneReason = Literal["left", "kicked", "failed"]


class EmbeddedEngine:
    name = "embedded"

    def __init__(
        self,
        *,
        loopback_candidates: bool = False,
        ice_servers: Sequence[str] = (),
        tick_s: float = 0.25,
    ) -> None:
        self.loopback_candidates = loopback_candidates
        self._ice_servers = tuple(ice_servers)
        self._tick_s = tick_s
        self._rooms: dict[str, Room] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._pending: dict[tuple[str, str, Leg], list[IceCandidate | None]] = {}
        self._listener: EventListener | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._recordings: Recordings[Recorder] = Recordings()

    # --- lifecycle ----------------------------------------------------------------------

    async def start(self, listener: EventListener) -> None:
        _aiortc.check_compatible()
        self._listener = listener
        if self._ticker is None:
            self._ticker = asyncio.create_task(self._run_ticker(), name="embedded-media-ticker")

    async def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        rooms, self._rooms = self._rooms, {}
        for room in rooms.values():
            room.recorder = None
            for tap in room.taps.values():
                tap.close()
            room.taps.clear()
            for member in list(room.members.values()):
                await self._teardown(room, member)
        self._pending.clear()
        for rec in self._recordings.all():
            logger.warning("engine closed while recording; its frames stay in %s", rec.workdir)
            self._recordings.pop(rec.room_id, rec.recording_id)
            await rec.abandon()

    async def _emit(self, events: Sequence[EngineEvent]) -> None:
        if self._listener is None:
            return
        for event in events:
            await self._listener(event)

    async def _run_ticker(self) -> None:
        last_reports = 0.0
        while True:
            await asyncio.sleep(self._tick_s)
            now = time.monotonic()
            reports = now - last_reports >= REPORT_INTERVAL_S
            if reports:
                last_reports = now
            for room in list(self._rooms.values()):
                try:
                    event = room.tick(now)
                    if event is not None:
                        await self._emit([event])
                    if reports:
                        await self._send_reports(room, now)
                except Exception:
                    logger.exception("embedded engine tick failed for a room")

    async def _send_reports(self, room: Room, now: float) -> None:
        for member in list(room.members.values()):
            for leg in (member.publish, member.subscribe):
                if leg is not None and leg.connected:
                    await leg.send_reports(now)

    # --- rooms and participants --------------------------------------------------------

    def _room(self, room_id: str) -> Room:
        room = self._rooms.get(room_id)
        if room is None:
            raise RoomNotFound("media room not found")
        return room

    @staticmethod
    def _member(room: Room, participant_id: str) -> Member:
        member = room.members.get(participant_id)
        if member is None:
            raise ParticipantNotFound("participant not in the media room")
        return member

    def _lock(self, room_id: str) -> asyncio.Lock:
        return self._locks.setdefault(room_id, asyncio.Lock())

    async def create_room(self, spec: RoomSpec) -> None:
        self._rooms.setdefault(spec.room_id, Room(spec))

    async def destroy_room(self, room_id: str) -> None:
        gone: list[EngineEvent] = []
        async with self._lock(room_id):
            room = self._rooms.pop(room_id, None)
            if room is not None:
                room.recorder = None  # a recording stays stoppable: it has what it got
                for tap in room.taps.values():
                    tap.close()
                room.taps.clear()
                for member in list(room.members.values()):
                    await self._teardown(room, member)
                    gone.append(ParticipantGone(room_id, member.participant_id, "left"))
        self._locks.pop(room_id, None)
        await self._emit(gone)

    async def join(self, room_id: str, participant_id: str, *, display_name: str) -> None:
        room = self._room(room_id)
        if participant_id not in room.members:
            room.members[participant_id] = Member(participant_id, display_name, time.monotonic())

    def _changed(self, room: Room, participant_id: str) -> list[EngineEvent]:
        member = room.members.get(participant_id)
        pubs = member.publications if member is not None else ()
        events: list[EngineEvent] = [PublicationsChanged(room.room_id, participant_id, pubs)]
        events += [
            RenegotiationNeeded(room.room_id, other.participant_id)
            for other in room.members.values()
            if other.participant_id != participant_id and other.subscribed
        ]
        return events

    async def _teardown(self, room: Room, member: Member) -> None:
        room.members.pop(member.participant_id, None)
        room.drop_tracks(member)
        if member.subscribe is not None:
            for slot in member.subscribe.slots.values():
                room.unbind(slot)
        room.speaker.remove(member.participant_id)
        for leg in (member.publish, member.subscribe):
            if leg is not None:
                await leg.close()
        member.publish = member.subscribe = None
        legs: tuple[Leg, ...] = ("publish", "subscribe")
        for kind in legs:
            self._pending.pop((room.room_id, member.participant_id, kind), None)
        room.refresh(time.monotonic())

    async def _remove(
        self, room_id: str, participant_id: str, reason: GoneReason, *, strict: bool
    ) -> None:
        async with self._lock(room_id):
            room = self._rooms.get(room_id) if not strict else self._room(room_id)
            member = room.members.get(participant_id) if room is not None else None
            if room is None or member is None:
                if strict:
                    raise ParticipantNotFound("participant not in the media room")
                return
            await self._teardown(room, member)
            events: list[EngineEvent] = [ParticipantGone(room_id, participant_id, reason)]
            events += self._changed(room, participant_id)
        await self._emit(events)

    async def leave(self, room_id: str, participant_id: str) -> None:
        await self._remove(room_id, participant_id, "left", strict=False)

    async def kick(self, room_id: str, participant_id: str) -> None:
        await self._remove(room_id, participant_id, "kicked", strict=True)

    def _on_lost(self, room_id: str, participant_id: str) -> LegLost:
        async def lost(leg: _Leg, failed: bool) -> None:
            room = self._rooms.get(room_id)
            member = room.members.get(participant_id) if room is not None else None
            if room is None or member is None or leg not in (member.publish, member.subscribe):
                return
            if failed:
                logger.info("a media leg failed; the participant is removed")
                await self._remove(room_id, participant_id, "failed", strict=False)
                return
            events: list[EngineEvent] = []
            async with self._lock(room_id):  # the client closed one leg: forget only that leg
                leg.closed = True
                if leg is member.publish:
                    room.drop_tracks(member)
                    member.publish = None
                    events = self._changed(room, participant_id)
                elif leg is member.subscribe:
                    for slot in member.subscribe.slots.values():
                        room.unbind(slot)
                    member.subscribe = None
            await self._emit(events)

        return lost

    # --- offer/answer --------------------------------------------------------------------

    async def publish(self, room_id: str, participant_id: str, offer_sdp: str) -> str:
        async with self._lock(room_id):
            room = self._room(room_id)
            member = self._member(room, participant_id)
            check_secure(offer_sdp)
            if member.publish is not None:
                room.drop_tracks(member)
                await member.publish.close()
                member.publish = None
            leg = PublishLeg(
                _aiortc.new_peer_connection(self._ice_servers),
                room=room,
                participant_id=participant_id,
                on_lost=self._on_lost(room_id, participant_id),
            )
            try:
                answer_sdp, tracks = await offers.answer_publish(
                    leg, offer_sdp, loopback=self.loopback_candidates
                )
            except InvalidOffer:
                await leg.close()
                raise
            muted = with_mutes((t.publication for t in tracks), member.muted)
            for track, publication in zip(tracks, muted, strict=True):
                track.publication = publication
            member.publish, member.tracks = leg, tracks
            await self._flush_candidates(room_id, participant_id, "publish", leg)
            room.refresh(time.monotonic())
            events = self._changed(room, participant_id)
        await self._emit(events)
        return answer_sdp

    async def subscribe(self, room_id: str, participant_id: str) -> str:
        async with self._lock(room_id):
            room = self._room(room_id)
            member = self._member(room, participant_id)
            member.subscribed = True
            leg = member.subscribe
            if leg is None or leg.closed or leg.pc.connectionState in ("failed", "closed"):
                if leg is not None:
                    for slot in leg.slots.values():
                        room.unbind(slot)
                    await leg.close()
                leg = SubscribeLeg(
                    _aiortc.new_peer_connection(self._ice_servers),
                    room=room,
                    participant_id=participant_id,
                    on_lost=self._on_lost(room_id, participant_id),
                )
                member.subscribe = leg
            others = sorted(room.members.values(), key=lambda m: m.joined_at)
            wanted = [t for m in others if m is not member for t in m.tracks]
            offer_sdp = await offers.offer_subscription(
                room, leg, wanted, loopback=self.loopback_candidates
            )
            await self._flush_candidates(room_id, participant_id, "subscribe", leg)
        return offer_sdp

    async def complete_subscribe(self, room_id: str, participant_id: str, answer_sdp: str) -> None:
        async with self._lock(room_id):
            room = self._room(room_id)
            member = self._member(room, participant_id)
            check_secure(answer_sdp, kind="answer")
            if member.subscribe is None:
                raise InvalidOffer(
                    "no subscribe offer is waiting for an answer", code="media.no_offer"
                )
            await offers.accept_subscription_answer(room, member.subscribe, answer_sdp)

    # --- ICE, layers, state ---------------------------------------------------------------

    async def _flush_candidates(
        self, room_id: str, participant_id: str, kind: Leg, leg: PublishLeg | SubscribeLeg
    ) -> None:
        for candidate in self._pending.pop((room_id, participant_id, kind), []):
            await self._add_candidate(leg, candidate)

    @staticmethod
    async def _add_candidate(leg: _Leg, candidate: IceCandidate | None) -> None:
        transceivers = leg.pc.getTransceivers()
        if not transceivers:
            return
        if candidate is None or not candidate.candidate.strip():
            await leg.pc.addIceCandidate(None)
            return
        try:
            # everything is bundled on the first m-section's transport
            parsed = _aiortc.parse_candidate(
                candidate.candidate, sdp_mid=transceivers[0].mid, sdp_mline_index=0
            )
        except ValueError as exc:
            raise InvalidOffer(str(exc), code="media.bad_candidate") from exc
        await leg.pc.addIceCandidate(parsed)

    async def add_ice_candidate(
        self, room_id: str, participant_id: str, leg: Leg, candidate: IceCandidate | None
    ) -> None:
        member = self._member(self._room(room_id), participant_id)
        target = member.publish if leg == "publish" else member.subscribe
        if target is None:
            self._pending.setdefault((room_id, participant_id, leg), []).append(candidate)
            return
        await self._add_candidate(target, candidate)

    async def select_layer(
        self, room_id: str, subscriber_id: str, publisher_id: str, layer: Layer
    ) -> None:
        room = self._room(room_id)
        self._member(room, publisher_id)
        self._member(room, subscriber_id).layers[publisher_id] = layer
        room.refresh(time.monotonic())

    # --- mute and recording ------------------------------------------------------------

    async def set_muted(
        self, room_id: str, participant_id: str, kind: MediaKind, muted: bool
    ) -> None:
        events: list[EngineEvent] = []
        async with self._lock(room_id):
            room = self._room(room_id)
            member = self._member(room, participant_id)
            if await room.set_muted(member, kind, muted, time.monotonic()):
                events.append(PublicationsChanged(room_id, participant_id, member.publications))
        await self._emit(events)

    async def start_recording(
        self,
        room_id: str,
        recording_id: str,
        participant_ids: Collection[str],
        directory: Path,
    ) -> None:
        room = self._room(room_id)
        rec = Recorder(room_id, recording_id, directory, frozenset(participant_ids))
        room.recorder = self._recordings.start(rec)

    async def set_recording_participants(
        self, room_id: str, recording_id: str, participant_ids: Collection[str]
    ) -> None:
        rec = self._recordings.get(room_id, recording_id)
        rec.participants = frozenset(participant_ids)
        rec.interrupt()

    async def pause_recording(self, room_id: str, recording_id: str) -> None:
        self._recordings.get(room_id, recording_id).paused = True

    async def resume_recording(self, room_id: str, recording_id: str) -> None:
        rec = self._recordings.get(room_id, recording_id)
        if rec.paused:
            rec.paused = False
            rec.interrupt()

    async def stop_recording(self, room_id: str, recording_id: str) -> Path:
        rec = self._recordings.pop(room_id, recording_id)
        room = self._rooms.get(room_id)
        if room is not None and room.recorder is rec:
            room.recorder = None
        return await rec.finish()

    async def start_forward(self, room_id: str, participant_id: str, target: RtpTarget) -> str:
        """Forward a participant's media as plain RTP (`media.rtp_out`)."""
        from yiyun.media.embedded.tap import RtpTap

        room = self._room(room_id)
        self._member(room, participant_id)
        tap = RtpTap(secrets.token_hex(6), participant_id, target)
        room.taps[tap.id] = tap
        return tap.id

    async def stop_forward(self, room_id: str, forward_id: str) -> None:
        room = self._rooms.get(room_id)
        tap = room.taps.pop(forward_id, None) if room is not None else None
        if tap is not None:
            tap.close()

    async def room_state(self, room_id: str) -> RoomState:
        room = self._room(room_id)
        members = sorted(room.members.values(), key=lambda m: m.joined_at)
        return RoomState(
            room_id=room_id,
            participants=tuple(
                ParticipantState(m.participant_id, m.display_name, m.publications) for m in members
            ),
        )

    async def load(self) -> EngineLoad:
        members = [m for r in self._rooms.values() for m in r.members.values()]
        return EngineLoad(
            rooms=len(self._rooms),
            participants=len(members),
            publications=sum(len(m.tracks) for m in members),
        )

    def stats(self, room_id: str) -> dict[str, int]:
        """Forwarding counters of a room, and proof that aiortc decoded/encoded nothing."""
        room = self._room(room_id)
        started = [
            _aiortc.media_pipelines_started(leg.pc)
            for m in room.members.values()
            for leg in (m.publish, m.subscribe)
            if leg is not None
        ]
        return {
            "forwarded_packets": room.forwarded_packets,
            "keyframe_requests": room.keyframe_requests,
            "nacks_answered": room.nacks_answered,
            "nacks_relayed": room.nacks_relayed,
            "active_slots": sum(1 for s in room.slots() if s.active),
            "aiortc_decoders": sum(s["decoder_threads"] for s in started),
            "aiortc_receivers": sum(s["receivers"] for s in started),
            "aiortc_senders": sum(s["senders"] for s in started),
        }
