"""The daily detection run.

For every site x syndrome and for the district total of each syndrome, the configured
methods (`detectors`) run on the stored history; an alarm on one of the evaluated days
becomes a signal (once per series, day and method), which merges into its series' open
alert or opens one (`alerts.py`, which also holds `escalate`). A site's signal needs at
least `min_count` cases that day, so one or two cases over a near-zero baseline do not
page anyone. The response KPIs are `service.kpi`.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.audit import service as audit
from yiyun.audit.service import SYSTEM, Actor
from yiyun.core.bus import EventBus
from yiyun.core.clock import now as clock_now
from yiyun.org.enums import InstitutionKind
from yiyun.org.models import Institution
from yiyun.surveillance import alerts, syndromes
from yiyun.surveillance.alerts import Key, escalate
from yiyun.surveillance.config import SurveillanceSettings
from yiyun.surveillance.detectors import METHODS, run_method
from yiyun.surveillance.models import DailyCount, local_date

__all__ = [
    "RunSummary",
    "SurveillanceSettings",
    "default_as_of",
    "escalate",
    "history_needed",
    "run",
]
logger = logging.getLogger(__name__)
COVERAGE_DAYS = 28  # recent baseline days checked for reports
MIN_COVERAGE = 0.7  # share of them that must have been reported


@dataclass
class RunSummary:
    as_of: date
    days: int
    series: int = 0
    signals: int = 0
    alerts_created: int = 0
    alerts_merged: int = 0
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0


def history_needed(method: str, params: Mapping[str, Any] | None = None) -> int:
    """Days of history a method needs before the first day it can judge."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}")
    p = dict(params or {})
    if method.startswith("ears-"):
        return int(p.get("baseline", 7)) + {"ears-c1": 0, "ears-c2": 2, "ears-c3": 4}[method]
    if method == "cusum":
        return int(p.get("reference", 28))
    if method == "ewma":
        return int(p.get("baseline", 28)) + int(p.get("lag", 2))
    if method == "farrington":
        return int(p.get("b", 3)) * int(p.get("freq", 365)) + int(p.get("w", 3))
    return (
        int(p.get("years", 3)) * int(p.get("year_length", 364))
        + int(p.get("half_span", 2)) * int(p.get("step", 7))
        + int(p.get("window", 7))
    )


def default_as_of(now: datetime | None = None) -> date:
    """Yesterday in the district: the last complete day."""
    return local_date(now or clock_now()) - timedelta(days=1)


# --- series --------------------------------------------------------------------------------


@dataclass
class _Series:
    """Counts `(days, series)` from `start`, and whether anything was reported that day."""

    keys: list[Key]
    start: date
    counts: npt.NDArray[np.float64]
    present: npt.NDArray[np.bool_]


async def _site_series(
    session: AsyncSession, sites: list[int], codes: list[str], start: date, end: date
) -> _Series:
    keys: list[Key] = [(s, c) for s in sites for c in codes]
    column = {k: i for i, k in enumerate(keys)}
    shape = ((end - start).days + 1, len(keys))
    series = _Series(keys, start, np.zeros(shape), np.zeros(shape, dtype=np.bool_))
    query = select(DailyCount.institution_id, DailyCount.syndrome, DailyCount.on, DailyCount.count)
    query = query.where(DailyCount.on.between(start, end), DailyCount.syndrome.in_(codes))
    for site, code, on, count in (await session.execute(query)).all():
        col = column.get((site, code))
        if col is not None:
            series.counts[(on - start).days, col] = count
            series.present[(on - start).days, col] = True
    return series


async def _district_series(
    session: AsyncSession, codes: list[str], start: date, end: date
) -> _Series:
    keys: list[Key] = [(None, c) for c in codes]
    column = {c: i for i, c in enumerate(codes)}
    shape = ((end - start).days + 1, len(keys))
    series = _Series(keys, start, np.zeros(shape), np.zeros(shape, dtype=np.bool_))
    query = (
        select(DailyCount.syndrome, DailyCount.on, func.sum(DailyCount.count))
        .where(DailyCount.on.between(start, end), DailyCount.syndrome.in_(codes))
        .group_by(DailyCount.syndrome, DailyCount.on)
    )
    for code, on, total in (await session.execute(query)).all():
        series.counts[(on - start).days, column[code]] = float(total or 0)
        series.present[(on - start).days, column[code]] = True
    return series


