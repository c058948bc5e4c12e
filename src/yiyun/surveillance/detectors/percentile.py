"""Moving percentile method of China's CIDARS.

Yang W., Li Z., Lan Y., Wang J., Ma J., Jin L., et al. (2011). A nationwide
web-based automated system for outbreak early detection and rapid response in
China. Western Pac. Surveill. Response J. 2(1), 10-15; Li Z., Lai S., Zhang H.,
et al. (2014). Hand, foot and mouth disease in China: evaluating an automated
system for the detection of outbreaks. Bull. World Health Organ. 92, 656-663.

CIDARS compares the number of cases of the most recent 7 days with the same
period of the previous three years. For day ``t`` (defaults in brackets):

* statistic (``score``): the moving sum ``C_t = x[t-window+1] + ... + x[t]``
  over ``window`` [7] days (``window=1`` tests the day's own count);
* historical baseline: ``C_{t - y*year_length + j*step}`` for
  ``y = 1..years`` [3] and ``j = -half_span..half_span`` [2], i.e. the same
  7-day period of each earlier year with the two periods before and after it
  (15 values by default). ``year_length`` defaults to 364 days (52 whole weeks)
  so that each historical period covers the same weekdays as the current one;
* ``threshold``: the ``percentile`` [80th] of the baseline values
  (``numpy.percentile`` with ``method``, default linear interpolation);
  ``expected``: their median; alarm when ``C_t > threshold``.

Output is NaN until the earliest baseline period is available, i.e. for
``t < years*year_length + half_span*step + window - 1`` (1,112 days by default).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ._common import DetectionResult, FloatArray, as_counts, nan_like

__all__ = ["moving_percentile"]


def moving_percentile(
    counts: npt.ArrayLike,
    *,
    percentile: float = 80.0,
    window: int = 7,
    years: int = 3,
    half_span: int = 2,
    step: int = 7,
    year_length: int = 364,
    method: str = "linear",
) -> DetectionResult:
    """CIDARS moving percentile method (see the module docstring).

    ``counts``: daily counts ``(T,)`` or ``(T, S)``; ``percentile``: threshold
    percentile in [0, 100]; ``window``: days summed into the statistic;
    ``years``: number of previous years in the baseline; ``half_span``:
    periods taken before and after the matching period; ``step``: days
    between neighbouring periods; ``year_length``: days between the current
    period and the matching period a year earlier; ``method``: percentile
    method passed to :func:`numpy.percentile`.
    """
    if not 0.0 <= percentile <= 100.0:
        raise ValueError("percentile must lie in [0, 100]")
    if window < 1 or years < 1 or half_span < 0 or step < 1 or year_length < 1:
        raise ValueError("window, years, step and year_length must be >= 1; half_span >= 0")
    x = as_counts(counts)
    n_time = x.shape[0]
    expected, threshold, score = nan_like(x), nan_like(x), nan_like(x)
    alarm = np.zeros(x.shape, dtype=np.bool_)

    if n_time >= window:
        zero = np.zeros((1, *x.shape[1:]), dtype=np.float64)
        cumulative = np.concatenate([zero, np.cumsum(x, axis=0)])
        score[window - 1 :] = cumulative[window:] - cumulative[:-window]

    offsets = np.array(
        [
            y * year_length - j * step
            for y in range(1, years + 1)
            for j in range(-half_span, half_span + 1)
        ],
        dtype=np.intp,
    )
    first = int(offsets.max()) + window - 1
    if n_time <= first:
        return DetectionResult(expected=expected, threshold=threshold, score=score, alarm=alarm)

    times = np.arange(first, n_time)
    # (n, n_baseline) or, with series side by side, (n, S, n_baseline): baseline last
    if x.ndim == 1:
        history = score[times[:, np.newaxis] - offsets]
    else:
        columns = np.arange(x.shape[1])[np.newaxis, :, np.newaxis]
        history = score[times[:, np.newaxis, np.newaxis] - offsets, columns]
    if method == "linear":
        history.sort(axis=-1)
        threshold[first:] = _linear_quantile(history, percentile / 100.0)
        expected[first:] = _linear_quantile(history, 0.5)
    else:
        threshold[first:] = np.percentile(history, percentile, axis=-1, method=method)  # type: ignore[call-overload]
        expected[first:] = np.median(history, axis=-1)
    with np.errstate(invalid="ignore"):
        alarm[first:] = score[first:] > threshold[first:]
    return DetectionResult(expected=expected, threshold=threshold, score=score, alarm=alarm)


def _linear_quantile(ordered: FloatArray, q: float) -> FloatArray:
    """Quantile ``q`` of values sorted along the last axis (numpy's ``"linear"`` method)."""
    position = q * (ordered.shape[-1] - 1)
    lower = int(np.floor(position))
    upper = min(lower + 1, ordered.shape[-1] - 1)
    weight = position - lower
    a, b = ordered[..., lower], ordered[..., upper]
    diff = b - a
    # the same interpolation as numpy.lib._function_base_impl._lerp
    if weight >= 0.5:
        return np.asarray(b - diff * (1.0 - weight), dtype=np.float64)
    return np.asarray(a + diff * weight, dtype=np.float64)
