"""A tiny run of the media benchmark harness (`benchmarks/bench_media.py --quick`).

Embedded engine only, a small clip, two ramp steps and two joins: it proves the
harness runs end to end and writes the JSON the docs describe. No timing thresholds:
the numbers depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.slow, pytest.mark.media]


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")
def test_a_quick_embedded_run_writes_the_results(tmp_path: Path, db_backend: str) -> None:
    if db_backend != "sqlite":
        pytest.skip("not database-facing: runs in the SQLite pass only")
    out = tmp_path / "media.json"
    command = [
        sys.executable,
        str(ROOT / "benchmarks" / "bench_media.py"),
        "--quick",
        "--engines", "embedded",
        "--resolution", "320x240",
        "--kbps", "400",
        "--steps", "1,2",
        "--joins", "2",
        "--window", "1.5",
        "--output", str(out),
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    report = json.loads(out.read_text())
    for key in ("machine", "parameters", "clip", "isolation", "engines", "targets"):
        assert key in report
    assert report["machine"]["cpu_model"] and report["machine"]["cores"] >= 1
    assert report["clip"]["width"] == 320 and report["clip"]["kbps"] > 0
    embedded = report["engines"]["embedded"]
    assert "error" not in embedded, embedded.get("error")
    ramp, join = embedded["ramp"], embedded["join"]
    assert [step["subscribers"] for step in ramp["steps"]] == [0, 1, 2]
    for step in ramp["steps"][1:]:
        assert step["egress_pps"] > 0 and step["server_cpu"] > 0 and step["pps_per_core"] > 0
        assert step["latency_ms"]["frames"] > 0 and step["latency_ms"]["p50"] > 0
    best = ramp["max_sustained"]
    assert best is not None and best["egress_pps"] > 0 and best["pps_per_core"] > 0
    assert isinstance(ramp["cpu_per_stream"], float)
    assert ramp["server_stats"]["aiortc_decoders"] == 0  # the server decoded nothing
    assert join["ok"] == 2 and join["p50_ms"] > 0 and join["frame_sizes"] == ["320x240"]
    assert set(report["targets"]) == {
        "embedded_pps_per_core_vs_janus",
        "embedded_cpu_per_stream_vs_relay",
        "embedded_latency_p99_minus_janus_ms",
        "embedded_join_p50_ms",
        "embedded_join_p50_vs_janus",
    }
