"""Compare the detectors with the reference implementations of the R package ``surveillance``.

The same deterministic series are written to CSV, analysed by ``Rscript`` (earsC,
algo.cusum, farringtonFlexible) and by the Python detectors, and the upper
bounds and alarms are compared. Needs ``Rscript`` with ``surveillance`` installed
(Debian: ``r-cran-surveillance``).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from yiyun.surveillance.detectors import (
    DetectionResult,
    FarringtonResult,
    cusum,
    ears_c1,
    ears_c2,
    ears_c3,
    farrington_flexible,
)

pytestmark = pytest.mark.rref

R_SCRIPT = r"""
suppressPackageStartupMessages(library(surveillance))
run <- function(opt) {
  num <- function(name) as.numeric(opt[[name]])
  obs <- as.matrix(read.csv(opt$input, check.names = FALSE))
  n <- nrow(obs)
  s <- sts(observed = obs, frequency = num("freq"), start = c(2000, 1))
  long <- function(r, extra = list()) {
    rng <- (n - nrow(r) + 1):n
    cols <- list(t = rep(rng, ncol(obs)), series = rep(seq_len(ncol(obs)), each = length(rng)),
                 upperbound = as.vector(upperbound(r)), alarm = as.vector(r@alarm))
    data.frame(c(cols, lapply(extra, as.vector)))
  }
  if (opt$method == "earsC") {
    out <- long(earsC(s, control = list(method = opt$variant, baseline = 7)))
  } else if (opt$method == "cusum") {
    ref <- num("reference")
    parts <- lapply(seq_len(ncol(obs)), function(j) {
      r <- algo.cusum(sts2disProg(s[, j]), control = list(range = (ref + 1):n, k = 1.04,
                      h = 2.26, m = NULL, trans = opt$trans))
      data.frame(t = (ref + 1):n, series = j, upperbound = r$upperbound, alarm = r$alarm,
                 cusum = r$cusum)
    })
    out <- do.call(rbind, parts)
  } else {
    control <- list(b = num("b"), w = num("w"), noPeriods = num("noPeriods"),
                    pastWeeksNotIncluded = num("pastWeeksNotIncluded"),
                    weightsThreshold = num("weightsThreshold"),
                    pThresholdTrend = num("pThresholdTrend"),
                    thresholdMethod = opt$thresholdMethod, alpha = num("alpha"),
                    glmWarnings = FALSE)
    if (num("last") > 0) control$range <- (n - num("last") + 1):n
    r <- farringtonFlexible(s, control = control)
    out <- long(r, list(expected = r@control$expected, phi = r@control$phiVector,
                        trend = r@control$trend))
  }
  write.csv(out, opt$output, row.names = FALSE)
}
# The package loads once per process: one job per line of the file given, as
# tab-separated key=value arguments.
for (line in readLines(commandArgs(trailingOnly = TRUE)[1])) {
  opt <- list()
  for (a in strsplit(line, "\t", fixed = TRUE)[[1]]) {
    kv <- strsplit(a, "=", fixed = TRUE)[[1]]
    opt[[kv[1]]] <- kv[2]
  }
  message("job ", opt$output)
  run(opt)
}
"""


def _daily_series(days: int) -> pd.DataFrame:
    """Daily test series: weekday and seasonal effects, outbreaks, mostly zeros, a trend."""
    rng = np.random.default_rng(20240611)
    t = np.arange(days)
    weekday = np.array([1.35, 1.15, 1.0, 1.0, 0.95, 0.8, 0.75])[t % 7]
    season = np.exp(0.6 * np.cos(2 * np.pi * t / 365.25))
    outbreaks = rng.poisson(4 * weekday * season)
    for start, size in ((200, 12), (700, 20), (days - 30, 15)):
        outbreaks[start : start + 10] += rng.poisson(size, 10)
    zero_heavy = rng.poisson(0.08 * weekday)
    zero_heavy[days - 40 : days - 30] += rng.poisson(2.0, 10)
    return pd.DataFrame(
        {
            "seasonal_weekday": rng.poisson(8 * weekday * season),
            "outbreaks": outbreaks,
            "zero_heavy": zero_heavy,
            "trend": rng.poisson(3 * weekday * np.exp(0.0008 * t)),
        }
    )


def _weekly_series(weeks: int) -> pd.DataFrame:
    """Weekly test series for Farrington (seasonal, outbreaks, zeros, trend, overdispersed)."""
    rng = np.random.default_rng(1996)
    t = np.arange(weeks)
    season = np.exp(0.6 * np.sin(2 * np.pi * t / 52))
    outbreaks = rng.poisson(5 * season)
    for start in (60, 170, 250, weeks - 8):
        outbreaks[start : start + 4] += [8, 15, 20, 10]
    zero_heavy = rng.poisson(0.4, weeks)
    for start in (120, 230, 300):
        zero_heavy[start : start + 3] += [3, 5, 2]
    mu = 20 * season
    return pd.DataFrame(
        {
            "seasonal": rng.poisson(8 * season),
            "outbreaks": outbreaks,
            "zero_heavy": zero_heavy,
            "trend": rng.poisson(3 * np.exp(0.004 * t) * season),
            "overdispersed": rng.negative_binomial(4, 4 / (4 + mu)),
        }
    )


DAILY = _daily_series(3 * 365)
DAILY_LONG = _daily_series(5 * 365 + 1)
WEEKLY = _weekly_series(7 * 52)

IMPROVED = {
    "b": 3,
    "w": 3,
    "noPeriods": 10,
    "pastWeeksNotIncluded": 26,
    "weightsThreshold": 2.58,
    "pThresholdTrend": 1.0,
    "alpha": 0.05,
}
ORIGINAL = {**IMPROVED, "noPeriods": 1, "pastWeeksNotIncluded": 3, "weightsThreshold": 1.0}
ORIGINAL["pThresholdTrend"] = 0.05


@dataclass(frozen=True)
class FarringtonCase:
    """One farringtonFlexible configuration and the data it runs on."""

    data: pd.DataFrame
    freq: int
    control: Mapping[str, float]
    threshold_method: str
    last: int = 0


FARRINGTON_CASES = {
    "improved-nbPlugin-weekly": FarringtonCase(WEEKLY, 52, IMPROVED, "nbPlugin"),
    "improved-muan-weekly": FarringtonCase(WEEKLY.iloc[:, :2], 52, IMPROVED, "muan"),
    "original-delta-weekly": FarringtonCase(WEEKLY, 52, ORIGINAL, "delta"),
    "improved-nbPlugin-daily": FarringtonCase(DAILY_LONG, 365, IMPROVED, "nbPlugin", last=45),
}
CUSUM_CASES = {"standard": 28, "anscombe": 100, "rossi": 100}


def _jobs(workdir: Path) -> dict[str, list[str]]:
    """Return the Rscript argument lists of all reference runs, keyed by name."""
    inputs = {"daily": DAILY, "daily_long": DAILY_LONG, "weekly": WEEKLY}
    for name, frame in inputs.items():
        frame.to_csv(workdir / f"{name}.csv", index=False)
    jobs: dict[str, list[str]] = {}
    daily = f"input={workdir / 'daily.csv'}"
    for variant in ("C1", "C2", "C3"):
        jobs[f"ears-{variant}"] = [daily, "freq=365", "method=earsC", f"variant={variant}"]
    for trans, reference in CUSUM_CASES.items():
        jobs[f"cusum-{trans}"] = [
            daily,
            "freq=365",
            "method=cusum",
            f"trans={trans}",
            f"reference={reference}",
        ]
    for name, case in FARRINGTON_CASES.items():
        path = workdir / f"{name}.csv"
        case.data.to_csv(path, index=False)
        jobs[f"farrington-{name}"] = [
            f"input={path}",
            f"freq={case.freq}",
            "method=farrington",
            f"thresholdMethod={case.threshold_method}",
            f"last={case.last}",
            *(f"{key}={value}" for key, value in case.control.items()),
        ]
    return jobs


R_PROCESSES = 2


@pytest.fixture(scope="module")
def r_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pd.DataFrame]:
    """Run every reference computation in R (in parallel) and load the outputs."""
    rscript = shutil.which("Rscript")
    if rscript is None:
        pytest.skip("Rscript is not on PATH (install r-base-core and r-cran-surveillance)")
    workdir = tmp_path_factory.mktemp("rref")
    script = workdir / "reference.R"
    script.write_text(R_SCRIPT, encoding="utf-8")
    jobs = list(_jobs(workdir).items())
    running = []
    for k in range(R_PROCESSES):  # the jobs shared out over a few R processes
        listing = workdir / f"jobs-{k}.txt"
        listing.write_text(
            "".join(
                "\t".join([*args, f"output={workdir / f'out-{name}.csv'}"]) + "\n"
                for name, args in jobs[k::R_PROCESSES]
            ),
            encoding="utf-8",
        )
        command = [rscript, "--vanilla", str(script), str(listing)]
        running.append(
            subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        )
    failures = []
    for process in running:
        _, stderr = process.communicate(timeout=900)
        if process.returncode != 0:
            failures.append(f"exit {process.returncode}\n{stderr}")
    assert not failures, "R reference runs failed:\n" + "\n".join(failures)
    return {name: pd.read_csv(workdir / f"out-{name}.csv") for name, _ in jobs}


@dataclass(frozen=True)
class Comparison:
    """Python vs R on the time points R evaluated, for one series."""

    threshold_py: np.ndarray
    threshold_r: np.ndarray
    alarm_py: np.ndarray
    alarm_r: np.ndarray
    alarm_r_missing: np.ndarray

    def max_relative_threshold_difference(self) -> float:
        both = ~np.isnan(self.threshold_py) & ~np.isnan(self.threshold_r)
        if not both.any():
            return 0.0
        diff = np.abs(self.threshold_py[both] - self.threshold_r[both])
        scale = np.maximum(np.abs(self.threshold_r[both]), 1e-12)
        return float(np.max(diff / scale))


def _compare(r: pd.DataFrame, result: DetectionResult, series: int) -> Comparison:
    """Line up R's rows for ``series`` (0-based) with the Python result."""
    rows = r[r["series"] == series + 1]
    t = rows["t"].to_numpy() - 1
    alarm_r = rows["alarm"]
    missing = alarm_r.isna().to_numpy()
    return Comparison(
        threshold_py=result.threshold[t, series],
        threshold_r=rows["upperbound"].to_numpy(dtype=np.float64),
        alarm_py=result.alarm[t, series],
        alarm_r=alarm_r.fillna(False).astype(bool).to_numpy(),
        alarm_r_missing=missing,
    )


