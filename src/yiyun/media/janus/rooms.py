"""The Janus engine's bookkeeping of rooms and participants, and pure helpers.

Nothing here talks to Janus: the state the engine keeps per room (its node, the
feeds Janus reports active, the placeholder publisher, who spoke last) and per
participant (publisher handle, publications, subscription), the choice of streams
a subscriber gets, and the small SDP rewrite for placeholder sections.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from yiyun.media.engine import Layer, Publication, RoomSpec
from yiyun.media.janus import videoroom as vr
from yiyun.media.janus.client import JanusHandle
from yiyun.media.janus.placement import JanusNode
from yiyun.media.sdp import CheckedSdp

SUBSTREAM = {Layer.HIGH: 2, Layer.LOW: 0}  # Janus falls back to the highest layer it has
# Common simulcast rid spellings and their rank (0 = lowest resolution)
_RID_RANK = {
    **dict.fromkeys(("l", "lo", "low", "q", "quarter"), 0),
    **dict.fromkeys(("m", "mid", "medium", "half"), 1),
    **dict.fromkeys(("h", "hi", "high", "f", "full"), 2),
}


@dataclass(eq=False)
class Subscription:
    handle: JanusHandle
    streams: list[vr.SubscriptionStream]
    offer: str = ""
    answered: bool = False  # Janus's last offer was answered (`start` sent)
    offer_from_janus: bool = True  # the offer last given to the client is Janus's newest

    def feeds(self) -> set[str]:
        return {s.feed_id for s in self.streams if s.active and s.feed_id}

    def current(self, placeholder: str | None) -> dict[tuple[str, str | None], str]:
        """(feed, feed mid) → subscription mid of each real stream."""
        return {
            (s.feed_id, s.feed_mid): s.mid
            for s in self.streams
            if s.active and s.feed_id and s.feed_id != placeholder
        }

    def video_mids(self, feed: str) -> list[str]:
        return [s.mid for s in self.streams if s.feed_id == feed and s.type == "video"]


@dataclass(eq=False)
class Participant:
    display_name: str
    handle: JanusHandle
    publications: list[Publication] = field(default_factory=list)
    published: bool = False
    published_at: float = 0.0  # event-loop time of the last publish
    layers: dict[str, Layer] = field(default_factory=dict)
    mids: dict[str, list[str]] = field(default_factory=dict)  # kind -> published mids
    muted: set[str] = field(default_factory=set)  # kinds the chair muted
    sub: Subscription | None = None
    subscribed: bool = False  # the client holds a subscribe leg
    renegotiation_pending: bool = False  # RenegotiationNeeded sent, subscribe not yet called
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass(eq=False)
class Room:
    spec: RoomSpec
    node: JanusNode
    participants: dict[str, Participant] = field(default_factory=dict)
    feeds: dict[str, list[vr.PublishedStream]] = field(default_factory=dict)  # active, per Janus
    placeholder: str | None = None  # the room's dummy publisher
    speakers: list[str] = field(default_factory=list)  # most recent first
    speaking: str | None = None
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    def learn(self, publishers: list[vr.PublisherInfo]) -> list[str]:
        """Record active feeds from a Janus list; returns the ids that are new or changed."""
        fresh: list[str] = []
        for pub in publishers:
            if pub.dummy:
                self.placeholder = pub.id
                continue
            streams = [s for s in pub.streams if not s.disabled]
            old = self.feeds.get(pub.id)
            if old is None or [s.mid for s in old] != [s.mid for s in streams]:
                fresh.append(pub.id)
            self.feeds[pub.id] = streams
        return fresh


def publications_of(participant_id: str, offer: str, checked: CheckedSdp) -> list[Publication]:
    """What a publish offer sends: one publication per audio/video section."""
    sections = offer.split("\nm=")[1:]
    pubs: list[Publication] = []
    for i, media in enumerate(checked.media):
        if media.kind not in ("audio", "video") or media.direction in ("recvonly", "inactive"):
            continue
        text = sections[i] if i < len(sections) else ""
        simulcast = media.kind == "video" and ("a=simulcast:" in text or "a=ssrc-group:SIM" in text)
        pubs.append(
            Publication(
                participant_id=participant_id,
                kind=media.kind,  # type: ignore[arg-type]
                track_id=f"{participant_id}-{media.mid or i}",
                simulcast=simulcast,
            )
        )
    return pubs


def published_mids(checked: CheckedSdp) -> dict[str, list[str]]:
    """The mids a publish offer sends, by kind (what `moderate` names)."""
    mids: dict[str, list[str]] = {}
    for media in checked.media:
        sends = media.direction not in ("recvonly", "inactive")
        if media.kind in ("audio", "video") and sends and media.mid is not None:
            mids.setdefault(media.kind, []).append(media.mid)
    return mids


def rid_order(offer: str) -> str | None:
    """ "lmh" or "hml": the order of the simulcast rids in the offer, when the names say.

    Janus numbers substreams assuming high-to-low unless told otherwise; Yiyun's
    client lists the low layer first (`l`, `h`), janus.js the high one (`h`, `m`, `l`).
    """
    for line in offer.replace("\r\n", "\n").split("\n"):
        if line.startswith("a=simulcast:send "):
            rids = [r.split(",")[0].lstrip("~").lower() for r in line[17:].split()[0].split(";")]
            ranks = [_RID_RANK.get(r) for r in rids]
            if len(ranks) < 2 or ranks[0] is None or ranks[-1] is None:
                return None
            return "lmh" if ranks[0] < ranks[-1] else "hml"
    return None


def wanted_streams(room: Room, participant_id: str) -> list[vr.SubscribeTo]:
    """The streams `participant_id` should receive: all audio, last-N video.

    Video comes from at most `last_n` publishers, recent speakers first, then in the
    order they started publishing; each with the subscriber's layer choice.
    """
    part = room.participants[participant_id]
    feeds = [f for f in room.feeds if f != participant_id]
    rank = {pid: i for i, pid in enumerate(room.speakers)}
    by_voice = sorted(feeds, key=lambda f: rank.get(f, len(rank)))
    with_video = set(by_voice[: room.spec.last_n])
    wanted: list[vr.SubscribeTo] = []
    for feed in feeds:
        layer = part.layers.get(feed, Layer.HIGH)
        for stream in room.feeds[feed]:
            if stream.type == "audio":
                wanted.append(vr.SubscribeTo(feed=feed, mid=stream.mid))
            elif stream.type == "video" and feed in with_video:
                wanted.append(
                    vr.SubscribeTo(
                        feed=feed,
                        mid=stream.mid,
                        send=False if layer is Layer.OFF else None,
                        substream=SUBSTREAM.get(layer),
                    )
                )
    return wanted


def quiet_placeholders(offer: str, mids: set[str]) -> str:
    """Mark the placeholder publisher's sections `inactive`, without an msid.

    A subscription made before anyone publishes points at the room's dummy
    publisher, which never sends: the client should see no track for it.
    """
    if not mids:
        return offer
    out: list[str] = []
    mid: str | None = None
    section: list[str] = []

    def flush() -> None:
        if mid in mids:
            out.extend(
                "a=inactive" if line in ("a=sendonly", "a=sendrecv") else line
                for line in section
                if not line.startswith("a=msid:")
            )
        else:
            out.extend(section)

    for line in offer.replace("\r\n", "\n").split("\n"):
        if line.startswith("m="):
            flush()
            section, mid = [line], None
            continue
        if line.startswith("a=mid:"):
            mid = line[6:].strip()
        section.append(line)
    flush()
    return "\r\n".join(line for line in out if line) + "\r\n"
