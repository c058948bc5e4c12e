"""Every place the embedded engine reaches below aiortc's public API (aiortc==1.16.0).

aiortc has no public way to forward encoded media: an `RTCRtpReceiver` always
reassembles and decodes (a decoder thread per receiver), an `RTCRtpSender` always
pulls frames from a track and encodes them. The engine keeps aiortc for ICE, DTLS,
SRTP and offer/answer (one `RTCPeerConnection` per leg) and takes over the media
plane at the DTLS transport. The touch points, all in this module:

1. `RTCRtpReceiver.receive` is replaced on each server-side receiver by a no-op, so
   the receiver never starts its decoder thread, jitter buffer or RTCP task and is
   never registered in the transport's RTP router.
2. `RTCRtpSender.send` is replaced on each server-side sender by a no-op, so no
   encoder, RTP loop or aiortc sender report runs (our forwarder sends, and sends its
   own reports with the right RTP/NTP mapping).
3. `RTCDtlsTransport._handle_rtp_data(data, arrival_time_ms)` and
   `._handle_rtcp_data(data)` are replaced per transport: SRTP/SRTCP is decrypted by
   aiortc and handed to the engine's router instead of aiortc's.
4. `RTCDtlsTransport._send_rtp(data)` is called to SRTP/SRTCP-protect and send.
5. Loopback (opt-in, tests and loopback-only hosts): `RTCIceGatherer._connection`
   (the aioice `Connection`) gets its `gather_candidates` wrapped to add a 127.0.0.1
   host candidate via `Connection.get_component_candidates`, appended to the private
   `Connection._local_candidates` (aioice's `get_host_addresses` skips 127.0.0.1).
6. Read-only, to prove nothing decodes: the name-mangled
   `RTCRtpReceiver.__decoder_thread`/`__started` and `RTCRtpSender.__started`.
7. Non-exported aiortc modules used as wire-format libraries: `aiortc.rtp` (RTP/RTCP
   packets, header extension maps, RTX wrap/unwrap), `aiortc.sdp.candidate_from_sdp`
   and `aiortc.codecs.vpx.vp8_depayload` (the VP8 payload of one RTP packet, for the
   recorder).

`check_compatible()` runs at engine start and raises `MediaError` naming what changed
when an aiortc upgrade moves any of these; the tests run it too.
"""

from __future__ import annotations

import inspect
import logging
import weakref
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import aiortc
import pylibsrtp
from aiortc import (
    RTCBundlePolicy,
    RTCCertificate,
    RTCConfiguration,
    RTCDtlsTransport,
    RTCIceCandidate,
    RTCIceGatherer,
    RTCIceServer,
    RTCIceTransport,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpSender,
)
from aiortc import rtp as _rtp
from aiortc import sdp as _sdp
from aiortc.codecs import vpx as _vpx
from aiortc.exceptions import InternalError, InvalidAccessError, InvalidStateError, OperationError

from yiyun.media.engine import MediaError

logger = logging.getLogger(__name__)

BUILT_AGAINST = "1.16.0"

# Wire formats from aiortc.rtp (touch point 7), for the rest of the engine.
HeaderExtensionsMap = _rtp.HeaderExtensionsMap
RtpPacket = _rtp.RtpPacket
RtcpPacket = _rtp.RtcpPacket
RtcpPsfbPacket = _rtp.RtcpPsfbPacket
RtcpReceiverInfo = _rtp.RtcpReceiverInfo
RtcpRrPacket = _rtp.RtcpRrPacket
RtcpRtpfbPacket = _rtp.RtcpRtpfbPacket
RtcpSdesPacket = _rtp.RtcpSdesPacket
RtcpSenderInfo = _rtp.RtcpSenderInfo
RtcpSourceInfo = _rtp.RtcpSourceInfo
RtcpSrPacket = _rtp.RtcpSrPacket
clamp_packets_lost = _rtp.clamp_packets_lost
pack_remb_fci = _rtp.pack_remb_fci
unpack_remb_fci = _rtp.unpack_remb_fci
unwrap_rtx = _rtp.unwrap_rtx
wrap_rtx = _rtp.wrap_rtx
RTCP_PSFB_APP = _rtp.RTCP_PSFB_APP
RTCP_PSFB_FIR = _rtp.RTCP_PSFB_FIR
RTCP_PSFB_PLI = _rtp.RTCP_PSFB_PLI
RTCP_RTPFB_NACK = _rtp.RTCP_RTPFB_NACK


def vp8_depayload(payload: bytes) -> bytes:
    """The VP8 bitstream part of one RTP payload (RFC 7741 descriptor removed).

    ValueError when the descriptor is truncated (7).
    """
    return bytes(_vpx.vp8_depayload(payload))


