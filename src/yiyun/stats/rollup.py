"""Daily rollups: computing them for a span of days, the incremental job, the rebuild.

`refresh(first, last)` recomputes every measure's cells of those district days from the
source tables and replaces what was stored (delete, then insert, in the caller's
transaction), so running it twice changes nothing. The job (`run_due`, claimed once
across app nodes through `core.jobs`) refreshes the days from its last watermark (less
`lookback_days`, for late changes such as a first response to an older alert) to today.
`rebuild()` refreshes every day from the first fact on, except days covered by an import.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from yiyun.core import jobs
from yiyun.core.clock import DISTRICT_TZ
from yiyun.core.clock import now as clock_now
from yiyun.core.db import transaction
from yiyun.stats import registry
from yiyun.stats.models import NONE, Import, Rollup
from yiyun.stats.registry import Measure

logger = logging.getLogger(__name__)
JOB = "stats-rollup"
EARLIEST = date(2010, 1, 1)
Key = tuple[date, int, int, str]


def utc_span(first: date, last: date) -> tuple[datetime, datetime]:
    """[start, end) in UTC of the district days first..last."""
    start = datetime.combine(first, time(0), tzinfo=DISTRICT_TZ).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), time(0), tzinfo=DISTRICT_TZ)
    return start, end.astimezone(UTC)


async def cells(
    session: AsyncSession, measure: Measure, first: date, last: date
) -> dict[Key, tuple[float, int]]:
    """The measure's cells of days first..last, computed from its source table."""
    start, end = utc_span(first, last)
    out: dict[Key, list[float]] = defaultdict(lambda: [0.0, 0])
    for fact in await measure.facts(session, start, end):
        key = (
            registry.local_day(fact.at),
            fact.institution_id or NONE,
            fact.department_id or NONE,
            fact.service_type or "",
        )
        cell = out[key]
        cell[0] += fact.value
        cell[1] += 1
    return {k: (round(v[0], 4), int(v[1])) for k, v in out.items()}


async def _imported_until(session: AsyncSession) -> dict[str, date]:
    rows = await session.execute(
        select(Import.measure, func.max(Import.last_day)).group_by(Import.measure)
    )
    return {m: d for m, d in rows.all()}


async def refresh(
    session: AsyncSession,
    first: date,
    last: date,
    *,
    measures: list[Measure] | None = None,
    snapshots: bool = True,
) -> int:
    """Recompute and replace the cells of days first..last; the number of cells written.

    Days an import covers are left alone. `snapshots=False` leaves snapshot measures
    (which only know the present) untouched.
    """
    written = 0
    imported = await _imported_until(session)
    for measure in measures or registry.all_measures():
        if measure.snapshot and not snapshots:
            continue
        lo = first
        if measure.code in imported:
            lo = max(first, imported[measure.code] + timedelta(days=1))
        if lo > last:
            continue
        found = await cells(session, measure, lo, last)
        gone = and_(Rollup.measure == measure.code, Rollup.day >= lo, Rollup.day <= last)
        if measure.snapshot:  # only the days sampled now are replaced
            if not found:
                continue
            gone = and_(Rollup.measure == measure.code, Rollup.day.in_({k[0] for k in found}))
        await session.execute(delete(Rollup).where(gone))
        rows = [
            {
                "day": k[0],
                "measure": measure.code,
                "institution_id": k[1],
                "department_id": k[2],
                "service_type": k[3],
                "value": v[0],
                "n": v[1],
            }
            for k, v in found.items()
        ]
        for i in range(0, len(rows), 5000):
            await session.execute(insert(Rollup), rows[i : i + 5000])
        written += len(rows)
    return written


async def rebuild(
    session: AsyncSession, *, today: date | None = None, since: date = EARLIEST
) -> int:
    """Recompute every day from the source tables, a year at a time; cells written.

    `since`: the first day any source could have a fact on (the default goes back far).
    """
    end = today or registry.local_day(clock_now())
    measures = [m for m in registry.all_measures() if not m.snapshot]
    imported = await _imported_until(session)
    # Cells of days no source covers any more (rows deleted) go too.
    for measure in measures:
        keep_until = imported.get(measure.code, date.min)
        await session.execute(
            delete(Rollup).where(Rollup.measure == measure.code, Rollup.day > keep_until)
        )
    written = 0
    year = since.year
    while year <= end.year:
        first, last = max(since, date(year, 1, 1)), min(date(year, 12, 31), end)
        written += await refresh(session, first, last, measures=measures)
        year += 1
    return written


def _today(at: datetime) -> date:
    return at.astimezone(DISTRICT_TZ).date()


async def run_due(
    *,
    factory: async_sessionmaker[AsyncSession],
    now: datetime | None = None,
    node: str | None = None,
    every_minutes: float = 10,
    lookback_days: int = 3,
) -> dict[str, Any] | None:
    """Refresh the rollups if the job is due and this node claims it; what it did."""
    at = now or clock_now()
    await jobs.ensure(factory, JOB, at)
    previous = await jobs.claim(
        factory,
        JOB,
        at=at,
        node=node or jobs.node_name(),
        next_at=at + timedelta(minutes=every_minutes),
    )
    if previous is None:
        return None
    today = _today(at)
    mark = previous.get("through")
    since = date.fromisoformat(mark) if isinstance(mark, str) else today
    first = min(since, today) - timedelta(days=lookback_days)
    try:
        async with transaction(factory) as session:
            written = await refresh(session, first, today)
    except Exception:
        logger.exception("statistics rollup failed; retrying later")
        await jobs.finish(
            factory, JOB, {**previous, "error": True}, retry_at=at + timedelta(minutes=1)
        )
        return None
    result = {"through": today.isoformat(), "from": first.isoformat(), "cells": written}
    await jobs.finish(factory, JOB, result)
    return result
