"""Offer/answer for the two legs: what aiortc negotiates, plus what the SFU adds.

* `answer_publish` — answer a client's publish offer receive-only, accept its simulcast
  layers, and describe each published m-section as a `Track`;
* `offer_subscription` — (re)build a subscriber's offer over the tracks it should get:
  sections whose publication left go `inactive` and are reused for the next
  publication of the same kind (m-sections are never removed), each forwarded section
  offers only the codecs its publisher sends and is named after its publisher (an
  idle section keeps its last name, one never used has none);
* `accept_subscription_answer` — apply the subscriber's answer and start forwarding.

The caller (the engine) holds the room lock and owns the legs' lifetimes.
"""

from __future__ import annotations

import time

from aiortc import RTCRtpCodecCapability, RTCRtpSender, RTCRtpTransceiver, RTCSessionDescription

from yiyun.media.embedded import _aiortc
from yiyun.media.embedded.legs import PublishLeg, SubscribeLeg
from yiyun.media.embedded.negotiation import (
    RID_URI,
    Codec,
    Section,
    accept_simulcast,
    layers_low_to_high,
    parse_sections,
    set_msids,
)
from yiyun.media.embedded.room import Room, Slot, Track
from yiyun.media.engine import InvalidOffer, Publication


def sections(sdp: str, kind: str) -> list[Section]:
    try:
        return parse_sections(sdp)
    except (ValueError, IndexError) as exc:
        raise InvalidOffer(f"malformed {kind} SDP: {exc}", code="media.bad_sdp") from exc


def codec_preferences(track: Track) -> list[RTCRtpCodecCapability]:
    """The subscriber may only pick codecs the publisher sends (plus RTX for video)."""
    keys = {c.key for c in track.codecs.values()}
    prefs = []
    for cap in RTCRtpSender.getCapabilities(track.kind).codecs:
        name = cap.mimeType.split("/", 1)[1]
        params = tuple((k, str(v)) for k, v in cap.parameters.items())
        if name.lower() == "rtx" or Codec(name, cap.clockRate, cap.channels, params).key in keys:
            prefs.append(cap)
    return prefs if any(c.mimeType.split("/")[1].lower() != "rtx" for c in prefs) else []


async def answer_publish(
    leg: PublishLeg, offer_sdp: str, *, loopback: bool
) -> tuple[str, list[Track]]:
    """The answer SDP for a publish offer, and the tracks it publishes."""
    offer = sections(offer_sdp, "offer")
    if len(offer) > 1 and "a=group:BUNDLE" not in offer_sdp:
        raise InvalidOffer("the offer must BUNDLE its media", code="media.no_bundle")
    pc = leg.pc
    try:
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        leg.take_over()
        if loopback:
            _aiortc.allow_loopback(pc)
        await pc.setLocalDescription(await pc.createAnswer())
    except _aiortc.SDP_ERRORS as exc:
        raise InvalidOffer(f"offer refused: {exc}", code="media.bad_sdp") from exc
    answer_sdp = accept_simulcast(pc.localDescription.sdp, offer)
    answer = sections(answer_sdp, "answer")
    tracks = []
    for off, ans in zip(offer, answer, strict=False):
        codecs = ans.media_codecs()
        if off.kind not in ("audio", "video") or not off.sends or not ans.receives:
            continue
        if not codecs or off.mid is None:
            continue
        simulcast = off.simulcast and RID_URI in off.extmap
        publication = Publication(
            participant_id=leg.participant_id,
            kind=off.kind,  # type: ignore[arg-type]
            track_id=f"{leg.participant_id}-{off.mid}",
            simulcast=simulcast,
        )
        layers = layers_low_to_high(off.rids) if simulcast else [""]
        tracks.append(Track(publication, leg, off.mid, codecs, dict(ans.rtx), layers))
    leg.configure(answer, offer, tracks)
    return answer_sdp, tracks


def _transceiver(leg: SubscribeLeg, mid: str) -> RTCRtpTransceiver:
    return next(t for t in leg.pc.getTransceivers() if t.mid == mid)


def _plan(room: Room, leg: SubscribeLeg, wanted: list[Track]) -> list[Track]:
    """Unbind sections whose track left, reuse free ones; the tracks still to add."""
    for slot in leg.slots.values():
        if slot.track is not None and slot.track not in wanted:
            room.unbind(slot)
            leg.forget(slot)
            _transceiver(leg, slot.mid).direction = "inactive"
    bound = {id(s.track) for s in leg.slots.values() if s.track is not None}
    missing = []
    for track in (t for t in wanted if id(t) not in bound):
        free = next(
            (s for s in leg.slots.values() if s.track is None and s.kind == track.kind), None
        )
        if free is None:
            missing.append(track)
            continue
        transceiver = _transceiver(leg, free.mid)
        free.track, free.active = track, False
        transceiver.direction = "sendonly"
        transceiver.setCodecPreferences(codec_preferences(track))
    return missing


async def offer_subscription(
    room: Room, leg: SubscribeLeg, wanted: list[Track], *, loopback: bool
) -> str:
    """The subscriber's next offer, forwarding exactly `wanted`."""
    added: list[tuple[RTCRtpTransceiver, Track | None]] = []
    for track in _plan(room, leg, wanted):
        transceiver = leg.pc.addTransceiver(track.kind, direction="sendonly")
        transceiver.setCodecPreferences(codec_preferences(track))
        added.append((transceiver, track))
    if not leg.pc.getTransceivers():  # nothing to forward yet: connect anyway, stay warm
        added.append((leg.pc.addTransceiver("audio", direction="inactive"), None))
    leg.take_over()
    if loopback:
        _aiortc.allow_loopback(leg.pc)
    await leg.pc.setLocalDescription(await leg.pc.createOffer())
    for transceiver, bound in added:
        mid = str(transceiver.mid)
        leg.slots[mid] = Slot(mid=mid, kind=transceiver.kind, leg=leg, track=bound)
    for slot in leg.slots.values():
        if slot.track is not None:
            slot.msid = (slot.track.publisher, slot.track.publication.track_id)
    offer_sdp = set_msids(leg.pc.localDescription.sdp, {s.mid: s.msid for s in leg.slots.values()})
    leg.offer = sections(offer_sdp, "offer")
    return offer_sdp


async def accept_subscription_answer(room: Room, leg: SubscribeLeg, answer_sdp: str) -> None:
    if leg.pc.signalingState != "have-local-offer":
        raise InvalidOffer("no subscribe offer is waiting for an answer", code="media.no_offer")
    answer = sections(answer_sdp, "answer")
    try:
        await leg.pc.setRemoteDescription(RTCSessionDescription(sdp=answer_sdp, type="answer"))
    except _aiortc.SDP_ERRORS as exc:
        raise InvalidOffer(f"answer refused: {exc}", code="media.bad_sdp") from exc
    leg.configure(leg.offer, answer)
    now = time.monotonic()
    for slot in leg.slots.values():
        if slot.track is not None and slot.pt_map:
            room.activate(slot, now)
        else:
            room.unbind(slot)