def _first_computed(result: DetectionResult, series: int) -> int:
    return int(np.argmax(~np.isnan(result.threshold[:, series])))


@pytest.mark.parametrize(
    ("variant", "detector"), [("C1", ears_c1), ("C2", ears_c2), ("C3", ears_c3)]
)
def test_it_matches_r_earsc_thresholds_and_alarms(
    r_results: dict[str, pd.DataFrame], variant: str, detector: object
) -> None:
    r = r_results[f"ears-{variant}"]
    result = detector(DAILY.to_numpy())  # type: ignore[operator]
    for j, name in enumerate(DAILY.columns):
        c = _compare(r, result, j)
        assert _first_computed(result, j) == r["t"].min() - 1, name
        np.testing.assert_array_equal(np.isnan(c.threshold_py), np.isnan(c.threshold_r), name)
        assert c.max_relative_threshold_difference() < 1e-6, name
        print(f"\nearsC {variant} {name}: max rel diff {c.max_relative_threshold_difference():.1e}")
        ok = ~c.alarm_r_missing
        np.testing.assert_array_equal(c.alarm_py[ok], c.alarm_r[ok], name)
        assert not c.alarm_py[c.alarm_r_missing].any(), name


@pytest.mark.parametrize("trans", list(CUSUM_CASES))
def test_it_matches_r_algo_cusum_upper_bounds_and_alarms(
    r_results: dict[str, pd.DataFrame], trans: str
) -> None:
    r = r_results[f"cusum-{trans}"]
    reference = CUSUM_CASES[trans]
    result = cusum(DAILY.to_numpy(), reference=reference, trans=trans)  # type: ignore[arg-type]
    for j, name in enumerate(DAILY.columns):
        c = _compare(r, result, j)
        rows = r[r["series"] == j + 1]
        assert rows["t"].min() - 1 == reference
        np.testing.assert_allclose(c.threshold_py, c.threshold_r, rtol=1e-9, err_msg=name)
        np.testing.assert_allclose(
            result.score[rows["t"].to_numpy() - 1, j],
            rows["cusum"].to_numpy(dtype=np.float64),
            rtol=1e-9,
            err_msg=name,
        )
        ok = ~c.alarm_r_missing
        np.testing.assert_array_equal(c.alarm_py[ok], c.alarm_r[ok], name)
        assert not c.alarm_py[c.alarm_r_missing].any(), name


