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

from ._common import DetectionResult, as_counts, moving_baseline, nan_like

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
    mean, sd = moving_baseline(x, baseline, lag)
    first = baseline + lag
    expected, threshold, score = nan_like(x), nan_like(x), nan_like(x)
    alarm = np.zeros(x.shape, dtype=np.bool_)
    if x.shape[0] <= first:
        return DetectionResult(expected=expected, threshold=threshold, score=score, alarm=alarm)

    mu = mean[first:]
    sigma = np.maximum(sd[first:], min_sigma)
    start = mu[0]
    decay = 1.0 - lam
    # E_t = lam x_t + (1 - lam) E_{t-1} as a first-order IIR filter along time.
    smoothed = lfilter([lam], [1.0, -decay], x[first:], axis=0, zi=(decay * start)[np.newaxis])[0]
    previous = np.concatenate([start[np.newaxis], smoothed[:-1]])
    steps = np.arange(1, mu.shape[0] + 1, dtype=np.float64)
    factor = np.sqrt(lam / (2.0 - lam) * (1.0 - decay ** (2.0 * steps)))
    if x.ndim == 2:
        factor = factor[:, np.newaxis]
    spread = sigma * factor
    upper = mu + limit * spread
    with np.errstate(divide="ignore", invalid="ignore"):
        score[first:] = (smoothed - mu) / spread
        alarm[first:] = smoothed > upper
    expected[first:] = mu
    threshold[first:] = (upper - decay * previous) / lam
    return DetectionResult(expected=expected, threshold=threshold, score=score, alarm=alarm)
