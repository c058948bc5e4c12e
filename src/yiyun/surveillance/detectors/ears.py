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

from ._common import DetectionResult, FloatArray, as_counts, baseline_block, nan_like, row_blocks

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


def _c1_c2(
    counts: npt.ArrayLike, baseline: int, alpha: float, min_sigma: float, lag: int
) -> DetectionResult:
    """Shared implementation of C1 (``lag=0``) and C2 (``lag=2``), block by block."""
    _check(baseline, min_sigma)
    x = as_counts(counts)
    z = _z(alpha)
    expected, threshold, score = nan_like(x), nan_like(x), nan_like(x)
    alarm = np.zeros(x.shape, dtype=np.bool_)
    for lo, hi in row_blocks(x, baseline + lag):
        mean, sigma = _c_block(x, baseline, lag, min_sigma, lo, hi, expected[lo:hi], score[lo:hi])
        bound = threshold[lo:hi]
        np.multiply(sigma, z, out=bound)
        bound += mean
        np.greater(x[lo:hi], bound, out=alarm[lo:hi])
    return DetectionResult(expected=expected, threshold=threshold, score=score, alarm=alarm)


def _c_block(
    x: FloatArray,
    baseline: int,
    lag: int,
    min_sigma: float,
    lo: int,
    hi: int,
    mean: FloatArray,
    stat: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    """Write the baseline mean and the C statistic of times ``lo:hi`` into ``mean``/``stat``.

    Returns ``(mean, sigma)`` for the block, ``sigma = max(sd, min_sigma)``.
    """
    sigma = np.empty_like(mean)
    baseline_block(x, baseline, lag, lo, hi, mean, sigma)
    if min_sigma:
        np.maximum(sigma, min_sigma, out=sigma)  # sd >= 0 or NaN
    np.subtract(x[lo:hi], mean, out=stat)
    with np.errstate(divide="ignore", invalid="ignore"):
        stat /= sigma
    return mean, sigma


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
    expected, threshold, score = nan_like(x), nan_like(x), nan_like(x)
    alarm = np.zeros(x.shape, dtype=np.bool_)
    carry = np.full((2, *x.shape[1:]), np.nan)  # C2+ of the two days before the block
    for lo, hi in row_blocks(x, baseline + 2):
        excess = np.empty_like(x[lo:hi])  # C2, then max(C2 - 1, 0)
        _, sigma = _c_block(x, baseline, 2, min_sigma, lo, hi, expected[lo:hi], excess)
        excess -= 1.0
        np.maximum(excess, 0.0, out=excess)  # NaN stays NaN, as R's pmax without na.rm
        extended = np.concatenate([carry, excess])
        carry = extended[-2:]
        lags = extended[:-2] + extended[1:-1]  # C2+ of the days t-2 and t-1
        np.add(lags, excess, out=score[lo:hi])
        bound = threshold[lo:hi]
        with np.errstate(invalid="ignore"):  # 0 * inf when sd = 0, as in R
            np.subtract(z, lags, out=bound)
            bound *= sigma
            bound += x[lo:hi]
            np.maximum(bound, 0.0, out=bound)
        np.greater(x[lo:hi], bound, out=alarm[lo:hi])
    return DetectionResult(expected=expected, threshold=threshold, score=score, alarm=alarm)