def _farrington_python(case: FarringtonCase, engine: str = "numpy") -> FarringtonResult:
    control = case.control
    return farrington_flexible(
        case.data.to_numpy(),
        freq=case.freq,
        b=int(control["b"]),
        w=int(control["w"]),
        no_periods=int(control["noPeriods"]),
        past_weeks_not_included=int(control["pastWeeksNotIncluded"]),
        weights_threshold=control["weightsThreshold"],
        p_threshold_trend=control["pThresholdTrend"],
        alpha=control["alpha"],
        threshold_method=case.threshold_method,  # type: ignore[arg-type]
        time_points=range(-case.last, 0) if case.last else None,
        engine=engine,  # type: ignore[arg-type]
    )


def _check_farrington(
    label: str, r: pd.DataFrame, case: FarringtonCase, result: DetectionResult
) -> None:
    for j, name in enumerate(case.data.columns):
        c = _compare(r, result, j)
        agreement = float(np.mean(c.alarm_py == c.alarm_r))
        both = ~np.isnan(c.threshold_py) & ~np.isnan(c.threshold_r)
        close = np.isclose(c.threshold_py[both], c.threshold_r[both], rtol=1e-6, atol=0)
        print(
            f"\nfarrington {label} {name}: {c.alarm_r.sum()} R alarms, alarm agreement "
            f"{100 * agreement:.2f}%, threshold max rel diff "
            f"{c.max_relative_threshold_difference():.1e} over {both.sum()} points"
        )
        assert agreement >= 0.99, name
        # the threshold is undefined exactly where fewer than 5 cases fell in 4 points
        np.testing.assert_array_equal(np.isnan(c.threshold_py), np.isnan(c.threshold_r), name)
        assert close.mean() >= 0.99 if close.size else True, name
        assert not c.alarm_r_missing.any(), name


