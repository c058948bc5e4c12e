"""Benchmark the surveillance detectors on a district-sized data set, side by side with R.

Data: 94 sites x 12 syndromes = 1,128 daily series over 5 years (1,826 days),
Poisson counts with site/syndrome levels, yearly seasonality, weekday effects
and some mostly-zero series; generated deterministically.

Timed in Python (median of several runs, whole set in one vectorised call):
EARS C1/C2/C3 and EWMA over all days, CUSUM (28-day reference) over all days,
CIDARS moving percentile over all days, and the Farrington "daily run": today's
alarm (last day) for every series (improved method, ``freq = 365``).

Timed in R (``surveillance`` package; ``proc.time()`` around the computation
only, excluding start-up and reading the data): earsC C1/C2/C3, algo.cusum and
farringtonFlexible for the same computations.

Usage: ``.venv/bin/python benchmarks/bench_surveillance.py [--quick] [--no-r]``.
Writes ``benchmarks/results/surveillance.json``. Targets (not assertions):
EARS, CUSUM, EWMA <= 50 ms for the whole set; Farrington daily run <= 2 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from yiyun.surveillance.detectors import (  # noqa: E402
    cusum,
    ears_c1,
    ears_c2,
    ears_c3,
    ewma,
    farrington_flexible,
    moving_percentile,
)

SITES, SYNDROMES, DAYS = 94, 12, 5 * 365 + 1
RESULTS = ROOT / "benchmarks" / "results" / "surveillance.json"
TARGETS_S = {"ears-c1": 0.05, "ears-c2": 0.05, "ears-c3": 0.05, "cusum": 0.05, "ewma": 0.05}
TARGETS_S["farrington-daily-run"] = 2.0
# R on the full set: earsC copies its result matrix per series, ~1 min per call.

R_SCRIPT = r"""
suppressPackageStartupMessages(library(surveillance))
args <- commandArgs(trailingOnly = TRUE)
obs <- as.matrix(read.csv(args[1], check.names = FALSE))
n_series <- as.integer(args[2]); ears_repeats <- as.integer(args[3])
cusum_repeats <- as.integer(args[4]); out_file <- args[5]
obs <- obs[, seq_len(n_series), drop = FALSE]
n <- nrow(obs)
s <- sts(observed = obs, frequency = 365, start = c(2000, 1))
timed <- function(name, expr_fun, times) {
  for (i in seq_len(times)) {
    t0 <- proc.time()
    value <- expr_fun()
    t1 <- proc.time() - t0
    cat(sprintf("timing,%s,%.6f,%.6f\n", name, t1[["elapsed"]],
                t1[["user.self"]] + t1[["sys.self"]]))
  }
  invisible(value)
}
for (m in c("C1", "C2", "C3")) {
  timed(paste0("ears-", tolower(m)), function() earsC(s, control = list(method = m, baseline = 7)),
        ears_repeats)
}
series <- lapply(seq_len(ncol(obs)), function(j) sts2disProg(s[, j]))
timed("cusum", function() {
  for (d in series) {
    algo.cusum(d, control = list(range = 29:n, k = 1.04, h = 2.26, m = NULL, trans = "standard"))
  }
}, cusum_repeats)
control <- list(range = n, b = 3, w = 3, noPeriods = 10, pastWeeksNotIncluded = 26,
                weightsThreshold = 2.58, pThresholdTrend = 1, thresholdMethod = "nbPlugin",
                alpha = 0.05, glmWarnings = FALSE)
far <- timed("farrington-daily-run", function() farringtonFlexible(s, control = control), 1)
write.csv(data.frame(upperbound = as.vector(upperbound(far)), alarm = as.vector(far@alarm)),
          out_file, row.names = FALSE)
