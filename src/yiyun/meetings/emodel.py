"""The ITU-T G.107 (06/2015) E-model: transmission rating R and MOS-CQE for a WebRTC call.

`r_factor(params)` is the full model of G.107 clause 7 over `EModelParams` (its defaults
are Table 3, which give R = 93.2):

    R = Ro - Is - Id - Ie,eff + A

    Ro       basic signal-to-noise ratio (circuit and room noise, 7.1)
    Is       simultaneous impairments: loudness Iolr, sidetone Ist, quantising Iq (7.2)
    Id       delay impairments: talker echo Idte, listener echo Idle, absolute delay Idd (7.3)
    Ie,eff   codec and packet loss (7.4), from Ie, Bpl, Ppl and BurstR
    A        advantage factor (7.5), 0 here: a patient on a clinic's fixed line expects
             as much of a video visit as of a telephone call

`rate()` maps what a browser measures (getStats: round-trip time, interarrival jitter,
packet loss) onto the model and `r_to_mos()` is Annex B's R -> MOS-CQE curve. Labels
are G.109's categories of speech transmission quality: R >= 90 "excellent" (best),
>= 80 "good" (high), >= 70 "fair" (medium), >= 60 "poor" (low), otherwise "bad".

Delay model. Mouth-to-ear delay T = Ta = rtt/2 + 2 x jitter + 20 ms, and the echo loop
Tr = 2T. Half the round trip is the network's one-way share; the receiver's adaptive
jitter buffer holds about twice the RFC 3550 interarrival jitter; 20 ms is one Opus
frame (WebRTC's default ptime), standing for packetisation, and capture and playout
buffering. The same shape (rtt/2 + buffer + 20 ms) is used by the open-source
webrtc-metrics library (`getAbsoluteDelay` in its score module). Echo is treated as
the default TELR = 65 dB: browsers cancel it acoustically.

Codec values. G.107 is the narrowband (telephone-band) model; its scale cannot credit
Opus's wider audio band above G.711, so R <= 93.2 for every codec here.
  opus  Ie = 0, Bpl = 9.6. The only published Opus planning values found are
        Ie,FB = 10.2 and Bpl = 9.6 for the fullband E-model (G.107.2), which
        webrtc-metrics cites as ITU-T G.113 Amendment 3 (not verified here against the
        Recommendation's own table). On the fullband scale (maximum 148, divided by
        1.48 to compare with G.107) Opus rates (148 - 10.2) / 1.48 = 93.1, i.e. no
        worse than G.711, which is Ie = 0 on the G.107 scale. Bpl is the loss (in %)
        at which half the remaining rating is lost, the same meaning in G.107's
        Ie,eff formula, so it carries over unchanged. It is conservative next to G.711
        with concealment (Bpl 25.1) although WebRTC runs Opus with in-band FEC: the
        estimate errs towards warning a user too early rather than too late.
  pcmu, pcma (G.711 with packet loss concealment, G.113 Appendix I): Ie = 0, Bpl = 25.1.
Losses are taken as random (BurstR = 1): getStats does not report burstiness.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

__all__ = ["CODECS", "Codec", "EModelParams", "Rating", "label", "r_factor", "r_to_mos", "rate"]

#: Frame duration of WebRTC's Opus (ptime 20 ms), standing for packetisation and buffering.
PACKETISATION_MS = 20.0
#: Adaptive jitter buffers hold about this many times the measured interarrival jitter.
JITTER_BUFFER_FACTOR = 2.0


@dataclass(frozen=True)
class Codec:
    """Equipment impairment Ie and packet-loss robustness Bpl of one codec (G.107 7.4)."""

    ie: float
    bpl: float


CODECS: dict[str, Codec] = {
    "opus": Codec(ie=0.0, bpl=9.6),
    "pcmu": Codec(ie=0.0, bpl=25.1),
    "pcma": Codec(ie=0.0, bpl=25.1),
}


@dataclass(frozen=True)
class EModelParams:
    """The E-model's inputs with G.107 (06/2015) Table 3 default values.

    Loudness ratings and losses in dB, noise in dBm0p / dBmp, room noise in dB(A),
    delays in ms, the packet-loss probability Ppl in %.
    """

    slr: float = 8.0  # send loudness rating
    rlr: float = 2.0  # receive loudness rating
    stmr: float = 15.0  # sidetone masking rating
    lstr: float = 18.0  # listener sidetone rating (STMR + Dr)
    ds: float = 3.0  # D-value of telephone, send side
    dr: float = 3.0  # D-value of telephone, receive side
    telr: float = 65.0  # talker echo loudness rating
    wepl: float = 110.0  # weighted echo path loss
    t: float = 0.0  # mean one-way delay of the echo path
    tr: float = 0.0  # round-trip delay in a 4-wire loop
    ta: float = 0.0  # absolute delay in echo-free connections
    qdu: float = 1.0  # number of quantising distortion units
    ie: float = 0.0  # equipment impairment factor
    bpl: float = 4.3  # packet-loss robustness factor
    ppl: float = 0.0  # random packet-loss probability, %
    burst_r: float = 1.0  # burst ratio (1: random loss)
    nc: float = -70.0  # circuit noise referred to the 0 dBr point
    nfor: float = -64.0  # noise floor at the receive side
    ps: float = 35.0  # room noise at the send side
    pr: float = 35.0  # room noise at the receive side
    a: float = 0.0  # advantage factor
    s_t: float = 1.0  # delay sensitivity sT
    m_t: float = 100.0  # minimum perceivable delay mT

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, not {value!r}")
        for name in ("t", "tr", "ta"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if not 0 <= self.ppl <= 100:
            raise ValueError("ppl must be a percentage between 0 and 100")
        if self.burst_r < 1:
            raise ValueError("burst_r must be at least 1")
        if self.bpl <= 0 or self.qdu < 1 or self.s_t <= 0 or self.m_t <= 0:
            raise ValueError("bpl, s_t and m_t must be positive and qdu at least 1")


@dataclass(frozen=True)
class Rating:
    r: float
    mos: float
    label: str


def _lg(x: float) -> float:
    return math.log10(x)


def _root(x: float, n: float) -> float:
    return math.pow(x, 1 / n)


def _noise(p: EModelParams) -> float:
    """No: the total noise power, in dBm0p."""
    olr = p.slr + p.rlr
    nos = p.ps - p.slr - p.ds - 100 + 0.004 * (p.ps - olr - p.ds - 14) ** 2
    pre = p.pr + 10 * _lg(1 + 10 ** ((10 - p.lstr) / 10))
    nor = p.rlr - 121 + pre + 0.008 * (pre - 35) ** 2
    nfo = p.nfor + p.rlr
    return 10 * _lg(sum(10 ** (n / 10) for n in (p.nc, nos, nor, nfo)))


def _sidetone(p: EModelParams) -> float:
    """Ist: sidetone, masked by talker echo when that is strong."""
    stmro = -10 * _lg(10 ** (-p.stmr / 10) + math.exp(-p.t / 4) * 10 ** (-p.telr / 10))
    return (
        12 * _root(1 + ((stmro - 13) / 6) ** 8, 8)
        - 28 * _root(1 + ((stmro + 1) / 19.4) ** 35, 35)
        - 13 * _root(1 + ((stmro - 3) / 33) ** 13, 13)
        + 29
    )


def _simultaneous(p: EModelParams, ro: float, no: float, ist: float) -> float:
    """Is = Iolr + Ist + Iq."""
    xolr = p.slr + p.rlr + 0.2 * (64 + no - p.rlr)
    iolr = 20 * (_root(1 + (xolr / 8) ** 8, 8) - xolr / 8)
    q = 37 - 15 * _lg(p.qdu)
    g = 1.07 + 0.258 * q + 0.0602 * q**2
    y = (ro - 100) / 15 + 46 / 8.4 - g / 9
    z = 46 / 30 - g / 40
    iq = 15 * _lg(1 + 10**y + 10**z)
    return iolr + ist + iq


def _talker_echo(p: EModelParams, no: float, ist: float) -> float:
    """Idte, with the low-STMR and low-sidetone variants."""
    if p.t < 1:  # an echo this early is heard as sidetone
        return 0.0
    terv = p.telr - 40 * _lg((1 + p.t / 10) / (1 + p.t / 150)) + 6 * math.exp(-0.3 * p.t**2)
    if p.stmr < 9:
        terv += ist / 2
    roe = -1.5 * (no - p.rlr)
    re = 80 + 2.5 * (terv - 14)
    idte = ((roe - re) / 2 + math.sqrt((roe - re) ** 2 / 4 + 100) - 1) * (1 - math.exp(-p.t))
    if p.stmr > 20:
        idte = math.sqrt(idte**2 + ist**2)
    return idte


def _listener_echo(p: EModelParams, ro: float) -> float:
    """Idle."""
    rle = 10.5 * (p.wepl + 7) / _root(p.tr + 1, 4)
    return (ro - rle) / 2 + math.sqrt((ro - rle) ** 2 / 4 + 169)


def _absolute_delay(p: EModelParams) -> float:
    """Idd: nothing up to mT, then G.107's curve scaled by sT."""
    if p.ta <= p.m_t:
        return 0.0
    x = _lg(p.ta / p.m_t) / _lg(2)
    k = 6 * p.s_t
    return 25 * (_root(1 + x**k, k) - 3 * _root(1 + (x / 3) ** k, k) + 2)