# What aiortc raises on an SDP it cannot apply (its parser asserts on malformed lines).
SDP_ERRORS = (
    ValueError,
    AssertionError,
    KeyError,
    IndexError,
    InternalError,
    InvalidAccessError,
    InvalidStateError,
    OperationError,
)

RtpHandler = Callable[[bytes, int], Awaitable[None]]
RtcpHandler = Callable[[bytes], Awaitable[None]]

_LOOPBACK_DONE: weakref.WeakSet[Any] = weakref.WeakSet()


def _incompatible(what: str) -> MediaError:
    return MediaError(
        f"aiortc {aiortc.__version__} is not compatible with the embedded media engine "
        f"(built against aiortc {BUILT_AGAINST}): {what}. Pin aiortc=={BUILT_AGAINST} or "
        "port yiyun/media/embedded/_aiortc.py.",
        code="media.aiortc_incompatible",
    )


def _params(func: Any) -> list[str]:
    return list(inspect.signature(func).parameters)


def check_compatible() -> None:
    """Raise `MediaError` if any aiortc internal this engine relies on has changed.

    Call from inside the event loop (aiortc objects need one).
    """
    expected = {
        "RTCDtlsTransport._handle_rtp_data": (
            getattr(RTCDtlsTransport, "_handle_rtp_data", None),
            ["self", "data", "arrival_time_ms"],
        ),
        "RTCDtlsTransport._handle_rtcp_data": (
            getattr(RTCDtlsTransport, "_handle_rtcp_data", None),
            ["self", "data"],
        ),
        "RTCDtlsTransport._send_rtp": (
            getattr(RTCDtlsTransport, "_send_rtp", None),
            ["self", "data"],
        ),
        "RTCRtpReceiver.receive": (
            getattr(RTCRtpReceiver, "receive", None),
            ["self", "parameters"],
        ),
        "RTCRtpSender.send": (getattr(RTCRtpSender, "send", None), ["self", "parameters"]),
    }
    for name, (func, params) in expected.items():
        if func is None:
            raise _incompatible(f"{name} is gone")
        if _params(func) != params:
            raise _incompatible(f"{name} now takes {_params(func)}")
    recv_next: str | None
    connect: str | None
    try:
        recv_next = inspect.getsource(RTCDtlsTransport._recv_next)
        connect = inspect.getsource(RTCPeerConnection)
    except (OSError, TypeError):  # installed without sources: the call checks are skipped
        recv_next = connect = None
    for call in ("self._handle_rtp_data(", "self._handle_rtcp_data("):
        if recv_next is not None and call not in recv_next:
            raise _incompatible(f"RTCDtlsTransport._recv_next no longer calls {call}...)")
    for call in ("transceiver.receiver.receive(", "transceiver.sender.send("):
        if connect is not None and call not in connect:
            raise _incompatible(f"RTCPeerConnection no longer starts media with {call}...)")
    for module, names in (
        (_rtp, ("HeaderExtensionsMap", "RtpPacket", "RtcpPacket", "wrap_rtx", "unwrap_rtx")),
        (_sdp, ("candidate_from_sdp",)),
        (_vpx, ("vp8_depayload",)),
    ):
        for attr in names:
            if not hasattr(module, attr):
                raise _incompatible(f"{module.__name__}.{attr} is gone")
    gatherer = RTCIceGatherer(iceServers=[])
    connection = vars(gatherer).get("_connection")
    if connection is None or not isinstance(vars(connection).get("_local_candidates"), list):
        raise _incompatible("RTCIceGatherer._connection._local_candidates is gone")
    if not hasattr(connection, "get_component_candidates"):
        raise _incompatible("aioice Connection.get_component_candidates is gone")
    dtls = RTCDtlsTransport(RTCIceTransport(gatherer), [RTCCertificate.generateCertificate()])
    receiver_state = vars(RTCRtpReceiver("video", dtls))
    for attr in ("_RTCRtpReceiver__decoder_thread", "_RTCRtpReceiver__started"):
        if attr not in receiver_state:
            raise _incompatible(f"RTCRtpReceiver.{attr} is gone")
    if "_RTCRtpSender__started" not in vars(RTCRtpSender("video", dtls)):
        raise _incompatible("RTCRtpSender.__started is gone")
    if aiortc.__version__ != BUILT_AGAINST:
        logger.warning(
            "aiortc %s passes the embedded engine's checks but is untested (built against %s)",
            aiortc.__version__,
            BUILT_AGAINST,
        )