"""


def make_counts() -> tuple[np.ndarray, list[str]]:
    """Return the (days, series) count matrix and the series names."""
    rng = np.random.default_rng(20250101)
    n_series = SITES * SYNDROMES
    t = np.arange(DAYS)[:, np.newaxis]
    level = rng.lognormal(mean=0.8, sigma=1.1, size=n_series)
    level[rng.random(n_series) < 0.15] *= 0.05  # rare syndromes: mostly zeros
    phase = rng.uniform(0, 2 * np.pi, n_series)
    amplitude = rng.uniform(0.0, 0.8, n_series)
    weekday = np.array([1.35, 1.15, 1.0, 1.0, 0.95, 0.8, 0.75])[np.arange(DAYS) % 7]
    mean = (
        level * np.exp(amplitude * np.cos(2 * np.pi * t / 365.25 + phase)) * weekday[:, np.newaxis]
    )
    names = [f"site{s:03d}_syn{k:02d}" for s in range(SITES) for k in range(SYNDROMES)]
    return rng.poisson(mean).astype(np.float64), names


def time_it(func: Callable[[], object], runs: int) -> dict[str, float | int]:
    """Return median/minimum wall time and median CPU time of ``runs`` calls (after a warm-up)."""
    func()
    wall, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        func()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return {
        "median_s": statistics.median(wall),
        "min_s": min(wall),
        "cpu_median_s": statistics.median(cpu),
        "runs": runs,
    }


def run_python(counts: np.ndarray, runs: int) -> dict[str, dict[str, float | int]]:
    """Time every detector over the whole set."""
    jobs: dict[str, tuple[Callable[[], object], int]] = {
        "ears-c1": (lambda: ears_c1(counts), runs),
        "ears-c2": (lambda: ears_c2(counts), runs),
        "ears-c3": (lambda: ears_c3(counts), runs),
        "cusum": (lambda: cusum(counts, reference=28), runs),
        "ewma": (lambda: ewma(counts), runs),
        "percentile": (lambda: moving_percentile(counts), runs),
        "farrington-daily-run": (
            lambda: farrington_flexible(counts, freq=365, time_points=[-1]),
            max(3, runs // 2),
        ),
    }
    return {name: time_it(func, n) for name, (func, n) in jobs.items()}


def run_r(counts: np.ndarray, names: list[str], n_series: int, quick: bool) -> dict[str, Any]:
    """Run the R side on the first ``n_series`` series; return timings and R's Farrington output."""
    rscript = shutil.which("Rscript")
    if rscript is None:
        return {"skipped": "Rscript not on PATH"}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "bench.R").write_text(R_SCRIPT, encoding="utf-8")
        pd.DataFrame(counts.astype(np.int64), columns=names).to_csv(
            work / "counts.csv", index=False
        )
        command = [
            rscript,
            "--vanilla",
            str(work / "bench.R"),
            str(work / "counts.csv"),
            str(n_series),
            "1",  # earsC on the full set takes about a minute per run
            "1" if quick else "3",
            str(work / "farrington.csv"),
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"Rscript failed:\n{done.stderr}")
        samples: dict[str, list[tuple[float, float]]] = {}
        for line in done.stdout.splitlines():
            if line.startswith("timing,"):
                _, name, elapsed, cpu = line.split(",")
                samples.setdefault(name, []).append((float(elapsed), float(cpu)))
        far = pd.read_csv(work / "farrington.csv")
    timings: dict[str, dict[str, float | int]] = {
        name: {
            "median_s": statistics.median(e for e, _ in v),
            "min_s": min(e for e, _ in v),
            "cpu_median_s": statistics.median(c for _, c in v),
            "runs": len(v),
            "series": n_series,
        }
        for name, v in samples.items()
    }
    return {"timings": timings, "farrington": far}


def _fmt(seconds: float) -> str:
    """Format a duration as milliseconds below 10 s, seconds above."""
    return f"{seconds * 1e3:.1f} ms" if seconds < 10 else f"{seconds:.1f} s"


