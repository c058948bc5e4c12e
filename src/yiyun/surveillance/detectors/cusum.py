"""Poisson CUSUM as in ``surveillance::algo.cusum``.

Rossi G., Lampugnani L., Marchi M. (1999). An approximate CUSUM procedure for
surveillance of health events. Statistics in Medicine 18, 2111-2122.

Definitions (identical to ``algo.cusum`` of the R package ``surveillance``):

* the first ``reference`` points form the reference period; unless ``m`` is
  given, the expectation is their mean (``m = NULL`` in R) and the monitored
  range starts at index ``reference`` (R's ``range[1] - 1 == reference``);
* each observation is standardised (``trans``), e.g. ``"standard"``:
  ``z_t = (x_t - m) / sqrt(m)``;
* ``S_t = max(0, S_{t-1} + z_t - k)`` with ``S_{reference-1} = 0``; alarm when
  ``S_t >= h``; ``score`` is ``S_t``;
* the upper bound is the smallest count that would make ``S_t`` reach ``h``
  given ``S_{t-1}``, e.g. ``ceiling(sqrt(m) * (h + k - S_{t-1}) + m)`` for
  ``"standard"``; NaN and negative bounds are set to 0 (as in R).

Defaults are R's: ``k = 1.04``, ``h = 2.26``, ``trans = "standard"``.
The recursion runs over time in a loop that is vectorised across series.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

from ._common import DetectionResult, FloatArray, as_counts, nan_like

__all__ = ["CusumTransform", "cusum"]

CusumTransform = Literal["standard", "rossi", "anscombe", "anscombe2nd", "pearsonNegBin", "none"]


def _standardise(x: FloatArray, m: FloatArray, trans: str, alpha: float) -> FloatArray:
    """Return the standardised observations used by the CUSUM recursion."""
    out: FloatArray
    with np.errstate(divide="ignore", invalid="ignore"):
        if trans == "standard":
            out = (x - m) / np.sqrt(m)
        elif trans == "rossi":
            out = (x - 3 * m + 2 * np.sqrt(x * m)) / (2 * np.sqrt(m))
        elif trans == "anscombe":
            out = 1.5 * (x ** (2 / 3) - m ** (2 / 3)) / m ** (1 / 6)
        elif trans == "anscombe2nd":
            out = (x ** (2 / 3) - (m ** (2 / 3) - m ** (-1 / 3) / 9)) / (2 / 3 * m ** (1 / 6))
        elif trans == "pearsonNegBin":
            out = (x - m) / np.sqrt(m + alpha * m**2)
        elif trans == "none":
            out = x.copy()
        else:
            raise ValueError(f"invalid trans {trans!r}")
    return out


def _upper_bound(
    m: FloatArray, prev: FloatArray, cur: FloatArray, trans: str, k: float, h: float, alpha: float
) -> FloatArray:
    """Return algo.cusum's upper bound given ``S_{t-1}`` (``prev``) and ``S_t`` (``cur``)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if trans == "standard":
            ub = np.ceil(np.sqrt(m) * (h + k - prev) + m)
        elif trans == "rossi":
            rm = np.sqrt(m)
            inner = 4 * m**2 + 2 * m**1.5 * h + 2 * m**1.5 * k - 2 * m**1.5 * prev
            ub = 2 * h * rm + 2 * k * rm - 2 * prev * rm + 5 * m - 2 * np.sqrt(inner)
        elif trans in ("anscombe", "anscombe2nd"):
            # R uses m^(1/3)/9 here (but m^(-1/3)/9 in the transform); kept as in R.
            shift = m ** (2 / 3) if trans == "anscombe" else m ** (2 / 3) - m ** (1 / 3) / 9
            v = 2 / 3 * m ** (1 / 6) * (h + k - prev) + shift
            ub = np.where(v < 0, 0.0, np.abs(v) ** 1.5)
            ub = np.where(np.isnan(v), np.nan, ub)
        elif trans == "pearsonNegBin":
            ub = np.sqrt(m + alpha * m**2) * (h + k - prev) + m
        else:  # "none"
            ub = h - cur
    # R: NaN bounds become 0, then negative bounds become 0.
    ub[np.isnan(ub)] = 0.0
    ub[ub < 0] = 0.0
    return ub


