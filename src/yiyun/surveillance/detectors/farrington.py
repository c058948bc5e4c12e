"""Improved Farrington method, as ``surveillance::farringtonFlexible``.

Farrington C.P., Andrews N.J., Beale A.D., Catchpole M.A. (1996). A statistical
algorithm for the early detection of outbreaks of infectious disease.
J. R. Stat. Soc. A 159, 547-563. Noufaily A., Enki D.G., Farrington C.P.,
Garthwaite P., Andrews N.J., Charlett A. (2013). An improved algorithm for
outbreak detection in multiple surveillance systems. Stat. Med. 32, 1206-1222.
Salmon M., Schumacher D., Höhle M. (2016). Monitoring count time series in R:
aberration detection in public health surveillance. J. Stat. Softw. 70(10).

The defaults are those of Noufaily et al.'s improved method as given in the
``farringtonFlexible`` documentation example (except ``b = 3`` years):
``noPeriods = 10``, ``w = 3``, ``weightsThreshold = 2.58``,
``pastWeeksNotIncluded = 26``, ``pThresholdTrend = 1``, ``alpha = 0.05``,
``limit54 = (5, 4)``, ``populationOffset = FALSE``, and the negative-binomial
plug-in threshold ``thresholdMethod = "nbPlugin"`` used in the paper.

For every time point ``k`` (step by step as the R code, with R's 1-based
``k`` replaced by 0-based indices):

1. Reference data: points ``k - i*freq + [-w, w]`` for ``i = 1..b`` get
   factor level ``noPeriods``; when ``noPeriods > 1`` the ``freq - 2w - 1``
   points between two reference windows are cut into ``noPeriods - 1`` blocks
   (the first ``(freq - 2w - 1) mod (noPeriods - 1)`` one point longer) with
   levels ``1..noPeriods-1``. The last ``pastWeeksNotIncluded + 1`` points
   (``k - pastWeeksNotIncluded .. k``) are dropped.
2. Quasi-Poisson log-linear GLM ``count ~ 1 + time + level`` (time trend if
   ``trend``; level factor if ``noPeriods > 1``). If the fit with trend does
   not converge, it is refitted without; without convergence no result.
3. Dispersion ``phi = max(Pearson X^2 / df, 1)``; Anscombe residuals
   ``s = 3/2 (y^(2/3) mu^(-1/6) - mu^(1/2)) / sqrt(phi (1 - h))``; weights
   ``gamma / s^2`` where ``s > weightsThreshold``, ``gamma`` elsewhere, with
   ``gamma`` making them average 1; refit with these weights and recompute
   ``phi``.
4. The trend is kept if ``b >= 3``, its t-test p-value is below
   ``pThresholdTrend`` and the prediction for ``k`` does not exceed the largest
   reference count; otherwise steps 2-3 are repeated without trend.
5. Threshold (``1 - alpha`` quantile of the predictive distribution):
   ``"nbPlugin"``: negative binomial with mean ``exp(eta_0)`` and variance
   ``phi * mean`` (Poisson if ``phi == 1``); ``"muan"``: the same with the mean
   replaced by ``exp(eta_0 + z_{1-alpha} se(eta_0))``; ``"delta"``: the
   original power-transformed normal approximation (``powertrans``).
6. Exceedance score ``(y - f) / (U - f)`` where ``f`` is the prediction on the
   scale R uses (link scale for ``nbPlugin``/``muan``, response for
   ``delta``); alarm when the score exceeds 1, ``y > 0`` and at least
   ``limit54[0]`` cases occurred in the last ``limit54[1]`` points. As in R,
   ``threshold`` and ``expected`` are NaN where that case count is not met.

Because the reference layout relative to ``k`` is the same for every ``k``
(index-based periodicity ``freq``), all (time point, series) pairs share one
design matrix and are fitted together by the batched IRLS of :mod:`._glm`.
Weekly data use ``freq = 52``; daily data ``freq = 365`` (calendar drift of a
day per leap year is ignored, as in R with ``epochAsDate = FALSE``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from ._common import BoolArray, DetectionResult, FloatArray, as_counts
from ._farrington_model import FitFunction, PowerTransform, ThresholdMethod, evaluate
from ._glm import fit_quasipoisson, fit_quasipoisson_statsmodels

__all__ = ["FarringtonResult", "farrington_flexible", "reference_layout"]

Engine = Literal["numpy", "statsmodels"]
# Upper bound on the number of response values fitted in one batch (memory).
_BATCH_VALUES = 4_000_000


@dataclass(frozen=True, slots=True)
class FarringtonResult(DetectionResult):
    """:class:`DetectionResult` plus ``phi`` (dispersion) and ``trend`` (trend kept) per point."""

    phi: FloatArray
    trend: BoolArray


def reference_layout(
    freq: int, b: int, w: int, no_periods: int, past_weeks_not_included: int
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Return ``(offsets, levels)`` of the reference points relative to the current point.

    ``offsets`` are negative index offsets from ``k`` (ascending), ``levels``
    their factor level in ``1..no_periods``; parameters as in
    :func:`farrington_flexible`.
    """
    span = b * freq + w
    factors = np.zeros(span + 1, dtype=np.intp)  # position j <-> offset j - span; 0 = unused

    def put(lo: int, hi: int, level: int) -> None:
        factors[lo + span : hi + span + 1] = level

    put(-w, 0, no_periods)
    for i in range(1, b + 1):
        ref = -i * freq
        put(ref - w, ref + w, no_periods)
        if no_periods != 1:
            period = freq - 2 * w - 1
            if period < no_periods - 1:
                raise ValueError("Number of factors too big!")
            length, rest = divmod(period, no_periods - 1)
            lengths = np.full(no_periods - 1, length)
            lengths[:rest] += 1
            edges = np.concatenate([[0], np.cumsum(lengths)])
            for j in range(1, no_periods):
                put(ref + w + 1 + int(edges[j - 1]), ref + w + int(edges[j]), j)
    factors[span - past_weeks_not_included :] = 0
    keep = np.flatnonzero(factors)
    return (keep - span).astype(np.intp), factors[keep]


