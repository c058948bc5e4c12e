"""Run a detector over a long table of daily counts (pandas glue around the numpy detectors).

Input: one row per ``date, site, syndrome`` with the day's ``count``. Each
(site, syndrome) pair becomes one daily series over the common date range of
the table (days without a row count as zero); in addition the sites are
summed per syndrome into a district series with ``site = DISTRICT_SITE``.
All series are analysed in one vectorised call of the chosen method.

Method names (as used by the command line): ``ears-c1``, ``ears-c2``,
``ears-c3``, ``cusum``, ``ewma``, ``farrington``, ``percentile``. Farrington is
applied to the daily points with ``freq = 365`` (other parameters as
:func:`~yiyun.surveillance.detectors.farrington.farrington_flexible`, counted in
days), which is what ``farringtonFlexible`` does on a daily series.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ._common import DetectionResult
from .cusum import cusum
from .ears import ears_c1, ears_c2, ears_c3
from .ewma import ewma
from .farrington import farrington_flexible
from .percentile import moving_percentile

__all__ = [
    "DISTRICT_SITE",
    "INPUT_COLUMNS",
    "METHODS",
    "OUTPUT_COLUMNS",
    "detect_frame",
    "run_method",
]

DISTRICT_SITE = "*ALL*"
INPUT_COLUMNS = ("date", "site", "syndrome", "count")
OUTPUT_COLUMNS = ("expected", "threshold", "score", "alarm")

Detector = Callable[..., DetectionResult]

METHODS: Mapping[str, Detector] = {
    "ears-c1": ears_c1,
    "ears-c2": ears_c2,
    "ears-c3": ears_c3,
    "cusum": cusum,
    "ewma": ewma,
    "farrington": farrington_flexible,
    "percentile": moving_percentile,
}

# Parameters that differ from the functions' own defaults when run on daily data.
_DAILY_DEFAULTS: Mapping[str, Mapping[str, Any]] = {"farrington": {"freq": 365}}


def run_method(
    method: str, counts: npt.ArrayLike, params: Mapping[str, Any] | None = None
) -> DetectionResult:
    """Run the named method on daily counts ``(T,)`` or ``(T, S)``.

    ``method``: a key of :data:`METHODS`; ``params``: keyword arguments
    overriding the method's (daily) defaults.
    """
    try:
        detector = METHODS[method]
    except KeyError:
        raise ValueError(f"unknown method {method!r}; choose from {', '.join(METHODS)}") from None
    kwargs = {**_DAILY_DEFAULTS.get(method, {}), **(params or {})}
    return detector(counts, **kwargs)


def detect_frame(
    frame: pd.DataFrame,
    method: str,
    *,
    params: Mapping[str, Any] | None = None,
    district: bool = True,
    district_site: str = DISTRICT_SITE,
) -> pd.DataFrame:
    """Return ``frame``'s rows (plus district rows) with ``expected, threshold, score, alarm``.

    ``frame``: columns ``date`` (datetime-like, daily), ``site``, ``syndrome``,
    ``count`` (non-negative integers), one row per date/site/syndrome;
    ``method``/``params``: as :func:`run_method`; ``district``: also analyse
    the per-syndrome sum over sites, appended with ``site = district_site``.
    Raises :class:`ValueError` on missing columns or duplicate rows.
    """
    missing = [c for c in INPUT_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"missing column(s): {', '.join(missing)}")
    data = frame.loc[:, list(INPUT_COLUMNS)].copy()
    data["date"] = pd.to_datetime(data["date"]).dt.normalize()
    if data.duplicated(["date", "site", "syndrome"]).any():
        raise ValueError("duplicate rows for the same date, site and syndrome")
    if data.empty:
        empty = frame.copy()
        for column in OUTPUT_COLUMNS:
            empty[column] = pd.Series(dtype=bool if column == "alarm" else float)
        return empty

    days = pd.date_range(data["date"].min(), data["date"].max(), freq="D")
    t_index = ((data["date"] - days[0]) // pd.Timedelta(days=1)).to_numpy(dtype=np.intp)
    keys = pd.MultiIndex.from_frame(data[["site", "syndrome"]])
    series_keys, s_index = _codes(keys)
    n_series = len(series_keys)
    counts = np.zeros((len(days), n_series), dtype=np.float64)
    counts[t_index, s_index] = data["count"].to_numpy(dtype=np.float64)

    syndromes: list[Any] = []
    if district:
        syndromes = sorted(data["syndrome"].unique(), key=str)
        syndrome_pos = {name: i for i, name in enumerate(syndromes)}
        totals = np.zeros((len(days), len(syndromes)))
        owner = np.array([syndrome_pos[key[1]] for key in series_keys], dtype=np.intp)
        np.add.at(totals.T, owner, counts.T)
        counts = np.hstack([counts, totals])

    result = run_method(method, counts, params)

    out = frame.copy()
    for column in OUTPUT_COLUMNS:
        out[column] = getattr(result, column)[t_index, s_index]
    if not district:
        return out
    n_days, n_syn = len(days), len(syndromes)
    cols = n_series + np.repeat(np.arange(n_syn), n_days)
    rows = np.tile(np.arange(n_days), n_syn)
    extra = pd.DataFrame(
        {
            "date": np.tile(days.to_numpy(), n_syn) if n_syn else days[:0],
            "site": district_site,
            "syndrome": np.repeat(np.asarray(syndromes, dtype=object), n_days),
            "count": counts[rows, cols].astype(np.int64),
            **{column: getattr(result, column)[rows, cols] for column in OUTPUT_COLUMNS},
        }
    )
    if not pd.api.types.is_datetime64_any_dtype(out["date"]):
        extra["date"] = extra["date"].dt.strftime("%Y-%m-%d")
    return pd.concat([out, extra], ignore_index=True)


def _codes(keys: pd.MultiIndex) -> tuple[list[tuple[Any, Any]], npt.NDArray[np.intp]]:
    """Return the distinct (site, syndrome) pairs in first-seen order and each row's position."""
    codes, uniques = pd.factorize(keys)
    return list(uniques), np.asarray(codes, dtype=np.intp)
