"""SDP checks shared by every engine: media must be DTLS-SRTP, never plain RTP."""

from __future__ import annotations

import re
from dataclasses import dataclass

from yiyun.media.engine import InvalidOffer

MAX_SDP_BYTES = 64 * 1024
SECURE_PROTOS = frozenset({"UDP/TLS/RTP/SAVPF", "UDP/TLS/RTP/SAVP", "TCP/TLS/RTP/SAVPF"})
_FINGERPRINT = re.compile(r"^a=fingerprint:(sha-(?:1|224|256|384|512)) ([0-9A-Fa-f:]+)\s*$")


@dataclass(frozen=True)
class MediaSection:
    kind: str
    proto: str
    mid: str | None
    direction: str


@dataclass(frozen=True)
class CheckedSdp:
    fingerprints: tuple[tuple[str, str], ...]
    media: tuple[MediaSection, ...]

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(m.kind for m in self.media)


def check_secure(sdp: str, *, kind: str = "offer") -> CheckedSdp:
    """Parse enough of an SDP to refuse anything that is not DTLS-SRTP.

    Refused: oversize or empty SDP, no `m=` section, a media section using a plain RTP
    profile (e.g. `RTP/AVP`), or no DTLS fingerprint (session- or media-level) for a
    section. Data channels (`UDP/DTLS/SCTP`) are accepted when fingerprinted.
    """
    if not sdp or len(sdp.encode("utf-8", "replace")) > MAX_SDP_BYTES:
        raise InvalidOffer(f"{kind} SDP is empty or too large", code="media.bad_sdp")
    lines = [line.rstrip("\r") for line in sdp.split("\n") if line.strip()]
    if not lines or not lines[0].startswith("v=0"):
        raise InvalidOffer(f"{kind} is not an SDP document", code="media.bad_sdp")
    session_fp: list[tuple[str, str]] = []
    sections: list[dict[str, object]] = []
    current: dict[str, object] | None = None
    for line in lines:
        if line.startswith("m="):
            parts = line[2:].split()
            if len(parts) < 3:
                raise InvalidOffer("malformed m= line", code="media.bad_sdp")
            current = {
                "kind": parts[0],
                "proto": parts[2],
                "mid": None,
                "dir": "sendrecv",
                "fp": [],
            }
            sections.append(current)
            continue
        match = _FINGERPRINT.match(line)
        if match:
            pair = (match.group(1).lower(), match.group(2).upper())
            (current["fp"] if current is not None else session_fp).append(pair)  # type: ignore[attr-defined]
        elif current is not None and line.startswith("a=mid:"):
            current["mid"] = line[6:].strip()
        elif (
            current is not None
            and line[2:] in ("sendrecv", "sendonly", "recvonly", "inactive")
            and line.startswith("a=")
        ):
            current["dir"] = line[2:]
    if not sections:
        raise InvalidOffer(f"{kind} has no media", code="media.no_media")
    fingerprints: list[tuple[str, str]] = list(session_fp)
    media: list[MediaSection] = []
    for sec in sections:
        proto = str(sec["proto"])
        if sec["kind"] == "application":
            if "DTLS" not in proto:
                raise InvalidOffer("data channel without DTLS", code="media.insecure")
        elif proto not in SECURE_PROTOS:
            raise InvalidOffer(
                f"plain RTP ({proto}) is refused: media must be DTLS-SRTP",
                code="media.insecure",
            )
        own_fp = list(sec["fp"])  # type: ignore[call-overload]
        if not own_fp and not session_fp:
            raise InvalidOffer("no DTLS fingerprint in the SDP", code="media.no_fingerprint")
        fingerprints.extend(own_fp)
        media.append(
            MediaSection(
                kind=str(sec["kind"]),
                proto=proto,
                mid=sec["mid"] if isinstance(sec["mid"], str) else None,
                direction=str(sec["dir"]),
            )
        )
    return CheckedSdp(fingerprints=tuple(dict.fromkeys(fingerprints)), media=tuple(media))