def _design(
    offsets: npt.NDArray[np.intp], levels: npt.NDArray[np.intp], freq: int, no_periods: int
) -> tuple[FloatArray, FloatArray]:
    """Return the design with trend ``(n, p)`` and the prediction row ``(p,)`` for ``k``.

    Column 0 is the intercept, column 1 the time (offset / freq; centred on
    ``k`` which leaves fitted values unchanged), then treatment dummies.
    """
    columns = [np.ones(offsets.size), offsets / freq]
    row = [1.0, 0.0]
    if no_periods != 1:
        present = np.unique(levels)
        for level in present[1:]:
            columns.append((levels == level).astype(np.float64))
            row.append(1.0 if level == no_periods else 0.0)
    return np.column_stack(columns), np.asarray(row)


def _time_points(n_time: int, first: int, time_points: int | Iterable[int] | None) -> list[int]:
    """Resolve requested time points (negative = from the end) and check they are computable."""
    if time_points is None:
        return list(range(first, n_time))
    requested = [time_points] if isinstance(time_points, int) else list(time_points)
    resolved = sorted({t + n_time if t < 0 else t for t in requested})
    for t in resolved:
        if not first <= t < n_time:
            raise ValueError(
                f"time point {t} is not computable: needs {first} <= t < {n_time} "
                "(b*freq + w earlier points)"
            )
    return resolved


