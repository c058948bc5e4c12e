"""The request path against a bare FastAPI route, side by side on this machine.

Seeds the demo consortium (staff and patients) into a fresh SQLite file or a fresh
PostgreSQL database, starts the app with uvicorn exactly as a deployment would
(`yiyun.web.asgi:app`, default settings, access log and audit on) and, in a second
process, a bare FastAPI route returning a 4-field pydantic model
(`benchmarks/bare_app.py`). A load generator then drives, alternately and round
after round:

    bare          GET /items/5 on the bare app
    healthz       GET /healthz (our middleware, no database)
    institution   GET /api/v1/institutions/{own} as a bearer-token doctor (scoped read)
    patient       GET /api/v1/patients/{id} as that doctor (scoped and audited)

Absolute figures move 20-30 % between runs on a shared 2-core machine, so each
route is reported as a ratio to the bare route of the same round (median over the
rounds). Goals: institution >= 1/4 with p99 < 20 ms, patient >= 1/6.

The load generator is wrk (Debian package `wrk`) when installed, else a small
asyncio HTTP/1.1 keep-alive client in this process (which itself saturates sooner,
so it understates the bare route and overstates the ratios; the output says which
ran).

Usage: ``.venv/bin/python benchmarks/bench_api.py [--db sqlite|postgresql]
[--duration 8] [--connections 16] [--rounds 3] [--workers 1]`` or ``yiyun bench api``.
Writes ``benchmarks/results/api-<db>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
GOALS = {"institution": (1 / 4, 20.0), "patient": (1 / 6, None)}
# The app under test runs as `dev`, not `demo`: the two differ only in the demo's
# simulated terminals, whose heartbeats (written by the app process itself, about an
# eighth of a core) are not part of the request path nor of a deployment.
APP_ENV = "dev"


@dataclass
class Sample:
    target: str
    round: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int


# --- data ------------------------------------------------------------------------------


async def _seed(settings: Any, per_centre: int) -> dict[str, Any]:
    from sqlalchemy import select

    from yiyun.auth import service as auth_service
    from yiyun.core.db import create_engine, session_factory, transaction
    from yiyun.demo.seed import seed
    from yiyun.records.models import Patient

    engine = create_engine(settings.db.url)
    try:
        factory = session_factory(engine)
        await seed(factory, settings, patients_per_centre=per_centre)
        async with transaction(factory) as session:
            issued = await auth_service.create_api_token(
                session=session, username="doctor", name="bench", days=1
            )
            institution_id = issued.user.institution_id
            patient_id = await session.scalar(
                select(Patient.id)
                .where(Patient.home_institution_id == institution_id)
                .order_by(Patient.id)
                .limit(1)
            )
        return {"token": issued.token, "institution_id": institution_id, "patient_id": patient_id}
    finally:
        await engine.dispose()


def prepare(db: str, data_dir: Path, per_centre: int) -> tuple[str, dict[str, Any], str | None]:
    """Create the database, migrate and seed it; return its URL, the fixture ids, the db name."""
    from yiyun.auth import passwords
    from yiyun.core import migrate
    from yiyun.settings import DbSettings, Settings, with_secrets

    dbname = None
    if db == "sqlite":
        url = f"sqlite+aiosqlite:///{data_dir}/yiyun.db"
    else:
        import asyncpg

        dbname = f"yiyun_bench_{os.getpid()}"

        async def create() -> None:
            conn = await asyncpg.connect(PG_ADMIN)
            try:
                await conn.execute(f'CREATE DATABASE "{dbname}"')
            finally:
                await conn.close()

        asyncio.run(create())
        url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{dbname}"
    settings = with_secrets(Settings(env="demo", data_dir=data_dir, db=DbSettings(url=url)))
    passwords.configure(time_cost=1, memory_kib=1024)  # demo staff passwords only
    migrate.upgrade(url)
    fixture = asyncio.run(_seed(settings, per_centre))
    return url, fixture, dbname


def drop_database(dbname: str) -> None:
    import asyncpg

    async def drop() -> None:
        conn = await asyncpg.connect(PG_ADMIN)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(drop())


# --- servers ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(app: str, port: int, env: dict[str, str], log: Path, workers: int) -> Any:
    argv = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--no-access-log", "--log-level", "warning", "--workers", str(workers)]
    with log.open("wb") as out:
        return subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def wait_ready(url: str, proc: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server for {url} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - loopback
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} not ready after {timeout:.0f} s")


def stop_server(proc: Any) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


# --- load generators -------------------------------------------------------------------

_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not match:
        raise ValueError(f"unexpected wrk latency {text!r}")
    return float(match.group(1)) * _UNIT_MS[match.group(2)]


def run_wrk(url: str, headers: dict[str, str], seconds: float, connections: int) -> dict[str, Any]:
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency"]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    out = subprocess.run([*argv, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    lat = dict(re.findall(r"^\s*(50|99)(?:\.0+)?%\s+(\S+)\s*$", out, re.MULTILINE))
    if "99" not in lat:
        raise SystemExit(f"unexpected wrk output:\n{out}")
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = int(bad.group(1)) if bad else 0
    errors += sum(int(g) for g in sock.groups()) if sock else 0
    return {
        "rps": rps,
        "p50_ms": _ms(lat["50"]),
        "p99_ms": _ms(lat["99"]),
        "errors": errors,
        "requests": total,
    }


async def _python_load(
    host: str, port: int, request: bytes, seconds: float, connections: int
) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - started)
                if status >= 400:
                    errors += 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    n = len(latencies)
    return {
        "rps": n / elapsed,
        "p50_ms": latencies[n // 2] * 1000 if n else 0.0,
        "p99_ms": latencies[min(n - 1, int(n * 0.99))] * 1000 if n else 0.0,
        "errors": errors,
        "requests": n,
    }


def run_python(
    url: str, headers: dict[str, str], seconds: float, connections: int
) -> dict[str, Any]:
    match = re.fullmatch(r"http://([^:/]+):(\d+)(/.*)", url)
    if not match:
        raise ValueError(url)
    host, port, path = match.group(1), int(match.group(2)), match.group(3)
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    return asyncio.run(_python_load(host, port, request, seconds, connections))


# --- report ----------------------------------------------------------------------------


def summarise(samples: list[Sample]) -> dict[str, dict[str, float]]:
    bare = {s.round: s.rps for s in samples if s.target == "bare"}
    out: dict[str, dict[str, float]] = {}
    for target in dict.fromkeys(s.target for s in samples):
        mine = [s for s in samples if s.target == target]
        out[target] = {
            "rps": statistics.median(s.rps for s in mine),
            "p50_ms": statistics.median(s.p50_ms for s in mine),
            "p99_ms": statistics.median(s.p99_ms for s in mine),
            "ratio": statistics.median(s.rps / bare[s.round] for s in mine),
            "errors": sum(s.errors for s in mine),
        }
    return out


def print_table(summary: dict[str, dict[str, float]], title: str) -> None:
    print(f"\n{title}")
    head = ("route", "req/s", "p50 ms", "p99 ms", "x bare", "errors")
    print(f"{head[0]:<12} {head[1]:>9} {head[2]:>8} {head[3]:>8} {head[4]:>8} {head[5]:>7}  goal")
    for target, row in summary.items():
        goal = ""
        if target in GOALS:
            ratio, p99 = GOALS[target]
            met = row["ratio"] >= ratio and (p99 is None or row["p99_ms"] < p99)
            goal = f">= 1/{round(1 / ratio)}" + (f", p99 < {p99:g} ms" if p99 else "")
            goal += "  met" if met else "  NOT met"
        print(
            f"{target:<12} {row['rps']:>9.0f} {row['p50_ms']:>8.2f} {row['p99_ms']:>8.2f} "
            f"{'1/' + format(1 / row['ratio'], '.1f') if row['ratio'] else '-':>8} "
            f"{int(row['errors']):>7}  {goal}"
        )


def cpu_main(args: argparse.Namespace) -> None:
    """`--cpu N`: CPU time per request in process (see `bench_api_cpu.py`)."""
    sys.path.insert(0, str(ROOT))
    from benchmarks import bench_api_cpu

    data_dir = Path(tempfile.mkdtemp(prefix="yiyun-bench-api-"))
    print(f"seeding the demo consortium ({args.db}) ...", flush=True)
    url, fixture, dbname = prepare(args.db, data_dir, args.patients_per_centre)
    try:
        summary = bench_api_cpu.run(url, fixture, data_dir, args.cpu, args.connections, args.rounds)
    finally:
        if dbname:
            drop_database(dbname)
        shutil.rmtree(data_dir, ignore_errors=True)
    output = args.output or RESULTS / f"api-cpu-{args.db}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(
        json.dumps(
            {
                "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                "settings": {k: str(v) for k, v in vars(args).items()},
                "summary": summary,
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    print(f"\nwritten to {output}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per measurement")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers of the app")
    parser.add_argument("--bus-url", default=None, help="e.g. redis://127.0.0.1:6379/14")
    parser.add_argument("--patients-per-centre", type=int, default=5)
    parser.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--only", default=None, help="comma-separated subset of the routes")
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument(
        "--cpu",
        type=int,
        default=0,
        metavar="N",
        help="instead: CPU ms per request in process, N requests per route and round",
    )
    args = parser.parse_args()
    if args.cpu:
        cpu_main(args)
        return

    loadgen = args.loadgen
    if loadgen == "auto":
        loadgen = "wrk" if shutil.which("wrk") else "python"
    drive = run_wrk if loadgen == "wrk" else run_python

    data_dir = Path(tempfile.mkdtemp(prefix="yiyun-bench-api-"))
    print(f"seeding the demo consortium ({args.db}) ...", flush=True)
    url, fixture, dbname = prepare(args.db, data_dir, args.patients_per_centre)
    env = {
        **os.environ,
        "YIYUN_ENV": APP_ENV,
        "YIYUN_DATA_DIR": str(data_dir),
        "YIYUN_DB__URL": url,
        "PYTHONPATH": str(ROOT / "src"),
    }
    if args.bus_url:
        env["YIYUN_BUS__URL"] = args.bus_url
    app_port, bare_port = free_port(), free_port()
    app = start_server("yiyun.web.asgi:app", app_port, env, data_dir / "app.log", args.workers)
    bare = start_server("benchmarks.bare_app:app", bare_port, env, data_dir / "bare.log", 1)
    auth = {"Authorization": f"Bearer {fixture['token']}"}
    base = f"http://127.0.0.1:{app_port}"
    targets = {
        "bare": (f"http://127.0.0.1:{bare_port}/items/5", {}),
        "healthz": (f"{base}/healthz", {}),
        "institution": (f"{base}/api/v1/institutions/{fixture['institution_id']}", auth),
        "patient": (f"{base}/api/v1/patients/{fixture['patient_id']}", auth),
    }
    if args.only:
        keep = {"bare", *args.only.split(",")}
        targets = {k: v for k, v in targets.items() if k in keep}
    samples: list[Sample] = []
    try:
        wait_ready(f"{base}/healthz", app)
        wait_ready(targets["bare"][0], bare)
        for name, (target, headers) in targets.items():  # warm up and check access
            request = urllib.request.Request(target, headers=headers)  # noqa: S310
            with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310
                if resp.status != 200:
                    raise SystemExit(f"{name}: HTTP {resp.status}")
            drive(target, headers, 1.0, args.connections)
        for n in range(1, args.rounds + 1):
            for name, (target, headers) in targets.items():
                result = drive(target, headers, args.duration, args.connections)
                samples.append(Sample(name, n, **result))
                print(
                    f"round {n} {name:<12} {result['rps']:>8.0f} req/s  "
                    f"p50 {result['p50_ms']:.2f} ms  p99 {result['p99_ms']:.2f} ms",
                    flush=True,
                )
    finally:
        stop_server(app)
        stop_server(bare)
        if dbname:
            drop_database(dbname)
        shutil.rmtree(data_dir, ignore_errors=True)
    summary = summarise(samples)
    title = (
        f"{args.db}, {args.workers} app worker(s), {loadgen} 1 thread x {args.connections} "
        f"connections, {args.duration:g} s x {args.rounds} rounds, {os.cpu_count()} cores"
    )
    print_table(summary, title)
    output = args.output or RESULTS / f"api-{args.db}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(
        json.dumps(
            {
                "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                "settings": {k: str(v) for k, v in vars(args).items()} | {"loadgen": loadgen},
                "summary": summary,
                "samples": [asdict(s) for s in samples],
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    print(f"\nwritten to {output}")


if __name__ == "__main__":
    main()
