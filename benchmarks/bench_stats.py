"""Benchmark the statistics dashboard: figures from the daily rollups vs the same figures
computed from the source tables, on SQLite and PostgreSQL; and the daily space-time scan
over 94 sites x 12 syndromes.

Data: five years of a busy district: 94 institutions, about 80 ended meetings a day
(146,000 meetings) with their hosts' departments, generated deterministically and loaded
with plain executemany; the rollups are then built by `rollup.rebuild` (timed).

Timed per "dashboard request" (what one API call of the dashboard computes, in process,
no HTTP): the five-year monthly trend of meetings, and the 30-day ranking of institutions,
each N times from the rollups and from the source tables; p50 and p95.

Usage: ``.venv/bin/python benchmarks/bench_stats.py [--quick] [--no-pg]``.
Writes ``benchmarks/results/stats.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np

from yiyun.auth.policy import Scope
from yiyun.core import migrate
from yiyun.core.db import create_engine, session_factory, transaction
from yiyun.stats import figures, registry, rollup, scan

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
RESULTS = Path(__file__).resolve().parent / "results" / "stats.json"


async def load(url: str, per_day: float, days: int) -> dict[str, Any]:
    engine = create_engine(url)
    factory = session_factory(engine)
    now = datetime.now(UTC)
    async with transaction(factory) as s:
        conn = await s.connection()
        pg = conn.dialect.name == "postgresql"

        def q(sql: str, n: int) -> str:
            if not pg:
                return sql
            for i in range(1, n + 1):
                sql = sql.replace("?", f"${i}", 1)
            return sql

        await conn.exec_driver_sql(
            q("INSERT INTO org_region (id, code, name, name_en, created_at, updated_at) "
              "VALUES (1, 'B', 'b', 'b', ?, ?)", 2), [(now, now)])  # fmt: skip
        insts = [
            (i, f"B{i}", f"site {i}", f"site {i}", "community_health_centre", "primary", 1, "",
             "", True, now, now)
            for i in range(1, 95)
        ]  # fmt: skip
        await conn.exec_driver_sql(
            q("INSERT INTO org_institution (id, code, name, name_en, kind, level, region_id, "
              "address, phone, active, created_at, updated_at) VALUES "
              "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", 12), insts)  # fmt: skip
        await conn.exec_driver_sql(
            q("INSERT INTO org_user (id, username, display_name, institution_id, specialties, "
              "active, created_at, updated_at) VALUES (1, 'h', 'h', 1, '[]', ?, ?, ?)", 3),
            [(True, now, now)])  # fmt: skip
        rng = np.random.default_rng(1)
        n = int(per_day * days)
        start = now - timedelta(days=days)
        offsets = np.sort(rng.uniform(0, days * 86400, n))
        inst = rng.integers(1, 95, n)
        rows = []
        for k in range(n):
            ended = start + timedelta(seconds=float(offsets[k]))
            rows.append((f"M{k:09d}", "m", "instant", "ended", 1, int(inst[k]), ended, 60, "",
                         True, False, True, ended - timedelta(minutes=40), ended))  # fmt: skip
        sql = q(
            "INSERT INTO meetings_meeting (code, title, kind, state, host_id, institution_id, "
            "ended_at, duration_minutes, description, waiting_room, locked, allow_unmute, "
            "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            14,
        )
        for i in range(0, len(rows), 20_000):
            await conn.exec_driver_sql(sql, rows[i : i + 20_000])
    t = time.perf_counter()
    async with transaction(factory) as s:
        cells = await rollup.rebuild(s, since=(now - timedelta(days=days + 2)).date())
    rebuild = time.perf_counter() - t
    await engine.dispose()
    return {"meetings": n, "rollup_cells": cells, "rebuild_seconds": round(rebuild, 2)}


async def timed(url: str, repeat: int) -> dict[str, Any]:
    engine = create_engine(url)
    factory = session_factory(engine)
    m = registry.get("meetings")
    assert m is not None
    last = date.today()
    five = last.replace(year=last.year - 5) + timedelta(days=1)
    out: dict[str, Any] = {}
    for name, first, call in (
        ("trend_5y_by_month", five, "trend"),
        ("ranking_30d", last - timedelta(days=29), "ranking"),
    ):
        for direct in (False, True):
            samples = []
            for _ in range(repeat if not direct else max(3, repeat // 4)):
                async with factory() as s:
                    t = time.perf_counter()
                    if call == "trend":
                        await figures.trend(s, m, first, last, Scope(None), grain="month",
                                            direct=direct)  # fmt: skip
                    else:
                        await figures.ranking(s, m, first, last, Scope(None), direct=direct)
                    samples.append((time.perf_counter() - t) * 1000)
            samples.sort()
            key = f"{name}_{'source' if direct else 'rollup'}"
            out[key] = {
                "n": len(samples),
                "p50_ms": round(statistics.median(samples), 1),
                "p95_ms": round(samples[min(len(samples) - 1, int(0.95 * len(samples)))], 1),
            }
    await engine.dispose()
    return out


def bench_scan(replicates: int) -> dict[str, Any]:
    rng = np.random.default_rng(3)
    pos = rng.uniform(0, 30, size=(94, 2))
    t = time.perf_counter()
    for s in range(12):
        counts = rng.poisson(rng.uniform(0.5, 8.0, size=(94, 1)), size=(94, 56)).astype(float)
        scan.most_likely(counts, pos, max_days=7, max_sites=12, max_radius_km=4.0,
                         replicates=replicates, seed=s)  # fmt: skip
    return {"sites": 94, "syndromes": 12, "study_days": 56, "replicates": replicates,
            "seconds": round(time.perf_counter() - t, 2)}  # fmt: skip


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-pg", action="store_true")
    args = ap.parse_args()
    days, per_day, repeat = (365, 80, 10) if args.quick else (1826, 80, 40)
    result: dict[str, Any] = {"machine": platform.platform(), "days": days}
    result["scan"] = bench_scan(99 if args.quick else 999)
    print("scan", result["scan"], flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        await asyncio.to_thread(migrate.upgrade, url)
        result["sqlite"] = {"load": await load(url, per_day, days), **await timed(url, repeat)}
        print("sqlite", result["sqlite"], flush=True)
    if not args.no_pg:
        name = f"yiyun_bench_{uuid.uuid4().hex[:8]}"
        conn = await asyncpg.connect(PG_ADMIN)
        await conn.execute(f'CREATE DATABASE "{name}"')
        await conn.close()
        url = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
        url = f"{url}/{name}"
        try:
            await asyncio.to_thread(migrate.upgrade, url)
            result["postgresql"] = {
                "load": await load(url, per_day, days),
                **await timed(url, repeat),
            }
            print("postgresql", result["postgresql"], flush=True)
        finally:
            conn = await asyncpg.connect(PG_ADMIN)
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.close()
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
