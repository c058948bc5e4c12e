"""Rendering a 512x512 16-bit CT slice: our server against Orthanc's `/rendered`, on the
same machine in the same run.

Both servers get the same generated CT slice (STOW-RS) and answer the same DICOMweb
request, `.../frames/1/rendered?window=C,W,linear` with `Accept: image/png` or
`image/jpeg`, for the soft-tissue (40/400) and lung (-600/1500) windows. Each server
runs in its own process (Orthanc from Debian with the project's configuration; Yiyun
under uvicorn with authentication, the access policy and an audit entry per request,
as in production). Requests alternate between the servers in rounds, so a change of
machine load hits both; the figures are latency p50/p95 of sequential requests and the
throughput of 4 concurrent clients.

Usage: ``.venv/bin/python benchmarks/bench_imaging.py [--requests 200] [--seconds 3]``
or ``yiyun bench imaging``. Writes ``benchmarks/results/imaging.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import pydicom

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from yiyun.imaging import dicomweb, orthanc, synthetic  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "imaging.json"
WINDOWS = {"soft": "40,400,linear", "lung": "-600,1500,linear"}
FORMATS = {"png": "image/png", "jpeg": "image/jpeg"}


class Target:
    def __init__(self, name: str, base: str, **client: Any) -> None:
        self.name, self.base, self.client_kw = name, base, client

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base, timeout=30, **self.client_kw)


async def store(target: Target, data: bytes) -> None:
    body, content_type = dicomweb.multipart([data])
    async with target.client() as c:
        r = await c.post("/studies", content=body, headers={"Content-Type": content_type})
        r.raise_for_status()


async def timed(c: httpx.AsyncClient, path: str, params: dict[str, str], accept: str) -> float:
    t0 = time.perf_counter()
    # The window goes into the URL as is: Orthanc does not decode %2C in it.
    query = "&".join(f"{k}={v}" for k, v in params.items())
    r = await c.get(f"{path}?{query}", headers={"Accept": accept})
    elapsed = time.perf_counter() - t0
    if r.status_code != 200 or r.headers["content-type"].split(";")[0] != accept:
        raise RuntimeError(f"{r.status_code} {r.headers.get('content-type')} {r.text[:200]}")
    return elapsed


async def latency(
    target: Target, path: str, params: dict[str, str], accept: str, n: int
) -> list[float]:
    async with target.client() as c:
        await timed(c, path, params, accept)  # warm (decode, cache, connection)
        return [await timed(c, path, params, accept) for _ in range(n)]


async def throughput(
    target: Target, path: str, params: dict[str, str], accept: str, seconds: float
) -> float:
    done = 0
    end = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        async with target.client() as c:
            while time.perf_counter() < end:
                await timed(c, path, params, accept)
                done += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(4)))
    return done / (time.perf_counter() - t0)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def run(args: argparse.Namespace) -> dict[str, Any]:
    data = synthetic.ct_series(patient_id="R11", patient_name="Bench^CT", slices=1, size=512)[0]
    ds = pydicom.dcmread(io.BytesIO(data))
    path = (
        f"/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
        f"/instances/{ds.SOPInstanceUID}/frames/1/rendered"
    )
    with tempfile.TemporaryDirectory(prefix="yiyun-bench-pacs-") as tmp:
        pacs = orthanc.start(Path(tmp))
        server = subprocess.Popen(  # noqa: ASYNC220 - started once, before any timing
            [sys.executable, str(ROOT / "benchmarks" / "imaging_server.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert server.stdout is not None
            info = json.loads(server.stdout.readline())
            targets = [
                Target(
                    "yiyun",
                    info["url"] + "/dicomweb",
                    headers={"Authorization": f"Bearer {info['token']}"},
                ),
                Target("orthanc", pacs.dicomweb_url, auth=(pacs.username, pacs.password)),
            ]
            for t in targets:
                await store(t, data)
            cases = []
            for wname, window in WINDOWS.items():
                for fmt, accept in FORMATS.items():
                    params = {"window": window}
                    samples: dict[str, list[float]] = {t.name: [] for t in targets}
                    rounds = 4
                    for _ in range(rounds):
                        for t in targets:
                            samples[t.name] += await latency(
                                t, path, params, accept, args.requests // rounds
                            )
                    rates = {
                        t.name: await throughput(t, path, params, accept, args.seconds)
                        for t in targets
                    }
                    case = {"window": wname, "format": fmt}
                    for t in targets:
                        case[t.name] = {
                            "p50_ms": round(pct(samples[t.name], 0.5), 2),
                            "p95_ms": round(pct(samples[t.name], 0.95), 2),
                            "mean_ms": round(statistics.fmean(samples[t.name]) * 1000, 2),
                            "rps_4_clients": round(rates[t.name], 1),
                        }
                    case["p50_ratio_yiyun_over_orthanc"] = round(
                        case["yiyun"]["p50_ms"] / case["orthanc"]["p50_ms"], 2
                    )
                    case["rps_ratio_yiyun_over_orthanc"] = round(
                        case["yiyun"]["rps_4_clients"] / case["orthanc"]["rps_4_clients"], 2
                    )
                    cases.append(case)
                    print(json.dumps(case), flush=True)
        finally:
            if server.stdin:
                server.stdin.close()
            server.wait(timeout=30)
            pacs.stop()
    return {
        "what": "512x512 16-bit CT slice rendered through DICOMweb frames/1/rendered",
        "machine": {"cpus": __import__("os").cpu_count(), "python": platform.python_version()},
        "requests_per_case": args.requests,
        "cases": cases,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    result = asyncio.run(run(args))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"written {args.output}")


if __name__ == "__main__":
    main()