def farrington_flexible(
    counts: npt.ArrayLike,
    *,
    freq: int = 52,
    b: int = 3,
    w: int = 3,
    no_periods: int = 10,
    past_weeks_not_included: int = 26,
    reweight: bool = True,
    weights_threshold: float = 2.58,
    alpha: float = 0.05,
    trend: bool = True,
    p_threshold_trend: float = 1.0,
    limit54: tuple[int, int] = (5, 4),
    powertrans: PowerTransform = "2/3",
    threshold_method: ThresholdMethod = "nbPlugin",
    time_points: int | Iterable[int] | None = None,
    engine: Engine = "numpy",
) -> FarringtonResult:
    """Improved Farrington method (Noufaily et al.) following ``farringtonFlexible``.

    ``counts``: counts ``(T,)`` or ``(T, S)``; ``freq``: points per year (52
    weekly, 365 daily); ``b``: years back; ``w``: window half-width;
    ``no_periods``: levels of the seasonal factor (1 = original Farrington
    windows only); ``past_weeks_not_included``: most recent points excluded
    from the reference; ``reweight``/``weights_threshold``: down-weighting of
    past outbreaks by Anscombe residuals; ``alpha``: one-sided level of the
    threshold; ``trend``/``p_threshold_trend``: time trend and its keep
    threshold; ``limit54``: ``(cases, points)`` minimum for an alarm;
    ``powertrans``: transform of the ``"delta"`` threshold;
    ``threshold_method``: ``"nbPlugin"``, ``"muan"`` or ``"delta"``;
    ``time_points``: indices to evaluate (default: every point from
    ``b*freq + w`` on; ``-1`` for today only); ``engine``: ``"numpy"``
    (batched IRLS) or ``"statsmodels"`` (one GLM at a time, cross-check).
    Points not evaluated are NaN.
    """
    x = as_counts(counts)
    if threshold_method not in ("nbPlugin", "muan", "delta"):
        raise ValueError(f"invalid threshold_method {threshold_method!r}")
    if powertrans not in ("2/3", "1/2", "none"):
        raise ValueError(f"invalid powertrans {powertrans!r}")
    if not (limit54[0] >= 0 and limit54[1] > 0):
        raise ValueError("The limit54 arguments are out of bounds: cases >= 0 and period > 0.")
    if min(freq, b, no_periods) < 1 or w < 0 or past_weeks_not_included < 0:
        raise ValueError("freq, b, no_periods must be >= 1; w, past_weeks_not_included >= 0")
    matrix = x.reshape(x.shape[0], -1)
    n_time, n_series = matrix.shape
    first = b * freq + w
    ks = np.asarray(_time_points(n_time, first, time_points), dtype=np.intp)

    out = {
        name: np.full(matrix.shape, np.nan) for name in ("expected", "threshold", "score", "phi")
    }
    alarm = np.zeros(matrix.shape, dtype=np.bool_)
    trend_kept = np.zeros(matrix.shape, dtype=np.bool_)
    if ks.size:
        offsets, levels = reference_layout(freq, b, w, no_periods, past_weeks_not_included)
        x_trend, row = _design(offsets, levels, freq, no_periods)
        fit: FitFunction = fit_quasipoisson if engine == "numpy" else fit_quasipoisson_statsmodels
        pairs_k = np.repeat(ks, n_series)
        pairs_s = np.tile(np.arange(n_series), ks.size)
        per_batch = max(1, _BATCH_VALUES // max(offsets.size, 1))
        for lo in range(0, pairs_k.size, per_batch):
            kk = pairs_k[lo : lo + per_batch]
            ss = pairs_s[lo : lo + per_batch]
            y_ref = matrix[kk[:, np.newaxis] + offsets, ss[:, np.newaxis]]
            res = evaluate(
                fit,
                x_trend,
                row,
                y_ref,
                matrix[kk, ss],
                trend,
                reweight,
                weights_threshold,
                b,
                p_threshold_trend,
                threshold_method,
                powertrans,
                alpha,
            )
            window = kk[:, np.newaxis] - np.arange(limit54[1])
            enough = matrix[window, ss[:, np.newaxis]].sum(axis=1) >= limit54[0]
            upper, score, expected, phi, kept = res
            valid = ~np.isnan(upper)
            out["threshold"][kk, ss] = np.where(enough, upper, np.nan)
            out["expected"][kk, ss] = np.where(enough & valid, expected, np.nan)
            out["score"][kk, ss] = score
            out["phi"][kk, ss] = phi
            trend_kept[kk, ss] = kept
            with np.errstate(invalid="ignore"):
                alarm[kk, ss] = enough & (score > 1.0) & (matrix[kk, ss] != 0)

    shape = x.shape
    return FarringtonResult(
        expected=out["expected"].reshape(shape),
        threshold=out["threshold"].reshape(shape),
        score=out["score"].reshape(shape),
        alarm=alarm.reshape(shape),
        phi=out["phi"].reshape(shape),
        trend=trend_kept.reshape(shape),
    )
