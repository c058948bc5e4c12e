"""Benchmark the media engines side by side: embedded SFU, Janus, aiortc MediaRelay.

Each engine runs in ONE run on the same machine, in its own process, pinned to its
own CPU, in its own network namespace (veth pair on a private /30 that routes
nowhere); the load generator runs in this process on the other CPU(s):

* publishers replay a fixed VP8 clip (1280x720, 30 fps, ~2 Mbit/s CBR, keyframe
  every second), encoded once by FFmpeg and cached in var/bench-media/; aiortc only
  packetises it, so a publisher costs no encoding;
* subscribers count the RTP they receive without decoding it (see
  benchmarks/media/clients.py), except the one per join that must show a decoded
  frame.

Measured per engine (the server's CPU is /proc/<pid>/stat utime+stime deltas of its
process, all threads, as a fraction of one core):

1. ramp: P publishers (3), then 0, 1, 2, 4, ... subscribers each receiving all P
   streams; per step a measurement window gives egress RTP packets/s (received by
   the subscribers), loss (sequence gaps per stream, and streams that stalled), the
   frame rate, frame latency, server CPU, the load generator's CPU and what else ran
   on the machine. The ramp stops when loss exceeds 0.5 %, the frame rate drops
   below 95 % or the median frame latency exceeds 50 ms (a queue building up:
   overload), when the load generator reaches 90 % of its CPU, or at the step
   cap/time budget. A step over the limits while other processes used more than a
   quarter of a core is measured once more; the second window decides.
   Max sustainable egress pps and pps per core of server CPU come from the best step
   within the limits; what bounded it (server CPU or the load generator's CPU) is
   reported with it.
2. CPU per added subscriber stream (one 720p stream to one subscriber): least-squares
   slope of server CPU against the number of forwarded streams over the sustained
   steps. MediaRelay (1 publisher, 1..4 subscribers) drops frames when an encoder
   falls behind, so its slope is taken against delivered stream-equivalents
   (streams x delivered fps / 30) up to 90 % of its core.
3. SFU-added latency: each frame's last bytes are noted when the publisher hands the
   frame to its RTP sender and looked up when the frame's last packet reaches a
   subscriber (SFUs rewrite headers, never VP8 payload bytes). The same clients
   connected directly (no SFU) give the client path's own delay; its median is
   subtracted. Reported with 1 subscriber, at a reference step (8 subscribers x 3
   streams) and at every step.
4. join -> first decoded frame: each engine has one publisher replaying the clip that
   answers a keyframe request (PLI/FIR) with the clip's next keyframe at once, as a
   browser's encoder answers with a new one; N times a new participant joins,
   subscribes, answers and decodes (aiortc's public receive path): time from `join`
   to the first decoded frame. The engines run at once and take turns, so drift in
   the machine's load hits them alike (MediaRelay separately: it decodes all along).

Machine speed: on this kind of virtual machine the same work costs more CPU time
when the host is busy, so every window also records a fixed pure-Python probe on
the server's CPU (`speed_probe_ms`) and how much CPU other processes used.

Usage: ``.venv/bin/python benchmarks/bench_media.py [--quick] [--engines ...]``
(or ``yiyun bench media``). Needs root for namespaces (without: embedded and relay
on loopback only, Janus skipped). Writes ``benchmarks/results/media.json``.
Targets (reported, not asserted): embedded egress pps/core >= 10 % of Janus's; CPU
per added subscriber <= 1/10 of MediaRelay's; SFU-added latency p99 <= Janus p99 +
5 ms; join -> first frame p50 <= 500 ms and <= 1.5x Janus's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import signal
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for _path in (str(ROOT / "src"), str(ROOT)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import aioice  # noqa: E402
import aiortc  # noqa: E402
import av  # noqa: E402
from benchmarks.media import clients, engines, procstat  # noqa: E402

from yiyun.media.engine import RoomSpec  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "media.json"
CACHE = ROOT / "var" / "bench-media"
ENGINES = ("embedded", "janus", "relay")
TARGETS = {
    "embedded_pps_per_core_vs_janus": ">= 0.10",
    "embedded_cpu_per_stream_vs_relay": "<= 0.10",
    "embedded_latency_p99_minus_janus_ms": "<= 5",
    "embedded_join_p50_ms": "<= 500",
    "embedded_join_p50_vs_janus": "<= 1.5",
}


@dataclass
class Params:
    width: int = 1280
    height: int = 720
    fps: int = 30
    kbps: int = 2000
    gop: int = 30
    clip_seconds: int = 10
    publishers: int = 3
    steps: tuple[int, ...] = (1, 2, 4, 8, 12, 16, 20, 24, 28, 32, 40, 48, 64)
    relay_steps: tuple[int, ...] = (1, 2, 3, 4)
    window_s: float = 5.0
    warmup_s: float = 2.0
    joins: int = 30
    loss_limit: float = 0.005
    min_frame_ratio: float = 0.95
    max_latency_p50_ms: float = 50.0
    retries: int = 1  # re-measurements of a step that failed while other work ran
    client_cpu_limit: float = 0.9  # of the load generator's CPUs
    latency_reference: int = 8  # subscribers
    room_bitrate_bps: int = 2_500_000
    budget_s: float = 200.0  # per engine, for the ramp
    batch: int = 8  # subscribers set up concurrently

    @classmethod
    def quick(cls) -> Params:
        return cls(
            steps=(1, 4, 8),
            relay_steps=(1, 2),
            window_s=2.5,
            warmup_s=1.0,
            joins=5,
            budget_s=40.0,
        )


def pct(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100), linear interpolation; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 3)


def slope(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Least-squares slope of ys against xs (None with fewer than 2 distinct xs)."""
    if len(set(xs)) < 2:
        return None
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx


