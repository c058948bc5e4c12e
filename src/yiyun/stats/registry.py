"""The measure registry: the one place a workflow declares what the statistics count.

A measure is declared once with `declare(Measure(...))`, next to nothing else: its code,
its labels, its definition in words (what is counted, from which state, by which time
column) and a `facts` function that reads the source table for a time range. The
rollup job, `yiyun stats rebuild`, the dashboards, the glossary and the exports all read
this registry, so a new workflow (consultations, clinic visits, referrals…) adds its
figures by declaring its measures in its own `stats.py` and importing it from
`stats/measures.py`.

Days are the district's calendar days (Asia/Shanghai, `core.clock.DISTRICT_TZ`): a fact
at 23:30 UTC on 1 March counts on 2 March.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import NamedTuple

from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.core.clock import DISTRICT_TZ, as_utc


class Fact(NamedTuple):
    """One thing a measure counts: when, where, and what it adds (1 for a count)."""

    at: datetime
    institution_id: int | None
    department_id: int | None
    service_type: str
    value: float = 1.0


class Kind(StrEnum):
    COUNT = "count"  # how many facts (value 1 each)
    SUM = "sum"  # total of the facts' values (minutes)
    MEAN = "mean"  # sum(value) / n, e.g. a mean response time
    RATIO = "ratio"  # sum(value) / n as a share, e.g. terminals online / terminals


# facts(session, start, end): the facts whose time column lies in [start, end) (UTC)
Facts = Callable[[AsyncSession, datetime, datetime], Awaitable[list[Fact]]]


@dataclass(frozen=True)
class Measure:
    code: str
    label_zh: str
    label_en: str
    definition_zh: str
    definition_en: str
    kind: Kind
    unit_zh: str
    unit_en: str
    facts: Facts
    # The time column a fact is dated by and the state it must be in (for the glossary).
    time_column: str
    state: str
    group: str = "services"
    # A snapshot (terminal availability) cannot be recomputed for past days: the job
    # records today's value; a rebuild keeps the recorded days.
    snapshot: bool = False
    dimensions: tuple[str, ...] = field(default=("institution", "department", "service_type"))

    def label(self, locale: str) -> str:
        return self.label_zh if locale.startswith("zh") else self.label_en

    def definition(self, locale: str) -> str:
        return self.definition_zh if locale.startswith("zh") else self.definition_en

    def unit(self, locale: str) -> str:
        return self.unit_zh if locale.startswith("zh") else self.unit_en

    def figure(self, value: float, n: int) -> float:
        """The shown figure of summed cells."""
        if self.kind in (Kind.MEAN, Kind.RATIO):
            return round(value / n, 4) if n else 0.0
        return round(value, 2)


_registry: dict[str, Measure] = {}


def declare(measure: Measure) -> Measure:
    """Register a measure (by code; declaring the same code again replaces it)."""
    _registry[measure.code] = measure
    return measure


def all_measures() -> list[Measure]:
    from yiyun.stats import measures  # noqa: F401  (the declarations)

    return list(_registry.values())


def get(code: str) -> Measure | None:
    all_measures()
    return _registry.get(code)


def local_day(at: datetime) -> date:
    """The district's calendar day of an instant (naive values are UTC, as SQLite gives)."""
    return as_utc(at).astimezone(DISTRICT_TZ).date()
