"""EARS C1, C2 and C3 (Early Aberration Reporting System, US CDC).

Hutwagner L., Thompson W., Seeman G.M., Treadwell T. (2003). The bioterrorism
preparedness and response Early Aberration Reporting System (EARS).
J. Urban Health 80(2 Suppl 1), i89-i96.

The definitions follow ``surveillance::earsC`` (R package ``surveillance``
1.20) exactly, including its upper bound for C3:

* C1: baseline = the ``baseline`` (7) days before day ``t``;
* C2: baseline = the 7 days ending 3 days before ``t`` (two-day guard band);
* statistic ``C = (x_t - mean) / max(sd, min_sigma)`` (sample sd);
  upper bound ``mean + z_{1-alpha} * max(sd, min_sigma)``; alarm ``x_t > bound``;
* C3: with ``C2+_u = max(0, C2_u - 1)``, earsC sets the bound to
  ``max(0, x_t + max(sd_t, min_sigma) * (z_{1-alpha} - C2+_{t-2} - C2+_{t-1}))``
  and alarms when ``x_t`` exceeds it. The bound therefore depends on the two
  previous days only; the reported ``score`` is the classical C3 statistic
  ``C2+_t + C2+_{t-1} + C2+_{t-2}``.

As in earsC, ``alpha`` defaults to 0.001 for C1/C2 and 0.025 for C3.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.stats import norm

from ._common import DetectionResult, FloatArray, as_counts, moving_baseline, nan_like

__all__ = ["ears_c1", "ears_c2", "ears_c3"]


def _z(alpha: float) -> float:
    """Return the standard-normal quantile ``z_{1-alpha}``."""
    if not 0.0 < alpha < 1.0:
        raise ValueError("alpha must lie in (0, 1)")
    return float(norm.ppf(1.0 - alpha))


def _check(baseline: int, min_sigma: float) -> None:
    """Validate the parameters shared by all EARS variants (same rules as earsC)."""
    if baseline < 3:
        raise ValueError("Minimum baseline to use is 3.")
    if min_sigma < 0:
        raise ValueError("min_sigma must be non-negative")


def _c_statistic(
    x: FloatArray, baseline: int, lag: int, min_sigma: float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Return ``(mean, sigma, C)`` of the moving baseline used by C1 (lag 0) and C2 (lag 2)."""
    mean, sd = moving_baseline(x, baseline, lag)
    sigma = sd if min_sigma == 0 else np.maximum(sd, min_sigma)  # sd >= 0 or NaN
    stat = x - mean
    with np.errstate(divide="ignore", invalid="ignore"):
        stat /= sigma
    return mean, sigma, stat


def _c1_c2(
    counts: npt.ArrayLike, baseline: int, alpha: float, min_sigma: float, lag: int
) -> DetectionResult:
    """Shared implementation of C1 (``lag=0``) and C2 (``lag=2``)."""
    _check(baseline, min_sigma)
    x = as_counts(counts)
    mean, sigma, stat = _c_statistic(x, baseline, lag, min_sigma)
    threshold = sigma * _z(alpha)
    threshold += mean
    with np.errstate(invalid="ignore"):
        alarm = x > threshold
    return DetectionResult(expected=mean, threshold=threshold, score=stat, alarm=alarm)


def ears_c1(
    counts: npt.ArrayLike, *, baseline: int = 7, alpha: float = 0.001, min_sigma: float = 0.0
) -> DetectionResult:
    """EARS C1: compare each day with the mean and sd of the previous ``baseline`` days.

    ``counts``: daily counts ``(T,)`` or ``(T, S)``; ``baseline``: baseline
    length in days (>= 3); ``alpha``: one-sided level, bound uses
    ``z_{1-alpha}``; ``min_sigma``: floor on the baseline sd. Output is NaN for
    the first ``baseline`` days.
    """
    return _c1_c2(counts, baseline, alpha, min_sigma, lag=0)


def ears_c2(
    counts: npt.ArrayLike, *, baseline: int = 7, alpha: float = 0.001, min_sigma: float = 0.0
) -> DetectionResult:
    """EARS C2: like C1 but with a two-day guard band between baseline and the current day.

    Parameters as for :func:`ears_c1`. Output is NaN for the first
    ``baseline + 2`` days.
    """
    return _c1_c2(counts, baseline, alpha, min_sigma, lag=2)


def ears_c3(
    counts: npt.ArrayLike, *, baseline: int = 7, alpha: float = 0.025, min_sigma: float = 0.0
) -> DetectionResult:
    """EARS C3: accumulate the C2 exceedances of the current and the two previous days.

    Parameters as for :func:`ears_c1` (``alpha`` defaults to 0.025 as in earsC).
    Upper bound and alarm as in ``surveillance::earsC`` (see the module
    docstring); ``score`` is the classical C3 sum. Output is NaN for the first
    ``baseline + 4`` days.
    """
    _check(baseline, min_sigma)
    x = as_counts(counts)
    z = _z(alpha)
    mean, sigma, excess = _c_statistic(x, baseline, 2, min_sigma)
    excess -= 1.0
    np.maximum(excess, 0.0, out=excess)  # NaN stays NaN, as R's pmax without na.rm
    threshold = nan_like(x)
    score = nan_like(x)
    if x.shape[0] > 2:
        lags = excess[:-2] + excess[1:-1]  # C2+ of the days t-2 and t-1
        np.add(lags, excess[2:], out=score[2:])
        bound = threshold[2:]
        with np.errstate(invalid="ignore"):  # 0 * inf when sd = 0, as in R
            np.subtract(z, lags, out=bound)
            bound *= sigma[2:]
            bound += x[2:]
            np.maximum(bound, 0.0, out=bound)
    with np.errstate(invalid="ignore"):
        alarm = x > threshold
    return DetectionResult(expected=mean, threshold=threshold, score=score, alarm=alarm)
