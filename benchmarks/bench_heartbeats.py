"""Benchmark heartbeat ingestion: how many heartbeats one core takes, for a fleet of
2,000 terminals that each report every 10 s (200 heartbeats/s to sustain).

A fresh database (SQLite file or a PostgreSQL database of its own) gets 94 sites with
2,000 enrolled terminals. Two paths are timed in this one process (one core):

* `http`: `POST /api/v1/devices/heartbeat` through the whole app (middleware, device
  authentication, rate limiter, replay check, health row, terminal state) over an
  in-process ASGI transport, `--concurrency` requests in flight;
* `service`: the same `devices.authenticate` + `devices.heartbeat` in one transaction each,
  without HTTP.

Each terminal sends in turn (round robin), as fast as the path allows, for `--seconds`.
Reported: heartbeats per second of wall time and per CPU-second of this process (the
database server's CPU is outside it for PostgreSQL, and listed), p50/p95 latency, and
the headroom over 200/s. The flood limit is raised for the run (a terminal sends far
more often than every 10 s here); its check stays in the path.

Usage: ``.venv/bin/python benchmarks/bench_heartbeats.py [--db sqlite|postgresql]
[--seconds 10] [--terminals 2000]``; writes ``benchmarks/results/heartbeats-<db>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
RESULTS = ROOT / "benchmarks" / "results"
SITES = 94
NEEDED_PER_SECOND = 200.0  # 2,000 terminals every 10 s


async def _create_pg(dbname: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(f'CREATE DATABASE "{dbname}"')
    finally:
        await conn.close()


async def _drop_pg(dbname: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
    finally:
        await conn.close()


async def _seed(factory: Any, terminals: int) -> None:
    from yiyun.core.db import transaction
    from yiyun.org.enums import InstitutionKind, InstitutionLevel, TerminalKind
    from yiyun.org.models import Institution, Region, Terminal

    async with transaction(factory) as session:
        region = Region(code="BENCH", name="基准区", name_en="Bench district")
        session.add(region)
        await session.flush()
        sites = [
            Institution(
                code=f"S{n:03d}", name=f"站点{n}", name_en=f"Site {n}",
                kind=InstitutionKind.COMMUNITY_HEALTH_CENTRE, level=InstitutionLevel.PRIMARY,
                region_id=region.id,
            )
            for n in range(SITES)
        ]  # fmt: skip
        session.add_all(sites)
        await session.flush()
        session.add_all(
            Terminal(
                institution_id=sites[n % SITES].id, code=f"T-{n:05d}", name=f"终端{n}",
                kind=TerminalKind.ROOM_SYSTEM,
            )
            for n in range(terminals)
        )  # fmt: skip


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _timed(
    name: str, seconds: float, send: Any, fleet: Any, concurrency: int
) -> dict[str, Any]:
    latencies: list[float] = []
    stop = time.perf_counter() + seconds
    cursor = 0
    errors = 0

    async def worker() -> None:
        nonlocal cursor, errors
        while time.perf_counter() < stop:
            sim = fleet.terminals[cursor % len(fleet.terminals)]
            cursor += 1
            started = time.perf_counter()
            ok = await send(sim)
            latencies.append(time.perf_counter() - started)
            errors += 0 if ok else 1

    cpu0, wall0 = _cpu(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    cpu, wall = _cpu() - cpu0, time.perf_counter() - wall0
    done = len(latencies)
    latencies.sort()
    return {
        "path": name,
        "heartbeats": done,
        "errors": errors,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "per_second": round(done / wall, 1),
        "per_cpu_second": round(done / cpu, 1) if cpu else None,
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p95_ms": round(latencies[int(0.95 * (done - 1))] * 1000, 2),
        "headroom_x": round(done / cpu / NEEDED_PER_SECOND, 1) if cpu else None,
    }


async def run(db: str, seconds: float, terminals: int, concurrency: int) -> dict[str, Any]:
    import httpx

    from yiyun.core import migrate
    from yiyun.core.db import create_engine, session_factory
    from yiyun.ops.config import OpsSettings
    from yiyun.ops.simulate import Fleet
    from yiyun.settings import DbSettings, MediaSettings, Settings, with_secrets
    from yiyun.web.app import create_app

    tmp = Path(tempfile.mkdtemp(prefix="yiyun-bench-hb-"))
    dbname = None
    if db == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp}/yiyun.db"
    else:
        dbname = f"yiyun_bench_hb_{os.getpid()}"
        await _create_pg(dbname)
        url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{dbname}"
    try:
        await asyncio.to_thread(migrate.upgrade, url)
        ops = OpsSettings(heartbeat_limit=1_000_000, jobs_enabled=False)
        settings = with_secrets(
            Settings(
                env="test", data_dir=tmp, log_json=True, log_level="WARNING",
                db=DbSettings(url=url, migrate_on_start=False),
                media=MediaSettings(engine="fake"), ops=ops,
            )
        )  # fmt: skip
        engine = create_engine(url)
        factory = session_factory(engine)
        await _seed(factory, terminals)
        fleet = Fleet(factory, ops, node="bench")
        await fleet.enrol()
        app = create_app(settings, configure_logs=False)
        transport = httpx.ASGITransport(app=app)
        results = []
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:

            async def over_http(sim: Any) -> bool:
                beat = fleet.heartbeat_of(sim).model_dump(mode="json")
                res = await client.post(
                    "/api/v1/devices/heartbeat",
                    json=beat,
                    headers={"Authorization": f"Device {sim.credential}"},
                )
                return res.status_code == 200

            async def direct(sim: Any) -> bool:
                from yiyun.core.db import transaction

                async with transaction(factory) as session:
                    await fleet.beat_one(session, sim)
                return True

            await _timed("warm-up", 1.0, over_http, fleet, concurrency)
            results.append(await _timed("http", seconds, over_http, fleet, concurrency))
            results.append(await _timed("service", seconds, direct, fleet, concurrency))
        await app.state.engine.dispose()
        await engine.dispose()
    finally:
        if dbname:
            await _drop_pg(dbname)
    return {
        "benchmark": "heartbeat ingestion",
        "db": db,
        "terminals": terminals,
        "needed_per_second": NEEDED_PER_SECOND,
        "concurrency": concurrency,
        "python": platform.python_version(),
        "machine": f"{platform.machine()} {os.cpu_count()} cores",
        "results": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--terminals", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    found = asyncio.run(run(args.db, args.seconds, args.terminals, args.concurrency))
    out = args.output or RESULTS / f"heartbeats-{args.db}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(found, indent=2, ensure_ascii=False) + "\n")
    print(f"heartbeat ingestion, {found['terminals']} terminals, {args.db}:")
    for r in found["results"]:
        print(
            f"  {r['path']:8} {r['per_second']:8.1f}/s wall  {r['per_cpu_second']:8.1f}/CPU-s  "
            f"p50 {r['p50_ms']} ms  p95 {r['p95_ms']} ms  errors {r['errors']}  "
            f"headroom x{r['headroom_x']} over 200/s"
        )
    print(f"written to {out}")


if __name__ == "__main__":
    main()