def new_peer_connection(ice_servers: Sequence[str] = ()) -> RTCPeerConnection:
    """A server-side peer connection: everything on one BUNDLE transport, no public STUN."""
    servers = [RTCIceServer(urls=url) for url in ice_servers]
    return RTCPeerConnection(
        RTCConfiguration(iceServers=servers, bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
    )


async def _no_media(parameters: object) -> None:
    """Stands in for `RTCRtpReceiver.receive` / `RTCRtpSender.send`: media is ours."""


def detach_media(pc: RTCPeerConnection) -> None:
    """Stop aiortc's own decode/encode pipelines for every transceiver of `pc` (1, 2)."""
    for transceiver in pc.getTransceivers():
        transceiver.receiver.receive = _no_media  # type: ignore[method-assign]
        transceiver.sender.send = _no_media  # type: ignore[method-assign]


def transport_of(pc: RTCPeerConnection) -> RTCDtlsTransport | None:
    """The one DTLS transport of a max-bundle connection (None before any transceiver)."""
    transceivers = pc.getTransceivers()
    return transceivers[0].receiver.transport if transceivers else None


def intercept(dtls: RTCDtlsTransport, on_rtp: RtpHandler, on_rtcp: RtcpHandler) -> None:
    """Hand decrypted RTP and RTCP of `dtls` to the engine instead of aiortc (3)."""

    async def handle_rtp(data: bytes, arrival_time_ms: int) -> None:
        try:
            await on_rtp(data, arrival_time_ms)
        except Exception:
            # an exception here would end the transport's receive loop for good
            logger.exception("embedded engine failed to route an RTP packet")

    async def handle_rtcp(data: bytes) -> None:
        try:
            await on_rtcp(data)
        except Exception:
            logger.exception("embedded engine failed to handle an RTCP packet")

    dtls._handle_rtp_data = handle_rtp  # type: ignore[method-assign]
    dtls._handle_rtcp_data = handle_rtcp  # type: ignore[method-assign]


async def send_rtp(dtls: RTCDtlsTransport, data: bytes) -> bool:
    """SRTP/SRTCP-protect and send (4); False when the transport is not connected."""
    try:
        await dtls._send_rtp(data)
    except ConnectionError:
        return False
    except pylibsrtp.Error as exc:
        logger.debug("SRTP protect failed: %s", exc)
        return False
    return True


def allow_loopback(pc: RTCPeerConnection) -> None:
    """Also gather a 127.0.0.1 host candidate on every ICE gatherer of `pc` (5).

    Call after the transceivers exist and before `setLocalDescription`.
    """
    gatherers = {id(t.receiver.transport.transport.iceGatherer): t for t in pc.getTransceivers()}
    for transceiver in gatherers.values():
        _add_loopback(transceiver.receiver.transport.transport.iceGatherer)


def _add_loopback(gatherer: RTCIceGatherer) -> None:
    connection = vars(gatherer)["_connection"]
    if connection in _LOOPBACK_DONE:
        return
    _LOOPBACK_DONE.add(connection)
    gather = connection.gather_candidates

    async def gather_with_loopback() -> None:
        already = bool(connection.local_candidates)
        await gather()
        if not already:
            extra = await connection.get_component_candidates(component=1, addresses=["127.0.0.1"])
            connection._local_candidates += extra

    connection.gather_candidates = gather_with_loopback


def parse_candidate(text: str, *, sdp_mid: str | None, sdp_mline_index: int) -> RTCIceCandidate:
    """An `a=candidate` value (with or without the "candidate:" prefix); ValueError if bad."""
    value = text.strip().removeprefix("a=").removeprefix("candidate:")
    try:
        candidate = _sdp.candidate_from_sdp(value)
    except (AssertionError, IndexError, ValueError) as exc:
        raise ValueError(f"malformed ICE candidate: {exc or 'too few fields'}") from exc
    candidate.sdpMid = sdp_mid
    candidate.sdpMLineIndex = sdp_mline_index
    return candidate


def media_pipelines_started(pc: RTCPeerConnection) -> dict[str, bool]:
    """Whether any aiortc decoder thread, receiver or sender of `pc` ever started (6)."""
    decoders = receivers = senders = False
    for transceiver in pc.getTransceivers():
        state = vars(transceiver.receiver)
        decoders |= state.get("_RTCRtpReceiver__decoder_thread") is not None
        receivers |= bool(state.get("_RTCRtpReceiver__started"))
        senders |= bool(vars(transceiver.sender).get("_RTCRtpSender__started"))
    return {"decoder_threads": decoders, "receivers": receivers, "senders": senders}
