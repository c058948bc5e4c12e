"""The SDP facts the forwarding graph needs, and the two SDP edits aiortc cannot make.

aiortc's own SDP model has no simulcast (`a=rid`, `a=simulcast`) and keeps only the
header extensions it implements, so the engine reads offers and answers here:

* `parse_sections` — per m-section: mid, kind, direction, codecs by payload type,
  RTX payload types, header extension ids, signalled SSRCs (with FID pairs), rids and
  the simulcast line;
* `accept_simulcast` — adds `a=rid:<rid> recv`, `a=simulcast:recv ...` and the RID
  header extensions to aiortc's publish answer so a browser keeps its layers;
* `set_msids` — names each forwarded m-section after its publisher
  (`a=msid:<participant> <track>`) so a client knows whose media a track carries.
"""

from __future__ import annotations

from dataclasses import dataclass, field

RID_URI = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"
RRID_URI = "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"
MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
AUDIO_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
ABS_SEND_TIME_URI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"

# Common rid spellings, lowest first; unknown names keep their order in a=simulcast.
_RID_RANK = {
    name: rank
    for rank, names in enumerate(
        (("q", "l", "lo", "low", "0"), ("h", "m", "mid", "medium", "1"), ("f", "hi", "high", "2"))
    )
    for name in names
}


@dataclass(frozen=True)
class Codec:
    """One negotiated payload format (`a=rtpmap` + `a=fmtp`)."""

    name: str
    clock_rate: int
    channels: int | None = None
    params: tuple[tuple[str, str], ...] = ()

    @property
    def key(self) -> tuple[str, ...]:
        """What must match for two PTs (two legs) to carry the same bitstream."""
        base = (self.name.upper(), str(self.clock_rate))
        if self.name.upper() == "H264":
            p = dict(self.params)
            # profile and constraints must match; the level may differ per direction
            profile = p.get("profile-level-id", "42e01f").lower()[:4]
            return (*base, profile, p.get("packetization-mode", "0"))
        return base


@dataclass
class Section:
    kind: str
    mid: str | None
    direction: str = "sendrecv"
    codecs: dict[int, Codec] = field(default_factory=dict)
    rtx: dict[int, int] = field(default_factory=dict)  # rtx pt -> apt
    extmap: dict[str, int] = field(default_factory=dict)  # uri -> id
    ssrcs: list[int] = field(default_factory=list)
    fid: list[tuple[int, int]] = field(default_factory=list)  # (media ssrc, rtx ssrc)
    rids: list[str] = field(default_factory=list)  # send rids in a=simulcast order
    msid: str | None = None
    cname: str | None = None

    @property
    def sends(self) -> bool:
        return self.direction in ("sendrecv", "sendonly")

    @property
    def receives(self) -> bool:
        return self.direction in ("sendrecv", "recvonly")

    @property
    def simulcast(self) -> bool:
        return len(self.rids) > 1

    def media_codecs(self) -> dict[int, Codec]:
        return {pt: c for pt, c in self.codecs.items() if pt not in self.rtx}

    def rtx_for(self, pt: int) -> int | None:
        return next((rtx for rtx, apt in self.rtx.items() if apt == pt), None)


def _params(text: str) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    for part in text.split(";"):
        key, _, value = part.strip().partition("=")
        if key:
            out.append((key.strip(), value.strip()))
    return tuple(out)


def _parse_line(sec: Section, attr: str, value: str, fmtp: dict[int, str]) -> None:
    if attr == "mid":
        sec.mid = value
    elif attr in ("sendrecv", "sendonly", "recvonly", "inactive"):
        sec.direction = attr
    elif attr == "rtpmap":
        pt, _, desc = value.partition(" ")
        bits = desc.split("/")
        channels = int(bits[2]) if len(bits) > 2 else None
        sec.codecs[int(pt)] = Codec(bits[0], int(bits[1]), channels)
    elif attr == "fmtp":
        pt, _, desc = value.partition(" ")
        fmtp[int(pt)] = desc
    elif attr == "extmap":
        ext_id, _, uri = value.partition(" ")
        sec.extmap[uri.split()[0]] = int(ext_id.split("/")[0])
    elif attr == "ssrc":
        ssrc_text, _, desc = value.partition(" ")
        ssrc = int(ssrc_text)
        if ssrc not in sec.ssrcs:
            sec.ssrcs.append(ssrc)
        if desc.startswith("cname:") and sec.cname is None:
            sec.cname = desc[6:]
    elif attr == "ssrc-group" and value.startswith("FID "):
        ids = [int(x) for x in value.split()[1:]]
        if len(ids) == 2:
            sec.fid.append((ids[0], ids[1]))
    elif attr == "simulcast":
        words = value.split()
        if len(words) >= 2 and words[0] == "send":
            # "send a;b" (alternatives after "," are not offered by browsers)
            sec.rids = [r.split(",")[0].lstrip("~") for r in words[1].split(";")]
    elif attr == "msid":
        sec.msid = value