def _effective_equipment(p: EModelParams) -> float:
    """Ie,eff: the codec's impairment raised by packet loss."""
    return p.ie + (95 - p.ie) * p.ppl / (p.ppl / p.burst_r + p.bpl)


def r_factor(params: EModelParams) -> float:
    """The transmission rating R of G.107 for these parameters."""
    no = _noise(params)
    ro = 15 - 1.5 * (params.slr + no)
    ist = _sidetone(params)
    is_ = _simultaneous(params, ro, no, ist)
    id_ = _talker_echo(params, no, ist) + _listener_echo(params, ro) + _absolute_delay(params)
    return ro - is_ - id_ - _effective_equipment(params) + params.a


def r_to_mos(r: float) -> float:
    """MOS-CQE from R (G.107 Annex B).

    The cubic dips just below 1 for 0 < R < 6.5; that is clamped to 1, the scale's floor.
    """
    if math.isnan(r):
        raise ValueError("R must be a number")
    if r < 0:
        return 1.0
    if r > 100:
        return 4.5
    return max(1.0, 1 + 0.035 * r + r * (r - 60) * (100 - r) * 7e-6)


def label(r: float) -> str:
    """G.109's quality category for a rating R."""
    for floor, name in ((90, "excellent"), (80, "good"), (70, "fair"), (60, "poor")):
        if r >= floor:
            return name
    return "bad"


def _measure(name: str, value: float) -> float:
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite, non-negative number, not {value!r}")
    return float(value)


def rate(*, rtt_ms: float, jitter_ms: float, loss_pct: float, codec: str = "opus") -> Rating:
    """Rate a call from client measurements (see the module docstring for the model)."""
    rtt = _measure("rtt_ms", rtt_ms)
    jitter = _measure("jitter_ms", jitter_ms)
    loss = _measure("loss_pct", loss_pct)
    if loss > 100:
        raise ValueError("loss_pct is a percentage: at most 100")
    coding = CODECS.get(codec.lower())
    if coding is None:
        raise ValueError(f"unknown codec {codec!r}; known: {', '.join(sorted(CODECS))}")
    delay = rtt / 2 + JITTER_BUFFER_FACTOR * jitter + PACKETISATION_MS
    params = EModelParams(t=delay, ta=delay, tr=2 * delay, ie=coding.ie, bpl=coding.bpl, ppl=loss)
    r = r_factor(params)
    return Rating(r=r, mos=r_to_mos(r), label=label(r))