def main() -> None:
    """Run the benchmark, print a table and write the JSON results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, R on 94 series only")
    parser.add_argument("--no-r", action="store_true", help="skip the R side")
    args = parser.parse_args()
    runs = 3 if args.quick else 9
    counts, names = make_counts()
    n_series = counts.shape[1]
    print(f"data: {SITES} sites x {SYNDROMES} syndromes = {n_series} series x {DAYS} days")

    load_start = os.getloadavg()
    python = run_python(counts, runs)
    report: dict[str, Any] = {
        "generated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "load_average_start": load_start,
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "numpy": np.__version__,
        },
        "data": {"sites": SITES, "syndromes": SYNDROMES, "days": DAYS, "series": n_series},
        "python": python,
        "targets_s": TARGETS_S,
        "targets_met": {k: python[k]["median_s"] <= v for k, v in TARGETS_S.items()},
    }

    r_timings: dict[str, Any] = {}
    if not args.no_r:
        r_series = SITES if args.quick else n_series
        r = run_r(counts, names, r_series, args.quick)
        if "skipped" in r:
            report["r"] = r
        else:
            r_timings = r["timings"]
            version = subprocess.run(
                ["Rscript", "-e", 'cat(R.version.string, "surveillance", '
                 'format(packageVersion("surveillance")))'],
                capture_output=True, text=True, check=False,
            ).stdout.strip()  # fmt: skip
            report["machine"]["r"] = version
            report["r"] = r_timings
            mine = farrington_flexible(counts[:, :r_series], freq=365, time_points=[-1])
            alarm_r = r["farrington"]["alarm"].fillna(False).astype(bool).to_numpy()
            upper_r = r["farrington"]["upperbound"].to_numpy(dtype=np.float64)
            both = ~np.isnan(upper_r) & ~np.isnan(mine.threshold[-1])
            rel = np.abs(mine.threshold[-1][both] - upper_r[both]) / np.abs(upper_r[both])
            report["farrington_check"] = {
                "series": r_series,
                "alarm_agreement": float(np.mean(mine.alarm[-1] == alarm_r)),
                "threshold_nan_pattern_equal": bool(
                    np.array_equal(np.isnan(upper_r), np.isnan(mine.threshold[-1]))
                ),
                "threshold_max_rel_diff": float(rel.max()) if rel.size else 0.0,
            }
            report["r_over_python_per_series"] = {
                name: (timing["median_s"] / timing["series"])
                / (python[name]["median_s"] / n_series)
                for name, timing in r_timings.items()
            }
    report["load_average_end"] = os.getloadavg()

    print(f"\n{'method':22s} {'python median':>14s} {'python min':>11s} {'python cpu':>11s} "
          f"{'R median':>20s} {'R/py':>8s} {'target':>8s}")  # fmt: skip
    for name, timing in python.items():
        r_cell, ratio_cell = "-", "-"
        if name in r_timings:
            rt = r_timings[name]
            suffix = f" ({rt['series']} ser.)" if rt["series"] != n_series else ""
            r_cell = f"{_fmt(rt['median_s'])}{suffix}"
            ratio_cell = f"{report['r_over_python_per_series'][name]:7.0f}x"
        target = TARGETS_S.get(name)
        target_cell = (
            "-" if target is None else ("met" if timing["median_s"] <= target else "MISSED")
        )
        print(
            f"{name:22s} {_fmt(timing['median_s']):>14s} {_fmt(timing['min_s']):>11s} "
            f"{_fmt(timing['cpu_median_s']):>11s} {r_cell:>20s} {ratio_cell:>8s} {target_cell:>8s}"
        )
    if "farrington_check" in report:
        check = report["farrington_check"]
        print(
            f"\nfarrington daily run vs R on {check['series']} series: alarm agreement "
            f"{100 * check['alarm_agreement']:.2f}%, threshold max rel diff "
            f"{check['threshold_max_rel_diff']:.1e}"
        )
    print("R/py compares time per series; 'ser.' marks an R run on a subset of the series.")
    print(f"load average (1, 5, 15 min) at start {load_start}, at end {report['load_average_end']}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
