"""`JanusEngine`: the `MediaEngine` on Janus VideoRoom, across one or more nodes.

Our two legs map onto VideoRoom handles:

* joining attaches a **publisher handle** and joins the room as a publisher (so the
  participant receives the room's events); `publish` sends the client's offer with
  `publish` (`configure` when renegotiating) and returns Janus's answer. Simulcast
  passes through: Janus reads the layers from the offer.
* the **subscribe leg** is one multistream subscriber handle per participant.
  `subscribe` joins it with the `streams` wanted (all audio, last-N video) or, once
  answered, sends `update` with what to add and remove, and returns Janus's offer;
  `complete_subscribe` sends `start` with the client's answer. Before anyone
  publishes, the subscription points at the room's placeholder publisher, so the
  client can connect early; those sections are marked inactive.

What Janus pushes (feeds appearing and going, speakers, failures) is turned into
engine events in `events.py`; where rooms go and node health in `placement.py`;
mute (`moderate`) and recording (per-publisher `.mjr` files, `janus-pp-rec`, one
Matroska file) in `chair.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from functools import partial

from yiyun.media.engine import (
    EngineLoad,
    EventListener,
    IceCandidate,
    InvalidOffer,
    Layer,
    Leg,
    MediaError,
    ParticipantGone,
    ParticipantNotFound,
    ParticipantState,
    RoomNotFound,
    RoomSpec,
    RoomState,
)
from yiyun.media.janus import videoroom as vr
from yiyun.media.janus.chair import PP_REC, ChairControls
from yiyun.media.janus.client import JanusError
from yiyun.media.janus.placement import Placement
from yiyun.media.janus.rooms import (
    SUBSTREAM,
    Participant,
    Room,
    Subscription,
    publications_of,
    published_mids,
    quiet_placeholders,
    rid_order,
    wanted_streams,
)
from yiyun.media.sdp import check_secure

logger = logging.getLogger(__name__)

# Janus plugin/core codes that mean "your SDP is wrong", not "Janus is broken"
BAD_SDP_CODES = frozenset({vr.INVALID_SDP, vr.INVALID_SDP_TYPE, 464, 465})


class JanusEngine(ChairControls):
    name = "janus"

    def __init__(
        self,
        urls: Sequence[str],
        *,
        request_timeout: float = 10.0,
        keepalive: float = 25.0,
        health_interval: float = 5.0,
        feed_timeout: float = 5.0,
        api_secret: str | None = None,
        admin_key: str | None = None,
        pp_rec: str = PP_REC,
    ) -> None:
        super().__init__(pp_rec=pp_rec)
        self.placement = Placement(
            urls,
            on_node_down=self._node_down,
            timeout=request_timeout,
            keepalive=keepalive,
            health_interval=health_interval,
            api_secret=api_secret,
            admin_key=admin_key,
        )
        self._admin_key = admin_key
        self._feed_timeout = feed_timeout
        self._placing = asyncio.Lock()

    async def start(self, listener: EventListener) -> None:
        self._listener = listener
        await self.placement.start()
        if not self.placement.healthy():
            logger.warning("no Janus node answers yet; rooms cannot be created until one does")

    async def close(self) -> None:
        """Drop this app node's participants (rooms stay: other app nodes may use them)."""
        self._listener = None
        rooms, self._rooms = list(self._rooms.values()), {}  # late events find no room
        for room in rooms:
            for part in list(room.participants.values()):
                await self._drop_handles(part)
        await self.placement.close()

    async def create_room(self, spec: RoomSpec) -> None:
        async with self._placing:  # one placement at a time: a room lands on one node
            if spec.room_id not in self._rooms:
                await self._place(spec)

    async def _place(self, spec: RoomSpec) -> None:
        node = await self.placement.locate(spec.room_id)
        if node is None:
            node = self.placement.choose()
            request = vr.CreateRoom(
                room=spec.room_id,
                description=f"Yiyun {spec.room_id}",
                is_private=self._admin_key is not None,
                admin_key=self._admin_key,
                publishers=spec.max_video_publishers,
                bitrate=spec.bitrate_bps,
            )
            try:
                vr.RoomCreated.parse((await vr.call(node.require_control(), request)).data)
                node.load += 1  # its placeholder publisher
            except JanusError as exc:
                if exc.janus_code != vr.ROOM_EXISTS:  # another app node was quicker
                    raise
        self._rooms[spec.room_id] = Room(spec, node)
        self._displaced.pop(spec.room_id, None)
        node.rooms.add(spec.room_id)

    async def destroy_room(self, room_id: str) -> None:
        self._displaced.pop(room_id, None)
        room = self._rooms.pop(room_id, None)
        node = room.node if room is not None else await self.placement.locate(room_id)
        if node is not None and node.healthy:
            try:
                await vr.call(node.require_control(), vr.DestroyRoom(room=room_id))
            except JanusError as exc:
                if exc.janus_code != vr.NO_SUCH_ROOM:
                    raise
            node.rooms.discard(room_id)
        if room is None:
            return
        for pid, part in list(room.participants.items()):
            room.participants.pop(pid)
            await self._drop_handles(part)
            await self._emit(ParticipantGone(room_id, pid, "left"))

    async def _room_for_join(self, room_id: str) -> Room:
        if room_id in self._rooms:
            return self._rooms[room_id]
        spec = self._displaced.get(room_id)
        if spec is None and await self.placement.locate(room_id) is not None:
            spec = RoomSpec(room_id)  # created by another app node
        if spec is None:
            raise RoomNotFound("media room not found")
        await self.create_room(spec)
        return self._rooms[room_id]

    async def join(self, room_id: str, participant_id: str, *, display_name: str) -> None:
        room = await self._room_for_join(room_id)
        if participant_id in room.participants:
            return
        session = room.node.require_session()
        handle = await session.attach(
            vr.PLUGIN, on_event=partial(self._on_publisher_event, room, participant_id)
        )
        request = vr.JoinPublisher(room=room_id, id=participant_id, display=display_name)
        try:
            try:
                reply = await vr.call(handle, request)
            except JanusError as exc:
                if exc.janus_code != vr.ID_EXISTS:
                    raise
                # A stale twin (an app node restarted): it goes, this one comes in.
                await vr.call(room.node.require_control(), vr.Kick(room=room_id, id=participant_id))
                reply = await vr.call(handle, request)
            joined = vr.Joined.parse(reply.data)
        except JanusError as exc:
            with contextlib.suppress(MediaError):
                await handle.detach()
            if exc.janus_code == vr.NO_SUCH_ROOM:
                self._forget(room)
                raise RoomNotFound("media room not found") from exc
            raise
        room.learn(joined.publishers)
        room.participants[participant_id] = Participant(display_name, handle)
        room.node.load += 1
        await self._recording_on_join(room, participant_id)

    async def leave(self, room_id: str, participant_id: str) -> None:
        room = self._rooms.get(room_id)
        part = room.participants.pop(participant_id, None) if room is not None else None
        if room is None or part is None:
            return
        await self._drop_handles(part)
        self._unfeed(room, participant_id)
        await self._emit(ParticipantGone(room_id, participant_id, "left"))
        await self._publications_changed(room, participant_id)

    async def kick(self, room_id: str, participant_id: str) -> None:
        room = self._room(room_id)
        part = room.participants.pop(participant_id, None)
        if part is None:
            raise ParticipantNotFound("participant not in the media room")
        try:
            await vr.call(room.node.require_control(), vr.Kick(room=room_id, id=participant_id))
        except JanusError as exc:
            if exc.janus_code != vr.NO_SUCH_FEED:
                raise
        finally:
            await self._drop_handles(part)
            self._unfeed(room, participant_id)
        await self._emit(ParticipantGone(room_id, participant_id, "kicked"))
        await self._publications_changed(room, participant_id)

    async def publish(self, room_id: str, participant_id: str, offer_sdp: str) -> str:
        room = self._room(room_id)
        part = self._participant(room, participant_id)
        checked = check_secure(offer_sdp)  # refused before Janus sees it
        request = (
            vr.Configure(bitrate=room.spec.bitrate_bps)
            if part.published
            else vr.Publish(bitrate=room.spec.bitrate_bps)
        )
        try:
            jsep = {"type": "offer", "sdp": offer_sdp}
            order = rid_order(offer_sdp)
            if order is not None:
                jsep["rid_order"] = order
            reply = await vr.call(part.handle, request, jsep)
        except JanusError as exc:
            if exc.janus_code in BAD_SDP_CODES:
                raise InvalidOffer(f"Janus refused the offer: {exc.reason}") from exc
            raise
        vr.Configured.parse(reply.data)
        if reply.jsep is None or "sdp" not in reply.jsep:
            raise JanusError("Janus answered a publish without SDP")
        part.published, part.published_at = True, asyncio.get_running_loop().time()
        part.publications = publications_of(participant_id, offer_sdp, checked)
        part.mids = published_mids(checked)
        await self._apply_mutes(room, participant_id)
        await self._publications_changed(room, participant_id)
        return str(reply.jsep["sdp"])

    async def subscribe(self, room_id: str, participant_id: str) -> str:
        room = self._room(room_id)
        part = self._participant(room, participant_id)
        async with part.lock:
            # Feeds that turn up while this offer is built need no extra notice...
            part.subscribed = part.renegotiation_pending = True
            await self._await_feeds(room, participant_id)
            wanted = wanted_streams(room, participant_id)
            part.renegotiation_pending = False  # ...those after this point do.
            if part.sub is None or not part.sub.answered:
                sub, offer = await self._new_subscription(room, participant_id, wanted)
            else:
                sub, offer = part.sub, await self._update_subscription(room, part.sub, wanted)
            mids = {s.mid for s in sub.streams if s.feed_id == room.placeholder}
            sub.offer = quiet_placeholders(offer, mids)
            return sub.offer

    async def _await_feeds(self, room: Room, participant_id: str) -> None:
        """Wait until Janus reports active the feeds published here lately.

        A feed is active once its publisher's PeerConnection is up; a publisher whose
        connection has not come up within `feed_timeout` is not waited for again (it
        is added by a later renegotiation when it does come up).
        """
        loop = asyncio.get_running_loop()
        since = loop.time() - self._feed_timeout
        recent = [
            p.published_at
            for pid, p in room.participants.items()
            if pid != participant_id and p.publications and p.published_at > since
        ]
        if not recent:
            return

        def ready() -> bool:
            return all(
                pid in room.feeds
                for pid, p in room.participants.items()
                if pid != participant_id and p.publications and p.published_at > since
            )

        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout_at(max(recent) + self._feed_timeout), room.changed:
                await room.changed.wait_for(ready)

    async def _new_subscription(
        self, room: Room, pid: str, wanted: list[vr.SubscribeTo]
    ) -> tuple[Subscription, str]:
        part = room.participants[pid]
        if part.sub is not None:  # an offer never answered: start over
            with contextlib.suppress(MediaError):
                await part.sub.handle.detach()
            part.sub = None
        if not wanted:
            if room.placeholder is None:
                raise JanusError("the room has no placeholder publisher to subscribe to")
            wanted = [vr.SubscribeTo(feed=room.placeholder)]
        session = room.node.require_session()
        handle = await session.attach(
            vr.PLUGIN, on_event=partial(self._on_subscriber_event, room, pid)
        )
        try:
            reply = await vr.call(handle, vr.JoinSubscriber(room=room.spec.room_id, streams=wanted))
            attached = vr.Attached.parse(reply.data)
            if reply.jsep is None:
                raise JanusError("Janus attached a subscription without an offer")
        except JanusError:
            with contextlib.suppress(MediaError):
                await handle.detach()
            raise
        part.sub = Subscription(handle, attached.streams)
        return part.sub, str(reply.jsep["sdp"])

    async def _update_subscription(
        self, room: Room, sub: Subscription, wanted: list[vr.SubscribeTo]
    ) -> str:
        current = sub.current(room.placeholder)
        keys = {(w.feed, w.mid) for w in wanted}
        add = [w for w in wanted if (w.feed, w.mid) not in current]
        drop = [vr.UnsubscribeFrom(sub_mid=mid) for key, mid in current.items() if key not in keys]
        if wanted:  # real streams replace the placeholder's
            drop += [
                vr.UnsubscribeFrom(sub_mid=s.mid)
                for s in sub.streams
                if s.active and s.feed_id is not None and s.feed_id == room.placeholder
            ]
        if not add and not drop:
            sub.offer_from_janus = False  # nothing changed: the client re-applies the offer
            return sub.offer
        reply = await vr.call(
            sub.handle, vr.Update(subscribe=add or None, unsubscribe=drop or None)
        )
        updated = vr.Updated.parse(reply.data)
        if updated.streams is not None:
            sub.streams = updated.streams
        if reply.jsep is None:
            sub.offer_from_janus = False
            return sub.offer
        sub.answered, sub.offer_from_janus = False, True
        return str(reply.jsep["sdp"])

    async def complete_subscribe(self, room_id: str, participant_id: str, answer_sdp: str) -> None:
        room = self._room(room_id)
        part = self._participant(room, participant_id)
        check_secure(answer_sdp, kind="answer")
        async with part.lock:
            sub = part.sub
            if sub is None:
                raise InvalidOffer("no subscription offer to answer", code="media.no_offer")
            if sub.answered or not sub.offer_from_janus:
                return  # the answer to a re-sent offer: Janus has its answer already
            reply = await vr.call(sub.handle, vr.Start(), {"type": "answer", "sdp": answer_sdp})
            vr.Started.parse(reply.data)
            sub.answered = True

    async def add_ice_candidate(
        self, room_id: str, participant_id: str, leg: Leg, candidate: IceCandidate | None
    ) -> None:
        part = self._participant(self._room(room_id), participant_id)
        handle = part.handle if leg == "publish" else (part.sub.handle if part.sub else None)
        if handle is None:
            logger.debug("candidate for a subscribe leg that does not exist yet, dropped")
            return
        payload: dict[str, str | int] | None = None
        if candidate is not None:
            payload = {"candidate": candidate.candidate}
            if candidate.sdp_mid is not None:
                payload["sdpMid"] = candidate.sdp_mid
            if candidate.sdp_mline_index is not None:
                payload["sdpMLineIndex"] = candidate.sdp_mline_index
        await handle.trickle(payload)

    async def select_layer(
        self, room_id: str, subscriber_id: str, publisher_id: str, layer: Layer
    ) -> None:
        room = self._room(room_id)
        if publisher_id not in room.participants and publisher_id not in room.feeds:
            raise ParticipantNotFound("participant not in the media room")
        part = self._participant(room, subscriber_id)
        async with part.lock:
            part.layers[publisher_id] = layer
            mids = part.sub.video_mids(publisher_id) if part.sub is not None else []
            if not mids or part.sub is None:
                return  # applied when the subscription is (re)built
            settings = [
                vr.StreamSettings(
                    mid=mid, send=layer is not Layer.OFF, substream=SUBSTREAM.get(layer)
                )
                for mid in mids
            ]
            await vr.call(part.sub.handle, vr.Configure(streams=settings))

    async def room_state(self, room_id: str) -> RoomState:
        room = self._room(room_id)
        return RoomState(
            room_id=room_id,
            participants=tuple(
                ParticipantState(pid, p.display_name, tuple(p.publications))
                for pid, p in room.participants.items()
            ),
            node=room.node.url,
        )

    async def load(self) -> EngineLoad:
        parts = [p for r in self._rooms.values() for p in r.participants.values()]
        return EngineLoad(
            rooms=len(self._rooms),
            participants=len(parts),
            publications=sum(len(p.publications) for p in parts),
            healthy=bool(self.placement.healthy()),
            nodes={n.url: n.load for n in self.placement.nodes if n.healthy},
        )
