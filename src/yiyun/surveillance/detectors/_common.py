"""Shared pieces of the detectors: the result type, input checks and moving baselines.

Every detector takes a count series shaped ``(T,)`` or ``(T, S)`` (time along
axis 0, ``S`` independent series side by side) and returns a
:class:`DetectionResult` of arrays with the same shape. Values that cannot be
computed (baseline window not yet full, reference period, ...) are ``NaN`` and
the alarm there is ``False``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

# Largest integer below which float64 arithmetic on integers is exact.
_EXACT_INT_LIMIT = float(2**53)
# Values per row block of the moving-baseline sums (about 1 MB, fits in cache).
_BLOCK_VALUES = 131_072


@dataclass(frozen=True, slots=True)
class DetectionResult:
    """Per-time-point output of a detector (all arrays share the input's shape).

    ``expected``: baseline expectation; ``threshold``: upper bound the
    observation is compared with; ``score``: the method's test statistic;
    ``alarm``: ``True`` where the method signals an aberration.
    """

    expected: FloatArray
    threshold: FloatArray
    score: FloatArray
    alarm: BoolArray


def as_counts(counts: npt.ArrayLike, *, name: str = "counts") -> FloatArray:
    """Return ``counts`` as a float64 array of shape ``(T,)`` or ``(T, S)``.

    ``counts``: non-negative, finite observations, time along axis 0.
    Raises :class:`ValueError` for other shapes or invalid values.
    """
    arr = np.ascontiguousarray(counts, dtype=np.float64)  # row blocks need C order
    if arr.ndim not in (1, 2):
        raise ValueError(f"{name} must be 1-D (T,) or 2-D (T, S), got shape {arr.shape}")
    if arr.size and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite (no NaN or infinity)")
    if arr.size and np.any(arr < 0):
        raise ValueError(f"{name} must be non-negative")
    return arr


def nan_like(x: FloatArray) -> FloatArray:
    """Return an array of NaN with the shape of ``x``."""
    return np.full(x.shape, np.nan, dtype=np.float64)


def _exact_integer_sums(x: FloatArray, window: int) -> bool:
    """Tell whether window sums of ``x`` and ``x**2`` are exact in float64 (integer data)."""
    if x.size == 0:
        return True
    peak = float(x.max())
    if window * window * peak * peak >= _EXACT_INT_LIMIT:
        return False
    return bool(np.array_equal(x, np.floor(x)))


def row_blocks(x: FloatArray, first: int) -> Iterator[tuple[int, int]]:
    """Yield ``(lo, hi)`` row ranges covering ``first .. len(x)-1`` in cache-sized blocks."""
    width = int(np.prod(x.shape[1:], dtype=np.int64))
    step = max(16, _BLOCK_VALUES // max(width, 1))
    for lo in range(first, x.shape[0], step):
        yield lo, min(lo + step, x.shape[0])


def baseline_block(
    x: FloatArray, window: int, lag: int, lo: int, hi: int, mean: FloatArray, sd: FloatArray
) -> None:
    """Write the moving-baseline mean and sd of times ``lo .. hi-1`` into ``mean`` and ``sd``.

    ``mean``/``sd``: arrays shaped like ``x[lo:hi]``; see :func:`moving_baseline`.
    Requires ``lo >= window + lag``.
    """
    rows = x[lo - lag - window : hi - lag]  # the inputs of outputs lo .. hi-1
    if _exact_integer_sums(rows, window):
        # Integer counts: window sums are exact, so n*S2 - S1^2 is exact too and the
        # variance carries a single rounding (at least as exact as the two-pass formula).
        s1, s2 = _window_sums(rows, window, hi - lo)
        np.divide(s1, window, out=mean)
        s1 *= s1
        s2 *= window
        s2 -= s1
        s2 /= window * (window - 1)
        np.sqrt(s2, out=sd)
    else:
        windows = np.lib.stride_tricks.sliding_window_view(rows[:-1], window, axis=0)
        np.mean(windows, axis=-1, out=mean)
        np.std(windows, axis=-1, ddof=1, out=sd)


def moving_baseline(x: FloatArray, window: int, lag: int = 0) -> tuple[FloatArray, FloatArray]:
    """Mean and sample standard deviation of a moving baseline, aligned to each time point.

    ``x``: array ``(T,)`` or ``(T, S)``; ``window``: number of baseline points
    (at least 2); ``lag``: points skipped between the baseline and the current
    time (guard band). For time ``t`` the baseline is ``x[t-lag-window : t-lag]``;
    both outputs are NaN for ``t < window + lag``.
    """
    check_baseline(window, lag)
    mean, sd = nan_like(x), nan_like(x)
    for lo, hi in row_blocks(x, window + lag):  # blocks of rows stay in cache
        baseline_block(x, window, lag, lo, hi, mean[lo:hi], sd[lo:hi])
    return mean, sd


def check_baseline(window: int, lag: int) -> None:
    """Validate moving-baseline parameters."""
    if window < 2:
        raise ValueError("window must be at least 2")
    if lag < 0:
        raise ValueError("lag must be non-negative")


def _window_sums(x: FloatArray, window: int, n_out: int) -> tuple[FloatArray, FloatArray]:
    """Sums of ``x`` and ``x**2`` over ``x[i : i+window]`` for ``i = 0 .. n_out-1``.

    Only used for integer data, where every partial sum is exact in float64 and
    the order of the additions therefore does not matter.
    """
    return _window_sum(x, window, n_out), _window_sum(x * x, window, n_out)


def _window_sum(values: FloatArray, window: int, n_out: int) -> FloatArray:
    """Moving sums by doubling: ``O(log window)`` array additions.

    ``span`` holds sums over ``2**j`` consecutive points; the window is the sum of
    the spans of its binary digits, taken at increasing offsets.
    """
    total: FloatArray | None = None
    offset = 0
    span = values
    length = 1
    remaining = window
    while True:
        if remaining & 1:
            part = span[offset : offset + n_out]
            if total is None:
                total = part.copy()
            else:
                total += part
            offset += length
        remaining >>= 1
        if not remaining:
            break
        span = span[:-length] + span[length:]  # sums over 2 * length points
        length *= 2
    if total is None:
        raise ValueError("window must be positive")
    return total