def parse_sections(sdp: str) -> list[Section]:
    """The media sections of an SDP (raises ValueError on a malformed codec line)."""
    sections: list[Section] = []
    fmtps: list[dict[int, str]] = []
    for raw in sdp.splitlines():
        line = raw.strip()
        if line.startswith("m="):
            sections.append(Section(kind=line[2:].split(" ", 1)[0], mid=None))
            fmtps.append({})
        elif sections and line.startswith("a="):
            attr, _, value = line[2:].partition(":")
            _parse_line(sections[-1], attr, value.strip(), fmtps[-1])
    for sec, fmtp in zip(sections, fmtps, strict=True):
        for pt, desc in fmtp.items():
            codec = sec.codecs.get(pt)
            if codec is None:
                continue
            params = _params(desc)
            sec.codecs[pt] = Codec(codec.name, codec.clock_rate, codec.channels, params)
            if codec.name.lower() == "rtx":
                apt = dict(params).get("apt")
                if apt is not None and apt.isdecimal():
                    sec.rtx[pt] = int(apt)
    return sections


def layers_low_to_high(rids: list[str]) -> list[str]:
    """Order simulcast rids from the lowest to the highest resolution.

    Known names (q/h/f, l/m/h, low/high, 0/1/2) are ranked; otherwise the order of
    `a=simulcast` is kept, which browsers fill lowest first by our client convention.
    """
    if rids and all(r.lower() in _RID_RANK for r in rids):
        return sorted(rids, key=lambda r: _RID_RANK[r.lower()])
    return list(rids)


def _split(sdp: str) -> tuple[list[str], list[list[str]]]:
    head: list[str] = []
    sections: list[list[str]] = []
    for raw in sdp.splitlines():
        line = raw.rstrip("\r")
        if not line:
            continue
        if line.startswith("m="):
            sections.append([line])
        elif sections:
            sections[-1].append(line)
        else:
            head.append(line)
    return head, sections


def _join(head: list[str], sections: list[list[str]]) -> str:
    return "\r\n".join(head + [line for sec in sections for line in sec]) + "\r\n"


def _insert_after_last(lines: list[str], prefix: str, new: list[str]) -> None:
    at = max((i for i, line in enumerate(lines) if line.startswith(prefix)), default=0)
    lines[at + 1 : at + 1] = new


def accept_simulcast(answer_sdp: str, offer: list[Section]) -> str:
    """Make aiortc's answer accept the simulcast layers the offer sends."""
    head, sections = _split(answer_sdp)
    for lines, off in zip(sections, offer, strict=False):
        if not off.simulcast or not off.sends:
            continue
        present = {line.split(" ", 1)[-1] for line in lines if line.startswith("a=extmap:")}
        extra = [
            f"a=extmap:{off.extmap[uri]} {uri}"
            for uri in (RID_URI, RRID_URI)
            if uri in off.extmap and uri not in present
        ]
        if RID_URI not in off.extmap:
            continue  # without the RID extension the browser cannot label its layers
        _insert_after_last(lines, "a=extmap:", extra)
        lines += [f"a=rid:{rid} recv" for rid in off.rids]
        lines.append("a=simulcast:recv " + ";".join(off.rids))
    return _join(head, sections)


def set_msids(offer_sdp: str, msids: dict[str, tuple[str, str] | None]) -> str:
    """Give the m-sections with the given mids `a=msid:<stream> <track>`, or none (None)."""
    head, sections = _split(offer_sdp)
    for lines in sections:
        mid = next((line[6:] for line in lines if line.startswith("a=mid:")), None)
        if mid is None or mid not in msids:
            continue
        kept = [line for line in lines if not line.startswith("a=msid:")]
        msid = msids[mid]
        if msid is not None:
            _insert_after_last(kept, "a=mid:", [f"a=msid:{msid[0]} {msid[1]}"])
        lines[:] = kept
    return _join(head, sections)