async def sent_packets(publisher: clients.Publisher) -> int:
    """RTP packets the publisher's sender has sent (aiortc `outbound-rtp` stats)."""
    total = 0
    for sender in publisher.pc.getSenders():
        report = await sender.getStats()
        total += sum(s.packetsSent for s in report.values() if s.type == "outbound-rtp")
    return total


async def wait_until(check: Any, within: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(step)
    return True


class Load:
    """P replaying publishers and S counting subscribers in one room of one engine."""

    def __init__(
        self,
        run: engines.Running,
        clip: clients.Clip,
        params: Params,
        cpus: tuple[set[int], set[int]],
        *,
        forwarding: bool,
    ) -> None:
        self.run, self.clip, self.params = run, clip, params
        self.server_cpus, self.client_cpus = cpus
        self.forwarding = forwarding  # egress packets are the publishers' own packets
        self.log = clients.SendLog()
        self.publishers: list[clients.Publisher] = []
        self.sinks: list[clients.Sink] = []
        self.room = "bench"
        self.baseline_s = 0.0  # the client path's own median frame latency (no SFU)
        self._remb: asyncio.Task[None] | None = None

    async def start(self, publishers: int, max_subscribers: int) -> None:
        engine = self.run.engine
        await engine.create_room(
            RoomSpec(
                self.room,
                max_video_publishers=publishers + max_subscribers + 8,
                last_n=max(9, publishers),
                bitrate_bps=self.params.room_bitrate_bps,
            )
        )
        frames, gop = len(self.clip.frames), self.clip.keyframe_interval
        for i in range(publishers):
            # Seconds apart in the clip (a frame's last bytes then name one publisher's
            # frame), and keyframes spread over the keyframe interval, as independent
            # cameras are: aligned, every publisher's keyframe would hit the SFU at once.
            start = (i * frames) // publishers // gop * gop + (i * gop) // publishers
            track = clients.ReplayTrack(self.clip, self.log, start)
            pub = clients.Publisher(track, loopback=self.run.loopback)
            self.publishers.append(pub)
            pid = f"pub-{i}"
            await engine.join(self.room, pid, display_name=pid)
            await pub.accept(await engine.publish(self.room, pid, await pub.offer()))
        ok = await wait_until(
            lambda: all(p.pc.connectionState == "connected" for p in self.publishers), 20
        )
        if not ok:
            raise RuntimeError("publishers did not connect")
        self._remb = asyncio.create_task(self._send_remb())

    async def _send_remb(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            for sink in list(self.sinks):
                with contextlib.suppress(Exception):
                    await sink.send_remb(self.params.room_bitrate_bps)

    async def _add_one(self, index: int) -> clients.Sink:
        engine = self.run.engine
        # MediaRelay re-encodes: its frames cannot be matched to the publisher's
        sink = clients.Sink(self.log if self.forwarding else None, loopback=self.run.loopback)
        self.sinks.append(sink)
        pid = f"sub-{index}"
        await engine.join(self.room, pid, display_name=pid)
        offer = await engine.subscribe(self.room, pid)
        await engine.complete_subscribe(self.room, pid, await sink.answer(offer))
        return sink

    async def grow(self, count: int) -> float:
        """Add subscribers until there are `count`; seconds until all receive every stream."""
        began = time.monotonic()
        new: list[clients.Sink] = []
        while len(self.sinks) < count:
            batch = range(len(self.sinks), min(count, len(self.sinks) + self.params.batch))
            async with asyncio.timeout(60):
                new += await asyncio.gather(*(self._add_one(i) for i in batch))
        streams = len(self.publishers)
        if not await wait_until(lambda: all(len(s.streams) >= streams for s in new), 20):
            missing = [
                f"{s.pc.connectionState}/{len(s.streams)} streams"
                for s in new
                if len(s.streams) < streams
            ]
            raise RuntimeError(
                f"{len(missing)} of {len(new)} new subscribers lack media: {missing[:5]}"
            )
        return time.monotonic() - began

    async def measure(self) -> dict[str, Any]:
        """One measurement window over the current load."""
        pid, me = self.run.pid, os.getpid()
        sinks = list(self.sinks)
        for sink in sinks:
            sink.latencies.clear()
            sink.unmatched = sink.short = 0
        before = [s.snapshot() for s in sinks]
        sent0 = [await sent_packets(p) for p in self.publishers]
        cpu0, me0 = procstat.process_cpu_s(pid), procstat.process_cpu_s(me)
        m0 = procstat.MachineCpu.read()
        t0 = time.perf_counter()
        await asyncio.sleep(self.params.window_s)
        t1 = time.perf_counter()
        cpu1, me1 = procstat.process_cpu_s(pid), procstat.process_cpu_s(me)
        m1 = procstat.MachineCpu.read()
        after = [s.snapshot() for s in sinks]
        sent1 = [await sent_packets(p) for p in self.publishers]
        span = t1 - t0
        probe = procstat.speed_probe_ms(min(self.server_cpus))  # after the window

        published = sum(s1 - s0 for s0, s1 in zip(sent0, sent1, strict=True))
        per_stream = published / len(self.publishers) if self.publishers else 0
        received = expected = octets = frames = stalled = 0
        for sink, b, a in zip(sinks, before, after, strict=True):
            moving = 0
            for ssrc, (rcv, high, octs, frm) in a.items():
                r0, h0, o0, f0 = b.get(ssrc, (0, sink.streams[ssrc].first - 1, 0, 0))
                received += rcv - r0
                expected += high - h0
                octets += octs - o0
                frames += frm - f0
                moving += rcv > r0
            missing = max(0, len(self.publishers) - moving)  # streams that got nothing
            stalled += missing
            expected += round(missing * per_stream)
        streams = len(sinks) * len(self.publishers)
        loss = max(0.0, 1 - received / expected) if expected else 0.0
        # Delivery against what the publishers sent in the same window: informative
        # only (packets in flight at either edge of the window move it by a little).
        delivered = received / (published * len(sinks)) if self.forwarding and sinks else None
        latencies = [x for s in sinks for x in s.latencies]
        added = [x - self.baseline_s for x in latencies]
        server_cpu = (cpu1 - cpu0) / span
        client_cpu = (me1 - me0) / span
        softirq = m1.softirq_since(m0)
        other = m1.busy_since(m0) - server_cpu - client_cpu - softirq
        return {
            "subscribers": len(sinks),
            "streams": streams,
            "window_s": round(span, 3),
            "egress_pps": received / span,
            "egress_mbps": octets * 8 / span / 1e6,
            "published_pps": published / span,
            "fps_per_stream": frames / span / streams if streams else None,
            "loss": loss,
            "stalled_streams": stalled,
            "delivered_vs_published": delivered,
            "server_cpu": server_cpu,
            "client_cpu": client_cpu,
            "server_core_busy": m1.busy_since(m0, self.server_cpus),
            "client_cores_busy": m1.busy_since(m0, self.client_cpus),
            "softirq_cores": softirq,
            "server_core_softirq": m1.softirq_since(m0, self.server_cpus),
            "other_cpu": max(0.0, other),
            "contended": other > QUIET,
            "speed_probe_ms": probe,
            "pps_per_core": received / span / server_cpu if server_cpu > 0 else None,
            "latency_ms": {
                "frames": len(latencies),
                "unmatched": sum(s.unmatched for s in sinks),
                "short": sum(s.short for s in sinks),
                "p50": ms(pct(latencies, 50)),
                "p99": ms(pct(latencies, 99)),
                "added_p50": ms(pct(added, 50)),
                "added_p99": ms(pct(added, 99)),
            },
        }

    async def close(self) -> None:
        if self._remb is not None:
            self._remb.cancel()
        await asyncio.gather(
            *(s.close() for s in self.sinks),
            *(p.close() for p in self.publishers),
            return_exceptions=True,
        )


def sustained(step: dict[str, Any], params: Params, fps: float) -> bool:
    """Within the limits: loss <= 0.5 %, >= 95 % of the clip's frame rate, and median
    frame latency <= 50 ms (a queue building up in the SFU is overload that a 5 s
    window shows as delay before it shows as loss)."""
    ratio = (step["fps_per_stream"] or 0) / fps if step["streams"] else 1.0
    p50 = step["latency_ms"]["p50"]
    return (
        step["loss"] <= params.loss_limit
        and ratio >= params.min_frame_ratio
        and (p50 is None or p50 <= params.max_latency_p50_ms)
    )


SUMMARY_KEYS = (
    "subscribers",
    "streams",
    "egress_pps",
    "server_cpu",
    "pps_per_core",
    "client_cpu",
    "client_cores_busy",
    "other_cpu",
    "loss",
)
SATURATED = 0.9  # server CPU (of its one core) past which a step no longer fits a line


def limited_by(row: dict[str, Any], client_cores: int) -> str:
    """What most likely stopped a step: the server, or the load generator's CPU(s)."""
    if row["server_cpu"] >= 0.8:
        return "server CPU"
    if row["client_cores_busy"] >= 0.9 * client_cores:
        return "load generator CPU (ours and other processes')"
    return "unclear"


def latency_at(rows: list[dict[str, Any]], subscribers: int) -> dict[str, Any] | None:
    """Frame latency of the largest sustained step with at most `subscribers`."""
    fitting = [r for r in rows if 0 < r["subscribers"] <= subscribers]
    row = max(fitting, key=lambda r: r["subscribers"], default=None)
    return None if row is None else {"subscribers": row["subscribers"], **row["latency_ms"]}


async def ramp(
    run: engines.Running,
    clip: clients.Clip,
    params: Params,
    cpus: tuple[set[int], set[int]],
    baseline_s: float,
) -> dict[str, Any]:
    """Publishers, then more and more subscribers; one measurement window per step.

    Forwarding engines stop at the first step over the loss/frame-rate limits, or
    when the load generator's own CPU use reaches its limit. The MediaRelay baseline
    drops frames by design when an encoder falls behind (its proxies are unbuffered),
    so it ramps until its core saturates. CPU per stream is the slope of server CPU
    against delivered stream-equivalents (streams x delivered fps / clip fps), which
    for the forwarding engines is the number of streams.
    """
    relay = run.name == "relay"
    publishers = 1 if relay else params.publishers
    steps = params.relay_steps if relay else params.steps
    client_cores = len(cpus[1])
    load = Load(run, clip, params, cpus, forwarding=not relay)
    load.baseline_s = baseline_s
    began = time.monotonic()
    rows: list[dict[str, Any]] = []
    stop, bound = "step cap reached", "step cap"
    try:
        await load.start(publishers, max(steps))
        await asyncio.sleep(params.warmup_s)
        rows.append(await load.measure())
        print(_row_line(run.name, rows[-1]), flush=True)
        for count in steps:
            if time.monotonic() - began > params.budget_s:
                stop, bound = "time budget", "time budget"
                break
            try:
                setup = await load.grow(count)
            except (RuntimeError, TimeoutError) as exc:
                stop, bound = f"setup failed at {count} subscribers: {exc}", "setup"
                break
            await asyncio.sleep(params.warmup_s)
            row = await load.measure()
            for attempt in range(params.retries):
                if relay or sustained(row, params, clip.fps) or not row["contended"]:
                    break
                print(_row_line(run.name, row) + "  (contended: again)", flush=True)
                await asyncio.sleep(params.warmup_s)
                row = await load.measure()
                row["remeasured"] = attempt + 1
            row["setup_s"] = round(setup, 2)
            rows.append(row)
            print(_row_line(run.name, row), flush=True)
            if relay:
                if row["server_cpu"] >= SATURATED:
                    stop, bound = "server core saturated", "server CPU"
                    break
            elif not sustained(row, params, clip.fps):
                stop = f"over the loss/frame-rate/latency limits at {count} subscribers"
                bound = limited_by(row, client_cores)
                break
            if row["client_cpu"] >= params.client_cpu_limit * client_cores:
                stop = f"load generator at its CPU limit at {count} subscribers"
                bound = "load generator CPU (ours)"
                break
        stats = await run.engine.stats(load.room)
    finally:
        await load.close()

    for row in rows:
        row["stream_equivalents"] = (
            row["streams"] * (row["fps_per_stream"] or 0) / clip.fps if row["streams"] else 0.0
        )
    ok = [r for r in rows if sustained(r, params, clip.fps)]
    fit = [r for r in rows if r["server_cpu"] < SATURATED] if relay else ok
    per_stream = slope([r["stream_equivalents"] for r in fit], [r["server_cpu"] for r in fit])
    best = max((r for r in ok if r["streams"]), key=lambda r: r["egress_pps"], default=None)
    flowing = [r for r in fit if r["streams"]]
    stream_pps = (
        statistics.fmean(r["egress_pps"] / r["streams"] for r in flowing) if flowing else None
    )
    return {
        "publishers": publishers,
        "steps": rows,
        "stopped": stop,
        "max_sustained": None
        if best is None
        else {**{key: best[key] for key in SUMMARY_KEYS}, "bound_by": bound},
        "server_stats": stats,
        "fit_steps": [r["subscribers"] for r in fit],
        "cpu_per_stream": per_stream,
        "cpu_per_subscriber": None if per_stream is None else per_stream * publishers,
        "cpu_at_zero": rows[0]["server_cpu"] if rows else None,
        "other_cpu_median": statistics.median(r["other_cpu"] for r in rows) if rows else None,
        "contended_steps": [r["subscribers"] for r in rows if r["contended"]],
        "speed_probe_ms": [
            min(r["speed_probe_ms"] for r in rows),
            max(r["speed_probe_ms"] for r in rows),
        ]
        if rows
        else None,
        "stream_pps": stream_pps,
        "marginal_pps_per_core": (
            stream_pps / per_stream if per_stream and stream_pps and per_stream > 0 else None
        ),
        "latency_1": None if relay else latency_at(ok, 1),
        "latency_reference": None if relay else latency_at(ok, params.latency_reference),
    }


async def one_join(run: engines.Running, index: int) -> tuple[float | None, str]:
    """Join, subscribe, answer, first decoded frame: seconds (None) and the frame size/error."""
    engine, room, pid = run.engine, "join", f"viewer-{index}"
    viewer = clients.Viewer(loopback=run.loopback)
    began = time.perf_counter()
    try:
        async with asyncio.timeout(20):
            await engine.join(room, pid, display_name=pid)
            offer = await engine.subscribe(room, pid)
            await engine.complete_subscribe(room, pid, await viewer.answer(offer))
            frame = await viewer.first_frame(within=10.0)
        if frame is None:
            return None, "no frame within 10 s"
        return time.perf_counter() - began, f"{frame.width}x{frame.height}"
    except (RuntimeError, TimeoutError) as exc:
        return None, f"{type(exc).__name__}: {exc}"
    finally:
        await viewer.close()
        with contextlib.suppress(Exception):
            await engine.leave(room, pid)


async def joins(
    names: list[str],
    clip: clients.Clip,
    params: Params,
    start: Any,
) -> dict[str, dict[str, Any]]:
    """join -> first decoded frame, N times per engine, the engines taking turns.

    Every engine runs at once (fresh processes, all on the server CPU), each with one
    publisher that replays the clip and answers a keyframe request with the clip's
    next keyframe. Round i joins a new viewer to each engine in turn (the order
    rotating), so drift in what else the machine does affects every engine alike.
    """
    runs: dict[str, engines.Running] = {}
    cameras: dict[str, clients.Publisher] = {}
    took: dict[str, list[float]] = {name: [] for name in names}
    notes: dict[str, list[str]] = {name: [] for name in names}
    try:
        for name in names:
            run = runs[name] = await start(name)
            await run.engine.create_room(RoomSpec("join", bitrate_bps=params.room_bitrate_bps))
            track = clients.ReplayTrack(clip, None, on_request=True)
            camera = cameras[name] = clients.Publisher(track, loopback=run.loopback)
            await run.engine.join("join", "camera", display_name="camera")
            await camera.accept(await run.engine.publish("join", "camera", await camera.offer()))
        if not await wait_until(
            lambda: all(c.pc.connectionState == "connected" for c in cameras.values()), 20
        ):
            raise RuntimeError("a publisher did not connect")
        await asyncio.sleep(2.0)
        for i in range(params.joins):
            k = i % len(names)
            for name in names[k:] + names[:k]:
                seconds, note = await one_join(runs[name], i)
                if seconds is not None:
                    took[name].append(seconds)
                notes[name].append(note)
                await asyncio.sleep(0.2)
    finally:
        await asyncio.gather(*(c.close() for c in cameras.values()), return_exceptions=True)
        for run in runs.values():
            await run.close()
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        samples = took[name]
        track = cameras[name].track if name in cameras else None
        out[name] = {
            "joins": params.joins,
            "ok": len(samples),
            "p50_ms": ms(pct(samples, 50)),
            "p95_ms": ms(pct(samples, 95)),
            "min_ms": ms(min(samples, default=None)),
            "max_ms": ms(max(samples, default=None)),
            "frame_sizes": sorted({n for n in notes[name] if "x" in n and ":" not in n}),
            "failures": [n for n in notes[name] if ":" in n or n.startswith("no frame")],
            "keyframe_requests_at_publisher": getattr(track, "keyframe_requests", None),
            "interleaved_with": [n for n in names if n != name],
            "samples_ms": [ms(x) for x in samples],
        }
    return out


async def direct_baseline(clip: clients.Clip, params: Params) -> dict[str, Any]:
    """The client path alone: a replaying publisher connected straight to a counting sink."""
    log = clients.SendLog()
    pub = clients.Publisher(clients.ReplayTrack(clip, log), loopback=True)
    sink = clients.Sink(log, loopback=True)
    try:
        await pub.accept(await sink.answer(await pub.offer()))
        if not await wait_until(lambda: bool(sink.streams), 20):
            raise RuntimeError("the direct connection carried no media")
        await asyncio.sleep(params.warmup_s)
        sink.latencies.clear()
        await asyncio.sleep(params.window_s * 2)
        values = list(sink.latencies)
    finally:
        await asyncio.gather(pub.close(), sink.close(), return_exceptions=True)
    return {
        "frames": len(values),
        "p50_ms": ms(pct(values, 50)),
        "p99_ms": ms(pct(values, 99)),
        "p50_s": pct(values, 50) or 0.0,
    }


def _fmt(value: float | None, spec: str = ".1f", none: str = "-") -> str:
    return none if value is None else format(value, spec)


def _row_line(name: str, row: dict[str, Any]) -> str:
    lat = row["latency_ms"]
    return (
        f"  {name:9s} subs {row['subscribers']:3d} streams {row['streams']:3d} "
        f"egress {row['egress_pps']:8.0f} pps  loss {100 * row['loss']:5.2f}%  "
        f"fps {_fmt(row['fps_per_stream'])}  server {100 * row['server_cpu']:5.1f}%  "
        f"client {100 * row['client_cpu']:5.1f}%  other {100 * row['other_cpu']:5.1f}%  "
        f"lat p50/p99 {_fmt(lat['p50'], '.1f')}/{_fmt(lat['p99'], '.1f')} ms"
    )


def _get(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def compare(results: dict[str, Any]) -> dict[str, Any]:
    """The embedded engine against Janus and MediaRelay, with the targets (not asserted)."""
    emb, jan, rel = (results.get(name) or {} for name in ENGINES)
    out: dict[str, Any] = {}

    def put(name: str, value: float | None, met: bool | None, **values: Any) -> None:
        out[name] = {"target": TARGETS[name], "value": value, "met": met, **values}

    e_ppc = _get(emb, "ramp", "max_sustained", "pps_per_core")
    j_ppc = _get(jan, "ramp", "max_sustained", "pps_per_core")
    ratio = e_ppc / j_ppc if e_ppc and j_ppc else None
    e_m = _get(emb, "ramp", "marginal_pps_per_core")
    j_m = _get(jan, "ramp", "marginal_pps_per_core")
    put(
        "embedded_pps_per_core_vs_janus",
        ratio,
        None if ratio is None else ratio >= 0.10,
        embedded=e_ppc,
        janus=j_ppc,
        marginal_ratio=e_m / j_m if e_m and j_m else None,
    )
    e_s, r_s = _get(emb, "ramp", "cpu_per_stream"), _get(rel, "ramp", "cpu_per_stream")
    ratio = e_s / r_s if e_s is not None and r_s else None
    put(
        "embedded_cpu_per_stream_vs_relay",
        ratio,
        None if ratio is None else ratio <= 0.10,
        embedded=e_s,
        relay=r_s,
    )
    e_l = _get(emb, "ramp", "latency_reference", "added_p99")
    j_l = _get(jan, "ramp", "latency_reference", "added_p99")
    diff = e_l - j_l if e_l is not None and j_l is not None else None
    e_1 = _get(emb, "ramp", "latency_1", "added_p99")
    j_1 = _get(jan, "ramp", "latency_1", "added_p99")
    put(
        "embedded_latency_p99_minus_janus_ms",
        diff,
        None if diff is None else diff <= 5,
        embedded=e_l,
        janus=j_l,
        at_subscribers=_get(emb, "ramp", "latency_reference", "subscribers"),
        at_one_subscriber=e_1 - j_1 if e_1 is not None and j_1 is not None else None,
    )
    e_j, j_j = _get(emb, "join", "p50_ms"), _get(jan, "join", "p50_ms")
    put("embedded_join_p50_ms", e_j, None if e_j is None else e_j <= 500)
    ratio = e_j / j_j if e_j and j_j else None
    put(
        "embedded_join_p50_vs_janus",
        ratio,
        None if ratio is None else ratio <= 1.5,
        embedded=e_j,
        janus=j_j,
    )
    return out


def _lat(value: dict[str, Any] | None) -> str:
    if not value:
        return "-"
    return f"{_fmt(value['added_p50'])}/{_fmt(value['added_p99'])} ({value['subscribers']})"


def print_summary(report: dict[str, Any]) -> None:
    print(
        "\nengine    max egress pps (subs)  server  pps/core  marginal  CPU/stream  "
        "SFU-added latency p50/p99 ms (subs)   join p50/p95 ms"
    )
    for name in ENGINES:
        res = report["engines"].get(name)
        if res is None:
            continue
        if "ramp" not in res:
            print(f"{name:9s} {res.get('skipped') or res.get('error')}")
            continue
        r, j = res["ramp"], res.get("join") or {}
        best = r.get("max_sustained") or {}
        egress = f"{_fmt(best.get('egress_pps'), '.0f')} ({best.get('subscribers', '-')})"
        cpu = best.get("server_cpu")
        cps = r.get("cpu_per_stream")
        print(
            f"{name:9s} {egress:>21s}  {_fmt(None if cpu is None else 100 * cpu, '.0f'):>5s}%"
            f"  {_fmt(best.get('pps_per_core'), '.0f'):>8s}  "
            f"{_fmt(r.get('marginal_pps_per_core'), '.0f'):>8s}  "
            f"{_fmt(None if cps is None else 100 * cps, '.2f'):>8s} %  "
            f"{_lat(r.get('latency_1')):>17s} {_lat(r.get('latency_reference')):>19s}   "
            f"{_fmt(j.get('p50_ms'), '.0f')}/{_fmt(j.get('p95_ms'), '.0f')}"
        )
        if best:
            print(f"{'':9s} max bound by: {best.get('bound_by')}; ramp stopped: {r['stopped']}")
        other, probe = r.get("other_cpu_median"), r.get("speed_probe_ms")
        if other is not None and probe:
            print(
                f"{'':9s} other work on the machine during the ramp: median {other:.2f} cores; "
                f"speed probe {probe[0]:.0f}-{probe[1]:.0f} ms"
            )
    print(
        "pps/core: egress packets/s per core of server CPU at the max sustained step; "
        "marginal: per stream,\nfrom the slope; CPU/stream: % of a core per added 720p "
        "stream (a subscriber receives one per publisher)."
    )
    print("\ntarget                                   value     target   met")
    for name, t in report["targets"].items():
        value = t["value"]
        shown = "-" if value is None else f"{value:.3f}"
        met = {True: "yes", False: "NO", None: "n/a"}[t["met"]]
        print(f"{name:38s} {shown:>9s}  {t['target']:>8s}   {met}")


async def run_all(args: argparse.Namespace, params: Params) -> dict[str, Any]:
    server_cpus, client_cpus = cpu_split(args.server_cpu)
    os.sched_setaffinity(0, client_cpus)  # threads started from here on inherit it
    net = choose_net(args.net)
    wanted = [e.strip() for e in args.engines.split(",") if e.strip()]
    CACHE.mkdir(parents=True, exist_ok=True)
    clip_path = clients.make_clip(
        CACHE / f"clip-{params.width}x{params.height}-{params.fps}-{params.kbps}k.ivf",
        width=params.width,
        height=params.height,
        fps=params.fps,
        kbps=params.kbps,
        seconds=params.clip_seconds,
        gop=params.gop,
    )
    clip = clients.Clip.load(clip_path)
    print(
        f"clip: {clip.width}x{clip.height} VP8, {clip.fps:.0f} fps, {clip.kbps:.0f} kbit/s, "
        f"{len(clip.frames)} frames, keyframe every {clip.keyframe_interval}"
    )
    print(f"server CPU(s) {sorted(server_cpus)}, load generator CPU(s) {sorted(client_cpus)}, "
          f"network: {net}")  # fmt: skip
    baseline = await direct_baseline(clip, params)
    print(f"direct (no SFU) frame latency p50/p99: {baseline['p50_ms']}/{baseline['p99_ms']} ms")
    results: dict[str, Any] = {}
    available: list[str] = []
    for name in wanted:
        why = engines.janus_unavailable() if name == "janus" else None
        if name == "janus" and net == "loopback":
            why = why or "Janus media needs a network namespace"
        if why:
            results[name] = {"skipped": why}
            print(f"{name}: skipped ({why})")
        else:
            available.append(name)

    async def start(name: str) -> engines.Running:
        return await engines.start(name, net=net, server_cpus=server_cpus, nice=args.nice)

    for name in available:
        print(f"{name}:", flush=True)
        entry = results[name] = {"net": net}
        try:
            run = await start(name)
        except Exception as exc:
            entry["error"] = f"{type(exc).__name__}: {exc}"
            print(f"  {name} did not start: {entry['error']}")
            continue
        entry["server_process"] = _comm(run.pid)
        try:
            entry["ramp"] = await ramp(
                run, clip, params, (server_cpus, client_cpus), baseline["p50_s"]
            )
        except Exception as exc:
            entry["error"] = f"{type(exc).__name__}: {exc}"
            print(f"  {name} failed: {entry['error']}")
        finally:
            await run.close()
    # joins: the SFUs together, taking turns; MediaRelay (which decodes all the time) alone
    for group in ([n for n in available if n != "relay"], [n for n in available if n == "relay"]):
        if not group:
            continue
        print(f"joins ({', '.join(group)}, {params.joins} each):", flush=True)
        try:
            for name, res in (await joins(group, clip, params, start)).items():
                results[name]["join"] = res
                print(f"  {name:9s} join -> first frame p50/p95 {res['p50_ms']}/{res['p95_ms']} "
                      f"ms ({res['ok']}/{res['joins']} ok)")  # fmt: skip
        except Exception as exc:
            for name in group:
                results[name]["join_error"] = f"{type(exc).__name__}: {exc}"
            print(f"  joins failed: {type(exc).__name__}: {exc}")
    return {
        "clip": {
            "width": clip.width,
            "height": clip.height,
            "fps": clip.fps,
            "kbps": round(clip.kbps, 1),
            "frames": len(clip.frames),
            "keyframe_interval_frames": clip.keyframe_interval,
            "codec": "VP8 (libvpx, CBR, FFmpeg testsrc2 + temporal noise)",
        },
        "isolation": {
            "server_cpus": sorted(server_cpus),
            "client_cpus": sorted(client_cpus),
            "net": net,
            "nice": args.nice,
        },
        "direct_baseline_latency_ms": {k: v for k, v in baseline.items() if k != "p50_s"},
        "engines": results,
    }


def _comm(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/comm").read_text().strip()
    return "?"


def cpu_split(server_cpu: int | None) -> tuple[set[int], set[int]]:
    """The server gets one CPU (the last by default), the load generator the others."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return set(cpus), set(cpus)
    server = cpus[-1] if server_cpu is None else server_cpu
    return {server}, {c for c in cpus if c != server}


def choose_net(net: str) -> str:
    if net == "auto":
        return "loopback" if engines.netns_unavailable() else "netns"
    if net == "netns" and engines.netns_unavailable():
        raise SystemExit(f"--net netns: {engines.netns_unavailable()}")
    return net


QUIET = 0.25  # cores busy with other work, above which a measurement is "contended"


def wait_quiet(limit_s: float) -> float:
    """Cores busy before the run (5 s samples); waits up to `limit_s` for a quiet machine.

    Other processes on the same cores change what is measured (a starved server
    batches packets and looks cheaper per packet; latency grows), so the run records
    how busy the machine was, and can wait for it to calm down first.
    """
    deadline = time.monotonic() + limit_s
    while True:
        before = procstat.MachineCpu.read()
        time.sleep(5.0 if limit_s > 0 else 2.0)
        busy = procstat.MachineCpu.read().busy_since(before)
        if busy <= QUIET or time.monotonic() >= deadline:
            break
        print(f"machine busy ({busy:.2f} cores used by other work); waiting", flush=True)
    if busy > QUIET:
        print(f"warning: {busy:.2f} cores busy with other work at the start", flush=True)
    return round(busy, 3)


def interrupted(signum: int, frame: object) -> None:
    """Ctrl-C or SIGTERM: stop the servers and drop the namespaces now, then exit.

    Unwinding the event loop first could wait on peer connections and threads that
    are mid-handshake; the cleanup is synchronous and bounded, so it goes first.
    """
    print(f"\n{signal.Signals(signum).name}: stopping the servers", file=sys.stderr, flush=True)
    engines.cleanup()
    sys.stdout.flush()
    os._exit(128 + signum)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark, print a table and write the JSON results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run (< ~2 min)")
    parser.add_argument("--engines", default=",".join(ENGINES), help="comma-separated subset")
    parser.add_argument("--output", type=Path, default=RESULTS, help="JSON results file")
    parser.add_argument("--net", choices=["auto", "netns", "loopback"], default="auto")
    parser.add_argument("--server-cpu", type=int, default=None, help="CPU the server runs on")
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="niceness of the servers and the load generator (e.g. -10 on a shared machine; "
        "negative needs root)",
    )
    parser.add_argument("--publishers", type=int, default=None)
    parser.add_argument("--steps", default=None, help="subscriber counts, e.g. 1,2,4")
    parser.add_argument("--joins", type=int, default=None)
    parser.add_argument("--window", type=float, default=None, help="seconds per measurement")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait up to this long for other work on the machine to stop first",
    )
    parser.add_argument("--resolution", default=None, help="of the clip, e.g. 640x480")
    parser.add_argument("--kbps", type=int, default=None, help="bitrate of the clip")
    args = parser.parse_args(argv)
    params = Params.quick() if args.quick else Params()
    if args.publishers:
        params.publishers = args.publishers
    if args.steps:
        params.steps = tuple(int(s) for s in args.steps.split(","))
    if args.joins is not None:
        params.joins = args.joins
    if args.window:
        params.window_s = args.window
    if args.resolution:
        params.width, params.height = (int(v) for v in args.resolution.split("x"))
    if args.kbps:
        params.kbps = args.kbps

    if args.nice:
        try:
            os.setpriority(os.PRIO_PROCESS, 0, args.nice)  # before any thread: inherited
        except PermissionError:
            raise SystemExit(f"--nice {args.nice}: not permitted (negative needs root)") from None
    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, interrupted)
    quiet = wait_quiet(args.wait_quiet)
    began = time.monotonic()
    load_start = os.getloadavg()
    try:
        body = asyncio.run(run_all(args, params))
    finally:
        engines.cleanup()
    report: dict[str, Any] = {
        "generated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "quick": args.quick,
        "duration_s": round(time.monotonic() - began, 1),
        "load_average_start": load_start,
        "busy_cores_before_start": quiet,
        "load_average_end": os.getloadavg(),
        "machine": {
            "cpu_model": procstat.cpu_model(),
            "cores": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "aiortc": aiortc.__version__,
            "aioice": aioice.__version__,
            "av": av.__version__,
            "janus": procstat.janus_version(),
            "ffmpeg": procstat.ffmpeg_version(),
        },
        "parameters": asdict(params),
        **body,
    }
    report["targets"] = compare(report["engines"])
    print_summary(report)
    print(f"load average (1, 5, 15 min) at start {load_start}, at end {report['load_average_end']}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
