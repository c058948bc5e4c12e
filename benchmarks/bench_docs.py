"""Benchmark real-time documents: 30 editors × 10 updates/s on one whiteboard.

The app runs in its own process (uvicorn, SQLite in WAL mode, in-process bus), the
editors in this one, each on its own WebSocket with its own pycrdt document, making
realistic edits: 70 % move one of their sticky notes (the whole element replaced),
30 % add a pen stroke of 20 points. Measured:

* server apply + store + broadcast per update (from the edit's arrival to the last
  socket it was passed on to), p50/p95/p99, timed inside the server;
* the same seen by clients (send → arrival at every other editor), which adds the
  load generator's own delays;
* updates/s the server applied, and how many commits carried them (group commit);
* storage per editing hour: what the append log would hold without compaction (all
  update bytes) against what is stored after the run with compaction.

Usage: ``.venv/bin/python benchmarks/bench_docs.py [--editors 30] [--rate 10]
[--seconds 30]`` or ``yiyun bench docs``. Writes ``benchmarks/results/docs.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import resource
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "benchmarks" / "results" / "docs.json"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 90) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the server process exited")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError("the server did not start")


def serve(db_url: str, tmp: str, port: int, out: str) -> None:
    """Server process: the app with edit timings switched on; dumps them on SIGTERM."""
    import uvicorn
    from tests.collab.support import settings_for

    settings = settings_for(Path(tmp), db_url)
    from yiyun.web.app import create_app

    app: Any = create_app(settings, configure_logs=False)
    app.state.collab.timings = []
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None))

    async def main() -> None:
        await server.serve()

    async def dump() -> None:
        manager = app.state.collab
        usage = resource.getrusage(resource.RUSAGE_SELF)
        Path(out).write_text(  # noqa: ASYNC240 - once, at exit
            json.dumps(
                {
                    "timings": manager.timings,
                    "commits": manager.writer.commits,
                    "rows": manager.writer.rows,
                    "cpu_seconds": usage.ru_utime + usage.ru_stime - baseline[0],
                }
            )
        )

    original = signal.getsignal(signal.SIGTERM)

    def on_term(*_: Any) -> None:
        asyncio.get_event_loop().create_task(dump()).add_done_callback(
            lambda _t: setattr(server, "should_exit", True)
        )

    baseline = [0.0]

    async def run() -> None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, on_term)
        task = asyncio.create_task(main())
        while not server.started:  # noqa: ASYNC110 - uvicorn exposes only a flag
            await asyncio.sleep(0.05)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        baseline[0] = usage.ru_utime + usage.ru_stime
        await task

    del original
    asyncio.run(run())


async def editors(url: str, token: str, count: int, rate: float, seconds: float) -> dict[str, Any]:
    from pycrdt import Doc, Map, create_sync_message, create_update_message
    from websockets.asyncio.client import connect

    sent_at: dict[bytes, float] = {}
    latencies: list[float] = []
    sent_bytes = 0
    sent_updates = 0
    stop = time.monotonic() + seconds

    async def editor(n: int) -> None:
        nonlocal sent_bytes, sent_updates
        doc: Doc[Any] = Doc()
        elements = doc.get("elements", type=Map)
        updates: list[bytes] = []
        doc.observe(lambda event: updates.append(event.update))
        rng = random.Random(n)
        async with connect(f"{url}?token={token}", max_size=None) as ws:
            await ws.send(create_sync_message(doc))

            async def reader() -> None:
                async for message in ws:
                    if isinstance(message, bytes):
                        t = sent_at.get(message)
                        if t is not None:
                            latencies.append(time.perf_counter() - t)

            task = asyncio.create_task(reader())
            await asyncio.sleep(0.5)
            period = 1.0 / rate
            next_at = time.monotonic() + rng.random() * period
            i = 0
            while time.monotonic() < stop:
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
                next_at += period
                i += 1
                if rng.random() < 0.7:
                    note = f"note-{n}-{rng.randrange(5)}"
                    elements[note] = {
                        "id": note,
                        "type": "note",
                        "page": "p1",
                        "x": rng.uniform(0, 2000),
                        "y": rng.uniform(0, 1200),
                        "w": 160.0,
                        "h": 120.0,
                        "color": "#fde68a",
                        "text": "待复查：右下肺结节",
                        "author": n,
                    }
                else:
                    stroke = f"pen-{n}-{i}"
                    x, y = rng.uniform(0, 2000), rng.uniform(0, 1200)
                    points: list[float] = []
                    for _ in range(20):
                        x += rng.uniform(-8, 8)
                        y += rng.uniform(-8, 8)
                        points += [round(x, 1), round(y, 1)]
                    elements[stroke] = {
                        "id": stroke,
                        "type": "pen",
                        "page": "p1",
                        "points": points,
                        "color": "#1d4ed8",
                        "width": 3.0,
                        "author": n,
                    }
                update = updates.pop()
                message = create_update_message(update)
                sent_at[message] = time.perf_counter()
                sent_bytes += len(update)
                sent_updates += 1
                await ws.send(message)
            await asyncio.sleep(1.0)
            task.cancel()

    await asyncio.gather(*(editor(n) for n in range(count)))
    return {
        "client_latencies": latencies,
        "sent_bytes": sent_bytes,
        "sent_updates": sent_updates,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--editors", type=int, default=30)
    parser.add_argument("--rate", type=float, default=10.0, help="updates/s per editor")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--serve", nargs=4, metavar=("DB", "TMP", "PORT", "OUT"))
    args = parser.parse_args()
    if args.serve:
        db, tmp, port, out = args.serve
        serve(db, tmp, int(port), out)
        return

    from tests.collab.support import prepare
    from tests.services import free_port

    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        setup = prepare(tmp)
        port = free_port()
        out = tmp / "server.json"
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", setup.db_url, str(tmp), str(port), str(out)],
            env=os.environ,
        )
        try:
            wait_for_port(port, server)
            url = f"ws://127.0.0.1:{port}/ws/docs/whiteboard/{setup.meeting_code}"
            started = time.monotonic()
            client = asyncio.run(
                editors(url, setup.world.tokens["alice"], args.editors, args.rate, args.seconds)
            )
            elapsed = time.monotonic() - started - 1.5
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(30)
        data = json.loads(out.read_text())
        db_file = setup.db_url.split("///", 1)[1]
        with sqlite3.connect(db_file) as db:
            stored = db.execute(
                "SELECT (SELECT COALESCE(SUM(LENGTH(snapshot)), 0) FROM collab_doc)"
                " + (SELECT COALESCE(SUM(LENGTH(data)), 0) FROM collab_update)"
            ).fetchone()[0]
        load = os.getloadavg()[0]
    timings = [t * 1000 for t in data["timings"]]
    lat = [t * 1000 for t in client["client_latencies"]]
    hour = 3600 / args.seconds
    result = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "database": "sqlite (WAL)",
        "editors": args.editors,
        "rate_per_editor": args.rate,
        "seconds": args.seconds,
        "updates_applied": len(timings),
        "ops_per_second": round(len(timings) / elapsed, 1),
        "server_apply_broadcast_ms": {
            "p50": round(pct(timings, 0.5), 2),
            "p95": round(pct(timings, 0.95), 2),
            "p99": round(pct(timings, 0.99), 2),
            "mean": round(statistics.fmean(timings), 2) if timings else None,
        },
        "client_observed_ms": {
            "p50": round(pct(lat, 0.5), 2),
            "p95": round(pct(lat, 0.95), 2),
            "deliveries": len(lat),
        },
        "commits": data["commits"],
        "rows_per_commit": round(data["rows"] / max(1, data["commits"]), 1),
        "storage_per_editing_hour_mb": {
            "log_without_compaction": round(client["sent_bytes"] * hour / 1e6, 2),
            "stored_with_compaction": round(stored * hour / 1e6, 2),
        },
        "server_cpu_ms_per_update": round(data["cpu_seconds"] * 1000 / max(1, len(timings)), 3),
        "updates_per_cpu_second": round(len(timings) / max(1e-9, data["cpu_seconds"]), 1),
        "load_average_1min": round(load, 2),
        "goal_p95_ms": 20,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
