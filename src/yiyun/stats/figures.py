"""Dashboard figures read from the rollups (or, for comparison, from the source tables).

Every function takes the caller's `Scope` for `Action.VIEW_STATS`: an institution's
administrator gets its own institution's cells only; the authority and the consortium
administrator get every institution's, and the district-wide cells (institution 0).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.auth.policy import Scope
from yiyun.core.errors import InvalidInput
from yiyun.stats import registry
from yiyun.stats.models import NONE, Rollup
from yiyun.stats.registry import Measure
from yiyun.stats.rollup import cells

MAX_DAYS = 366 * 6 + 1  # a dashboard spans at most six years
EARLIEST, LATEST = date(2000, 1, 1), date(2100, 12, 31)
Cells = dict[tuple[date, int], tuple[float, int]]


def measure_or_400(code: str) -> Measure:
    measure = registry.get(code)
    if measure is None:
        raise InvalidInput(
            "unknown measure", code="stats.unknown_measure", details={"measure": code}
        )
    return measure


def check_period(first: date, last: date) -> None:
    if not (EARLIEST <= first <= LATEST and EARLIEST <= last <= LATEST):
        raise InvalidInput("the period lies outside 2000-2100", code="stats.period_out_of_range")
    if first > last:
        raise InvalidInput("the period ends before it starts", code="stats.period_reversed")
    if (last - first).days + 1 > MAX_DAYS:
        raise InvalidInput("the period is longer than six years", code="stats.period_too_long")


def parse_month(text: str) -> date:
    try:
        year, month = (int(p) for p in text.split("-"))
        first = date(year, month, 1)
    except ValueError:
        raise InvalidInput("a month is written YYYY-MM", code="stats.bad_month") from None
    check_period(first, first)
    return first


def month_end(first: date) -> date:
    return (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def shift_month(first: date, months: int) -> date:
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


async def daily(
    session: AsyncSession,
    measure: Measure,
    first: date,
    last: date,
    scope: Scope,
    *,
    institution_id: int | None = None,
    direct: bool = False,
    by_institution: bool = True,
) -> Cells:
    """(day, institution) → (value, n) for the period, within the scope.

    `by_institution=False` sums the institutions (the key's institution is then 0).
    """
    if direct:
        out: dict[tuple[date, int], list[float]] = defaultdict(lambda: [0.0, 0])
        for (day, inst, _d, _s), (value, n) in (await cells(session, measure, first, last)).items():
            visible = scope.everywhere if inst == NONE else scope.covers(inst)
            if not visible:
                continue
            if institution_id is not None and inst != institution_id:
                continue
            cell = out[(day, inst if by_institution else NONE)]
            cell[0] += value
            cell[1] += n
        return {k: (v[0], int(v[1])) for k, v in out.items()}
    inst_col: Any = Rollup.institution_id if by_institution else literal(NONE)
    query = (
        select(Rollup.day, inst_col, func.sum(Rollup.value), func.sum(Rollup.n))
        .where(
            Rollup.measure == measure.code,
            Rollup.day >= first,
            Rollup.day <= last,
            scope.where(Rollup.institution_id),
        )
        .group_by(Rollup.day, *([Rollup.institution_id] if by_institution else []))
    )
    if institution_id is not None:
        query = query.where(Rollup.institution_id == institution_id)
    rows = await session.execute(query)
    return {(d, i): (float(v or 0), int(n or 0)) for d, i, v, n in rows.all()}


def _fold(cells_: Cells) -> tuple[float, int]:
    return sum(v for v, _ in cells_.values()), sum(n for _, n in cells_.values())


@dataclass(frozen=True)
class Point:
    period: str
    value: float


def bucket(day: date, grain: str) -> str:
    return day.strftime("%Y-%m") if grain == "month" else day.isoformat()


def periods(first: date, last: date, grain: str) -> list[str]:
    if grain == "month":
        out, cur = [], first.replace(day=1)
        while cur <= last:
            out.append(cur.strftime("%Y-%m"))
            cur = shift_month(cur, 1)
        return out
    return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


async def trend(
    session: AsyncSession,
    measure: Measure,
    first: date,
    last: date,
    scope: Scope,
    *,
    grain: str = "day",
    institution_id: int | None = None,
    direct: bool = False,
) -> list[Point]:
    check_period(first, last)
    data = await daily(
        session,
        measure,
        first,
        last,
        scope,
        institution_id=institution_id,
        direct=direct,
        by_institution=False,
    )
    sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
    for (day, _i), (value, n) in data.items():
        cell = sums[bucket(day, grain)]
        cell[0] += value
        cell[1] += n
    return [
        Point(p, measure.figure(sums[p][0], int(sums[p][1])) if p in sums else 0.0)
        for p in periods(first, last, grain)
    ]


async def ranking(
    session: AsyncSession,
    measure: Measure,
    first: date,
    last: date,
    scope: Scope,
    *,
    direct: bool = False,
) -> list[tuple[int, float]]:
    """(institution, figure) best first; district-wide cells are left out."""
    check_period(first, last)
    data = await daily(session, measure, first, last, scope, direct=direct)
    sums: dict[int, list[float]] = defaultdict(lambda: [0.0, 0])
    for (_day, inst), (value, n) in data.items():
        if inst == NONE:
            continue
        sums[inst][0] += value
        sums[inst][1] += n
    out = [(inst, measure.figure(v, int(n))) for inst, (v, n) in sums.items()]
    return sorted(out, key=lambda r: (-r[1], r[0]))


async def total(
    session: AsyncSession,
    measure: Measure,
    first: date,
    last: date,
    scope: Scope,
    *,
    institution_id: int | None = None,
) -> float:
    value, n = _fold(
        await daily(
            session,
            measure,
            first,
            last,
            scope,
            institution_id=institution_id,
            by_institution=False,
        )
    )
    return measure.figure(value, n)


def change(now_: float, then: float) -> float | None:
    """Relative change in percent; None when there is nothing to compare with."""
    if then == 0:
        return None
    return round((now_ - then) / then * 100, 1)


async def compare(
    session: AsyncSession,
    measure: Measure,
    month: date,
    scope: Scope,
    *,
    institution_id: int | None = None,
) -> dict[str, Any]:
    """The month against the month before (环比) and the same month a year before (同比)."""
    prev, last_year = shift_month(month, -1), shift_month(month, -12)
    cur = await total(
        session, measure, month, month_end(month), scope, institution_id=institution_id
    )
    p = await total(session, measure, prev, month_end(prev), scope, institution_id=institution_id)
    y = await total(
        session, measure, last_year, month_end(last_year), scope, institution_id=institution_id
    )
    return {
        "measure": measure.code,
        "month": month.strftime("%Y-%m"),
        "value": cur,
        "previous_month": p,
        "same_month_last_year": y,
        "mom_pct": change(cur, p),
        "yoy_pct": change(cur, y),
    }
