"""EWMA control chart on a moving baseline.

Roberts S.W. (1959). Control chart tests based on geometric moving averages.
Technometrics 1(3), 239-250; Montgomery D.C. (2009). Introduction to
Statistical Quality Control, 6th ed., section 9.2. The moving-baseline use for
syndromic data follows the EWMA of the ESSENCE system (Burkom H., 2007,
"Alerting algorithms for biosurveillance", in Wilson, Fienberg, Burkom (eds.),
Biosurveillance: Methods and Case Studies).

For day ``t`` (``first = baseline + lag``):

* baseline ``mu_t``, ``sd_t``: mean and sample sd of ``x[t-lag-baseline : t-lag]``;
  ``sigma_t = max(sd_t, min_sigma)``;
* ``E_t = lam * x_t + (1 - lam) * E_{t-1}``, started at ``E_{first-1} = mu_first``;
* ``s_t = sigma_t * sqrt(lam / (2 - lam) * (1 - (1 - lam)^(2 i)))`` with
  ``i = t - first + 1`` (exact variance of the EWMA after ``i`` steps);
* ``score = (E_t - mu_t) / s_t``; alarm when ``E_t > mu_t + L * s_t``;
* ``expected = mu_t``; ``threshold`` is the same limit expressed on the count
  scale: ``(mu_t + L * s_t - (1 - lam) * E_{t-1}) / lam``, the largest count
  that does not raise an alarm.

There is no directly equivalent function in the R package ``surveillance``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.signal import lfilter

from ._common import (
    DetectionResult,
    FloatArray,
    as_counts,
    baseline_block,
    check_baseline,
    nan_like,
    row_blocks,
)

__all__ = ["ewma"]


def ewma(
    counts: npt.ArrayLike,
    *,
    lam: float = 0.4,
    limit: float = 3.0,
    baseline: int = 28,
    lag: int = 2,
    min_sigma: float = 0.0,
) -> DetectionResult:
    """EWMA chart with limits from a moving baseline (see the module docstring).

    ``counts``: daily counts ``(T,)`` or ``(T, S)``; ``lam``: smoothing weight
    in (0, 1]; ``limit``: width ``L`` of the control limit in EWMA standard
    deviations; ``baseline``: baseline length in days (>= 2); ``lag``: guard
    band in days between baseline and current day; ``min_sigma``: floor on the
    baseline sd. Output is NaN for the first ``baseline + lag`` days.
    """
    if not 0.0 < lam <= 1.0:
        raise ValueError("lam must lie in (0, 1]")
    if limit <= 0:
        raise ValueError("limit must be positive")
    if min_sigma < 0:
        raise ValueError("min_sigma must be non-negative")
    x = as_counts(counts)
    check_baseline(baseline, lag)
    first = baseline + lag
    expected, threshold, score = nan_like(x), nan_like(x), nan_like(x)
    alarm = np.zeros(x.shape, dtype=np.bool_)
    if x.shape[0] <= first:
        return DetectionResult(expected=expected, threshold=threshold, score=score, alarm=alarm)

    decay = 1.0 - lam
    # E_{t-1} for the first row of each block; E_{first-1} = mu_first
    before = np.empty_like(x[first : first + 1])
    baseline_block(x, baseline, lag, first, first + 1, before, np.empty_like(before))
    steps = np.arange(1, x.shape[0] - first + 1, dtype=np.float64)
    factor = np.sqrt(lam / (2.0 - lam) * (1.0 - decay ** (2.0 * steps)))
    if x.ndim == 2:
        factor = factor[:, np.newaxis]
    for lo, hi in row_blocks(x, first):
        mu = expected[lo:hi]
        spread = np.empty_like(mu)
        baseline_block(x, baseline, lag, lo, hi, mu, spread)
        if min_sigma:
            np.maximum(spread, min_sigma, out=spread)
        spread *= factor[lo - first : hi - first]
        upper = spread * limit
        upper += mu
        now = _smooth(x[lo:hi], lam, decay, before[0])
        stat = score[lo:hi]
        np.subtract(now, mu, out=stat)
        with np.errstate(divide="ignore", invalid="ignore"):
            stat /= spread
            np.greater(now, upper, out=alarm[lo:hi])
        # count-scale limit: (upper_t - (1 - lam) E_{t-1}) / lam
        bound = threshold[lo:hi]
        np.multiply(before, decay, out=bound[:1])
        np.multiply(now[:-1], decay, out=bound[1:])
        np.subtract(upper, bound, out=bound)
        bound /= lam
        before = now[-1:]
    return DetectionResult(expected=expected, threshold=threshold, score=score, alarm=alarm)


def _smooth(x: FloatArray, lam: float, decay: float, start: FloatArray) -> FloatArray:
    """Return ``E_t = lam * x_t + decay * E_{t-1}`` with ``E_{-1} = start``, along axis 0.

    Both branches perform the same floating-point operations in the same order.
    """
    if x.ndim == 1 or x.shape[1] < 32:
        # IIR filter; for many series a loop over time vectorised across them is faster.
        out: FloatArray = lfilter([lam], [1.0, -decay], x, axis=0, zi=(decay * start)[np.newaxis])[
            0
        ]
        return out
    smoothed = x * lam
    smoothed[0] += decay * start
    carry = np.empty(x.shape[1:])
    for t in range(1, x.shape[0]):
        np.multiply(smoothed[t - 1], decay, out=carry)
        smoothed[t] += carry
    return smoothed