def _finite(value: float) -> float:
    return float(value) if math.isfinite(value) else 0.0


def _alarms(
    method: str, params: Mapping[str, Any], series: _Series, days: list[date], min_count: int
) -> list[alerts.Hit]:
    rows = [(d - series.start).days for d in days]
    kwargs = dict(params)
    if method == "farrington":
        kwargs["time_points"] = rows
    result = run_method(method, series.counts, kwargs)
    # Days without a report count as zero; a series needs most of its recent baseline
    # reported, or a site that has just started reporting would alarm on every syndrome.
    window = min(history_needed(method, params), COVERAGE_DAYS)
    hits: list[alerts.Hit] = []
    for t, day in zip(rows, days, strict=True):
        counts = series.counts[t]
        covered = series.present[max(t - window, 0) : t].mean(axis=0) >= MIN_COVERAGE
        for s in np.flatnonzero(result.alarm[t] & (counts >= min_count) & covered):
            hits.append(
                alerts.Hit(
                    key=series.keys[s],
                    on=day,
                    method=method,
                    observed=int(counts[s]),
                    expected=_finite(result.expected[t, s]),
                    threshold=_finite(result.threshold[t, s]),
                    score=_finite(result.score[t, s]),
                )
            )
    return hits


# --- the run -------------------------------------------------------------------------------


async def run(
    *,
    session: AsyncSession,
    bus: EventBus | None,
    as_of: date | None = None,
    config: SurveillanceSettings | None = None,
    actor: Actor = SYSTEM,
    now: datetime | None = None,
) -> RunSummary:
    """Detect on the `lookback_days` ending `as_of` (default yesterday); idempotent."""
    started = time.perf_counter()
    cfg = config or SurveillanceSettings()
    at = now or clock_now()
    as_of = as_of or default_as_of(at)
    days = [as_of - timedelta(days=n) for n in range(cfg.lookback_days - 1, -1, -1)]
    summary = RunSummary(as_of=as_of, days=len(days))
    codes = [d.code for d in await syndromes.load_definitions(session)]
    sites = list(
        (
            await session.scalars(
                select(Institution.id)
                .where(
                    Institution.kind != InstitutionKind.HEALTH_AUTHORITY,
                    Institution.active.is_(True),
                )
                .order_by(Institution.id)
            )
        ).all()
    )
    hits: list[alerts.Hit] = []
    for scope, methods, min_count in (
        ("site", cfg.site_methods, cfg.min_count),
        ("district", cfg.district_methods, cfg.district_min_count),
    ):
        for method in methods:
            params = cfg.params.get(method, {})
            start = days[0] - timedelta(days=history_needed(method, params))
            if scope == "site":
                series = await _site_series(session, sites, codes, start, as_of)
            else:
                series = await _district_series(session, codes, start, as_of)
            reported = np.flatnonzero(series.present.any(axis=1))
            if reported.size == 0:
                continue
            if reported[0] > 0 and method in ("farrington", "percentile"):
                since = start + timedelta(days=int(reported[0]))
                summary.skipped.append(f"{scope}:{method}: history only from {since}")
                continue
            summary.series += len(series.keys)
            hits.extend(_alarms(method, params, series, days, min_count))
    merged = await alerts.merge_signals(
        session=session, bus=bus, hits=hits, merge_gap_days=cfg.merge_gap_days, actor=actor, at=at
    )
    summary.signals, summary.alerts_created = merged.signals, merged.created
    summary.alerts_merged = merged.merged
    summary.seconds = round(time.perf_counter() - started, 3)
    await audit.record(
        session=session,
        actor=actor,
        action="surveillance.run",
        details={
            "as_of": as_of.isoformat(),
            "days": summary.days,
            "signals": summary.signals,
            "alerts_created": summary.alerts_created,
            "alerts_merged": summary.alerts_merged,
            "skipped": summary.skipped,
        },
    )
    logger.info(
        "surveillance run %s: %d signals, %d new alerts, %d merged in %.2f s",
        as_of,
        summary.signals,
        summary.alerts_created,
        summary.alerts_merged,
        summary.seconds,
    )
    return summary