@pytest.mark.parametrize("case_name", list(FARRINGTON_CASES))
def test_it_agrees_with_r_farringtonflexible_alarms(
    r_results: dict[str, pd.DataFrame], case_name: str
) -> None:
    case = FARRINGTON_CASES[case_name]
    r = r_results[f"farrington-{case_name}"]
    _check_farrington(case_name, r, case, _farrington_python(case))


def test_it_agrees_with_r_farringtonflexible_using_the_statsmodels_engine(
    r_results: dict[str, pd.DataFrame],
) -> None:
    full = FARRINGTON_CASES["improved-nbPlugin-weekly"]
    case = FarringtonCase(full.data.iloc[:, :1], full.freq, full.control, full.threshold_method)
    r = r_results["farrington-improved-nbPlugin-weekly"]
    python = _farrington_python(case, engine="statsmodels")
    _check_farrington("statsmodels-engine", r[r["series"] == 1], case, python)


def test_it_reproduces_r_farrington_expectation_dispersion_and_trend_choice(
    r_results: dict[str, pd.DataFrame],
) -> None:
    case = FARRINGTON_CASES["original-delta-weekly"]
    r = r_results["farrington-original-delta-weekly"]
    result = _farrington_python(case)
    trend_r = r["trend"].to_numpy()
    assert 0 < trend_r.mean() < 1, "the case should exercise both trend decisions"
    for j, name in enumerate(case.data.columns):
        rows = r[r["series"] == j + 1]
        t = rows["t"].to_numpy() - 1
        np.testing.assert_allclose(
            result.phi[t, j], rows["phi"].to_numpy(dtype=np.float64), rtol=1e-6, err_msg=name
        )
        np.testing.assert_allclose(
            result.expected[t, j],
            rows["expected"].to_numpy(dtype=np.float64),
            rtol=1e-6,
            err_msg=name,
        )
        np.testing.assert_array_equal(result.trend[t, j], rows["trend"].to_numpy() == 1, name)
