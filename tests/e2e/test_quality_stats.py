"""The getStats summariser (frontend/islands/quality.ts) in real Chromium: exact figures
from hand-made reports, then plausible ones from a live loopback call's own reports."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.conftest import LiveServer

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MODULE = "/static/build/islands/quality.js"

HAND_MADE = """async (module) => {
  const { summarise } = await import(module);
  const video = (id, t, bytes, w, h, fps) => ({ id, type: "outbound-rtp", kind: "video",
    timestamp: t, bytesSent: bytes, frameWidth: w, frameHeight: h, framesPerSecond: fps });
  const before = {
    pub: [video("l", 1000, 0, 320, 180, 30), video("h", 1000, 0, 1280, 720, 25),
          { id: "a", type: "outbound-rtp", kind: "audio", timestamp: 1000, bytesSent: 0 }],
    sub: new Map([["ia", { id: "ia", type: "inbound-rtp", kind: "audio", timestamp: 1000,
      packetsReceived: 100, packetsLost: 0, bytesReceived: 1000, jitter: 0.004 }]]),
  };
  const after = {
    pub: [video("l", 2000, 25000, 320, 180, 30), video("h", 2000, 250000, 1280, 720, 25),
          { id: "a", type: "outbound-rtp", kind: "audio", timestamp: 2000, bytesSent: 4000 },
          { id: "t", type: "transport", timestamp: 2000, selectedCandidatePairId: "cp" },
          { id: "cp", type: "candidate-pair", timestamp: 2000, currentRoundTripTime: 0.042 },
          { id: "x", type: "candidate-pair", timestamp: 2000, currentRoundTripTime: 0.9 }],
    sub: new Map([
      ["ia", { id: "ia", type: "inbound-rtp", kind: "audio", timestamp: 2000,
        packetsReceived: 148, packetsLost: 2, bytesReceived: 5000, jitter: 0.012 }],
      ["iv", { id: "iv", type: "inbound-rtp", kind: "video", timestamp: 2000,
        packetsReceived: 10, packetsLost: 0, bytesReceived: 10000, frameWidth: 640,
        frameHeight: 360, framesPerSecond: 24 }],
    ]),
  };
  return [summarise(after, before), summarise(after), summarise({ pub: null, sub: null })];
}"""

LOOPBACK = """async (module) => {
  const { StatsSampler } = await import(module);
  const stream = await navigator.mediaDevices.getUserMedia(
    { audio: true, video: { width: 640, height: 360 } });
  const pub = new RTCPeerConnection();
  const sub = new RTCPeerConnection();
  pub.onicecandidate = (e) => e.candidate && sub.addIceCandidate(e.candidate);
  sub.onicecandidate = (e) => e.candidate && pub.addIceCandidate(e.candidate);
  for (const track of stream.getTracks()) pub.addTrack(track, stream);
  await pub.setLocalDescription();
  await sub.setRemoteDescription(pub.localDescription);
  await sub.setLocalDescription();
  await pub.setRemoteDescription(sub.localDescription);
  const sampler = new StatsSampler();
  await new Promise((r) => setTimeout(r, 1500));
  const first = await sampler.sample(pub, sub);
  await new Promise((r) => setTimeout(r, 2500));
  const second = await sampler.sample(pub, sub);
  pub.close();
  sub.close();
  stream.getTracks().forEach((t) => t.stop());
  return [first, second];
}"""


@pytest.fixture
def page(live_server: LiveServer, browser) -> Iterator[object]:
    context = browser.new_context()
    page = context.new_page()
    page.goto(live_server.url + "/login")  # any page of the app: the module is same-origin
    yield page
    context.close()


def test_the_summary_of_hand_made_reports_is_exact(page) -> None:
    between, alone, empty = page.evaluate(HAND_MADE, MODULE)
    assert between == {
        "send_kbps": 2232.0,  # (25 000 + 250 000 + 4 000) bytes in 1 s, every layer
        "recv_kbps": 32.0,  # the audio's 4 000 bytes; the new video stream has no interval
        "loss_pct": 4.0,  # 2 lost of 50 expected
        "jitter_ms": 12.0,
        "rtt_ms": 42.0,  # the selected pair, not another one
        "fps": 24.0,
        "width": 640,
        "height": 360,
        "out_fps": 25.0,  # of the largest layer
        "out_width": 1280,
        "out_height": 720,
    }
    assert alone["send_kbps"] == 0 and alone["loss_pct"] is None and alone["rtt_ms"] == 42.0
    assert empty == {
        "send_kbps": 0,
        "recv_kbps": 0,
        "loss_pct": None,
        "jitter_ms": None,
        "rtt_ms": None,
        "fps": 0,
        "width": 0,
        "height": 0,
        "out_fps": 0,
        "out_width": 0,
        "out_height": 0,
    }


def test_a_live_loopback_call_is_summarised_from_chromiums_own_reports(page) -> None:
    _first, s = page.evaluate(LOOPBACK, MODULE)
    assert s["send_kbps"] > 30 and s["recv_kbps"] > 30, s
    assert s["loss_pct"] is not None and s["loss_pct"] < 1, s
    assert s["jitter_ms"] is not None and s["jitter_ms"] >= 0, s
    assert s["rtt_ms"] is not None and 0 <= s["rtt_ms"] < 100, s
    assert (s["width"], s["height"]) == (640, 360), s
    assert (s["out_width"], s["out_height"]) == (640, 360), s
    assert s["fps"] > 5 and s["out_fps"] > 5, s