def cusum(
    counts: npt.ArrayLike,
    *,
    reference: int = 28,
    m: float | npt.ArrayLike | None = None,
    k: float = 1.04,
    h: float = 2.26,
    trans: CusumTransform = "standard",
    alpha: float = 0.1,
) -> DetectionResult:
    """Poisson CUSUM over a fixed reference period, as ``surveillance::algo.cusum``.

    ``counts``: counts ``(T,)`` or ``(T, S)``; ``reference``: number of leading
    points forming the reference period (monitoring starts at that index);
    ``m``: expected count -- ``None`` (mean of the reference period), a scalar,
    a per-series array ``(S,)`` or an array shaped like ``counts`` (time-varying
    expectation; entries in the reference period are ignored); ``k``:
    reference value (slack); ``h``: decision interval; ``trans``:
    standardisation (``"standard"``, ``"rossi"``, ``"anscombe"``,
    ``"anscombe2nd"``, ``"pearsonNegBin"``, ``"none"``); ``alpha``:
    negative-binomial overdispersion for ``"pearsonNegBin"``. Output is NaN in
    the reference period.
    """
    x = as_counts(counts)
    n_time = x.shape[0]
    if not 1 <= reference < n_time:
        raise ValueError("reference must satisfy 1 <= reference < len(counts)")
    if trans not in ("standard", "rossi", "anscombe", "anscombe2nd", "pearsonNegBin", "none"):
        raise ValueError(f"invalid trans {trans!r}")
    obs = x[reference:]
    if m is None:
        m_arr = np.broadcast_to(x[:reference].mean(axis=0), obs.shape)
    else:
        given = np.asarray(m, dtype=np.float64)
        m_arr = given[reference:] if given.shape == x.shape else np.broadcast_to(given, obs.shape)
    # An expectation constant over time is handled as a single broadcast row.
    m_row = m_arr[:1] if m_arr.ndim and m_arr.strides[0] == 0 else m_arr

    expected, threshold, score = nan_like(x), nan_like(x), nan_like(x)
    expected[reference:] = m_arr
    stat = score[reference:]
    if trans == "standard":
        root = np.sqrt(m_row)
        np.subtract(obs, m_row, out=stat)
        with np.errstate(divide="ignore", invalid="ignore"):
            stat /= root
    else:
        stat[...] = _standardise(obs, m_row, trans, alpha)
    # S_t = max(0, S_{t-1} + (z_t - k)), evaluated in the same order as R.
    stat -= k
    _accumulate(stat)

    bound = threshold[reference:]
    if trans == "standard":
        # ceiling(sqrt(m) * (h + k - S_{t-1}) + m) with S = 0 before the range
        bound[0] = h + k
        np.subtract(h + k, stat[:-1], out=bound[1:])
        with np.errstate(invalid="ignore"):
            bound *= root
            bound += m_row
            np.ceil(bound, out=bound)
            np.fmax(bound, 0.0, out=bound)  # NaN and negative bounds become 0, as in R
    else:
        previous = np.empty_like(stat)
        previous[0] = 0.0
        previous[1:] = stat[:-1]
        bound[...] = _upper_bound(m_row, previous, stat, trans, k, h, alpha)
    alarm = np.zeros(x.shape, dtype=np.bool_)
    with np.errstate(invalid="ignore"):
        np.greater_equal(stat, h, out=alarm[reference:])
    return DetectionResult(expected=expected, threshold=threshold, score=score, alarm=alarm)


def _accumulate(stat: FloatArray) -> None:
    """Turn ``z_t - k`` into ``S_t = max(0, S_{t-1} + (z_t - k))`` in place (``S_{-1} = 0``).

    NaN propagates as with R's ``max``. One series: a plain float loop; several:
    a loop over time vectorised across the series.
    """
    if stat.ndim == 1:
        current = 0.0
        values = stat.tolist()
        for i, step in enumerate(values):
            current = current + step
            if current < 0.0:  # False for NaN, which therefore propagates
                current = 0.0
            values[i] = current
        stat[:] = values
        return
    with np.errstate(invalid="ignore"):
        np.maximum(stat[0], 0.0, out=stat[0])
        for t in range(1, stat.shape[0]):
            row = stat[t]
            row += stat[t - 1]
            np.maximum(row, 0.0, out=row)
