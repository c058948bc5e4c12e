"""CPU per request, in process: a measure that stays put on a loaded machine.

`bench_api.py --cpu` builds the app exactly as `yiyun.web.asgi` does (default
settings, JSON access log to a null stream, metrics, audit on; `APP_ENV`) on the seeded
database, and the bare app of `bare_app.py`, and drives each route through
`httpx.ASGITransport` with a fixed number of concurrent clients. It reports the
process' CPU time (`time.process_time`) per request, client side included (the same
httpx client for every route, so the difference between routes is the server's).
Wall-clock throughput moves with whatever else the machine runs; CPU time per
request barely does, and its ratio to the bare route is what the goals compare.
"""

from __future__ import annotations

import asyncio
import gc
import io
import logging
import statistics
import time
from typing import Any


async def _drive(app: Any, path: str, headers: dict[str, str], total: int, conc: int) -> float:
    import httpx

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        for _ in range(20):  # warm up (caches, prepared statements, pools)
            resp = await client.get(path, headers=headers)
            if resp.status_code != 200:
                raise SystemExit(f"{path}: HTTP {resp.status_code} {resp.text[:200]}")
        per_client = total // conc

        async def one() -> None:
            for _ in range(per_client):
                resp = await client.get(path, headers=headers)
                if resp.status_code != 200:
                    raise SystemExit(f"{path}: HTTP {resp.status_code}")

        gc.collect()
        started = time.process_time()
        await asyncio.gather(*(one() for _ in range(conc)))
        return (time.process_time() - started) * 1000 / (per_client * conc)


async def _measure(
    url: str, fixture: dict[str, Any], data_dir: Any, total: int, conc: int, rounds: int
) -> dict[str, list[float]]:
    from benchmarks.bare_app import app as bare
    from benchmarks.bench_api import APP_ENV

    from yiyun.settings import DbSettings, Settings
    from yiyun.web.app import create_app

    settings = Settings(env=APP_ENV, data_dir=data_dir, db=DbSettings(url=url))
    app = create_app(settings)
    # The access log stays on (as deployed) but is written to a null stream.
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(io.StringIO())  # type: ignore[arg-type]
    auth = {"Authorization": f"Bearer {fixture['token']}"}
    routes = {
        "bare": (bare, "/items/5", {}),
        "healthz": (app, "/healthz", {}),
        "institution": (app, f"/api/v1/institutions/{fixture['institution_id']}", auth),
        "patient": (app, f"/api/v1/patients/{fixture['patient_id']}", auth),
    }
    out: dict[str, list[float]] = {name: [] for name in routes}
    async with app.router.lifespan_context(app):
        for n in range(rounds):
            for name, (target, path, headers) in routes.items():
                for handler in logging.getLogger().handlers:
                    if isinstance(handler, logging.StreamHandler):
                        handler.setStream(io.StringIO())  # type: ignore[arg-type]
                ms = await _drive(target, path, headers, total, conc)
                out[name].append(ms)
                print(f"round {n + 1} {name:<12} {ms:6.3f} ms CPU/request", flush=True)
    return out


def run(
    url: str, fixture: dict[str, Any], data_dir: Any, total: int, conc: int, rounds: int
) -> dict[str, dict[str, float]]:
    """CPU ms per request for each route (median over rounds) and its ratio to bare."""
    samples = asyncio.run(_measure(url, fixture, data_dir, total, conc, rounds))
    bare = statistics.median(samples["bare"])
    summary = {}
    for name, values in samples.items():
        ms = statistics.median(values)
        summary[name] = {"cpu_ms": ms, "ratio": bare / ms, "samples": values}
    print(f"\nCPU per request in process ({conc} concurrent, {total} requests x {rounds} rounds)")
    print(f"{'route':<12} {'CPU ms':>8} {'x bare':>8}")
    for name, row in summary.items():
        print(f"{name:<12} {row['cpu_ms']:>8.3f} {'1/' + format(1 / row['ratio'], '.1f'):>8}")
    return summary  # type: ignore[return-value]
