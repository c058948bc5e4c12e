"""Demo history: years of realistic daily counts for every site and built-in syndrome.

Counts are negative-binomial around a site- and syndrome-specific rate shaped by
seasonality (influenza-like illness in winter with a smaller summer wave as in southern
China, hand-foot-mouth disease in late spring and autumn, diarrhoea in summer and a
winter norovirus bump), the weekday (community centres are busiest on Monday and quiet
at the weekend), the Spring Festival lull and the size of the site. A few outbreaks are
injected, two of them ending yesterday so the demo opens with live alerts. Everything
is seeded: the same district always gets the same history.

History runs `years * 365 + 28` days up to yesterday, so methods that compare with the
previous three years (Farrington, CIDARS percentile) can judge from the first demo day.
Alerts older than a week are worked through as the authority would have, with response
times, so the KPI dashboard has something to show.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from yiyun.audit import service as audit
from yiyun.audit.service import SYSTEM, Actor
from yiyun.core import statemachine
from yiyun.core.clock import now as clock_now
from yiyun.core.db import Base, transaction
from yiyun.org.enums import InstitutionKind, Role
from yiyun.org.models import Institution, User, UserRole
from yiyun.settings import Settings
from yiyun.surveillance import detection, syndromes
from yiyun.surveillance.config import config_from
from yiyun.surveillance.models import (
    DISTRICT_TZ,
    Alert,
    AlertEvent,
    AlertState,
    CountSource,
    DailyCount,
    local_date,
)

logger = logging.getLogger(__name__)

SEED = 20261126
# Cases per day at a community centre of average size, before season and weekday.
BASE_RATE = {"fever": 5.0, "ili": 2.5, "diarrhoea": 1.8, "rash_fever": 0.25, "ari": 7.0,
             "hfmd": 0.6}  # fmt: skip
SIZE = {InstitutionKind.LEAD_HOSPITAL: 6.0, InstitutionKind.HOSPITAL: 3.0}
CHC_WEEK = (1.3, 1.1, 1.0, 1.0, 1.0, 0.7, 0.6)  # Monday first
HOSPITAL_WEEK = (1.15, 1.05, 1.0, 1.0, 1.0, 0.9, 0.85)
LUNAR_NEW_YEAR = (date(2021, 2, 12), date(2022, 2, 1), date(2023, 1, 22), date(2024, 2, 10),
                  date(2025, 1, 29), date(2026, 2, 17), date(2027, 2, 6), date(2028, 1, 26),
                  date(2029, 2, 13), date(2030, 2, 3))  # fmt: skip
DISPERSION = 25.0  # gamma shape of the day-to-day noise (negative binomial)
_CHUNK = 50_000
HISTORY_ALERT_DAYS = 365  # the demo has a year of alerts worked through (KPIs)


@dataclass(frozen=True)
class Outbreak:
    site: int  # position in the site list
    syndrome: str
    ends_days_ago: int  # 1 = yesterday
    extra: tuple[int, ...]  # added cases per day, oldest first


def outbreaks(n_sites: int) -> list[Outbreak]:
    """Injected outbreaks: two live (ending yesterday), the others in past seasons."""

    def pick(k: int) -> int:
        return k % max(n_sites, 1)  # a small district reuses its sites

    return [
        Outbreak(pick(14), "diarrhoea", 1, (4, 9, 15, 18, 13)),
        Outbreak(pick(35), "rash_fever", 1, (3, 6, 9)),
        Outbreak(pick(22), "diarrhoea", 340, (6, 18, 25, 14, 6)),  # a school, norovirus
        Outbreak(pick(8), "hfmd", 560, (2, 4, 7, 9, 8, 6, 4, 2)),  # a kindergarten
        *(Outbreak(pick(40 + k), "ili", 300, (3, 6, 10, 9, 6, 3)) for k in range(3)),
    ]


def _bump(doy: npt.NDArray[np.float64], centre: float, width: float) -> npt.NDArray[np.float64]:
    distance = np.minimum(np.abs(doy - centre), 365.25 - np.abs(doy - centre))
    return np.exp(-((distance / width) ** 2))


def season(code: str, days: list[date]) -> npt.NDArray[np.float64]:
    """Multiplier per day of the year for one syndrome (around 1)."""
    doy = np.array([d.timetuple().tm_yday for d in days], dtype=np.float64)
    winter = np.cos(2 * math.pi * (doy - 20) / 365.25)
    shapes = {
        "ili": 0.8 + 1.6 * _bump(doy, 25, 28) + 0.7 * _bump(doy, 190, 22),
        "ari": 1.0 + 0.35 * winter,
        "fever": 0.9 + 0.25 * winter + 0.5 * _bump(doy, 25, 30) + 0.25 * _bump(doy, 150, 40),
        "diarrhoea": 0.85 + 0.8 * _bump(doy, 210, 35) + 0.35 * _bump(doy, 5, 25),
        "hfmd": 0.5 + 2.5 * _bump(doy, 130, 30) + 1.0 * _bump(doy, 280, 25),
        "rash_fever": 0.8 + 0.8 * _bump(doy, 100, 35) + 0.4 * _bump(doy, 350, 25),
    }
    return shapes.get(code, np.ones(len(days)))


def _holiday(days: list[date]) -> npt.NDArray[np.float64]:
    factor = np.ones(len(days))
    index = {d: i for i, d in enumerate(days)}
    for new_year in LUNAR_NEW_YEAR:
        for offset, f in zip(
            range(-2, 8), (0.8, 0.5, 0.45, 0.5, 0.55, 0.6, 0.7, 0.8, 0.9, 0.95), strict=True
        ):
            i = index.get(new_year + timedelta(days=offset))
            if i is not None:
                factor[i] = f
    return factor


def site_size(kind: InstitutionKind, code: str) -> float:
    """Hospitals by kind; community centres vary (a stable draw per code)."""
    if kind in SIZE:
        return SIZE[kind]
    digest = int.from_bytes(hashlib.sha256(f"{SEED}:{code}".encode()).digest()[:8], "big")
    z = np.random.default_rng(digest).normal()
    return float(np.clip(math.exp(0.35 * z), 0.45, 2.2))


def synthetic_counts(
    sites: list[tuple[InstitutionKind, str]], codes: list[str], end: date, days: int
) -> npt.NDArray[np.int64]:
    """Counts shaped (days, sites, syndromes) for the days up to `end` (pure, seeded)."""
    dates = [end - timedelta(days=days - 1 - i) for i in range(days)]
    rng = np.random.default_rng(SEED)
    weekday = np.array([d.weekday() for d in dates])
    trend = 1.0 + 0.03 * (np.arange(days) - days) / 365.0  # adoption grows ~3 % a year
    common = _holiday(dates) * trend
    sizes = np.array([site_size(kind, code) for kind, code in sites])
    hospital = np.array([kind in SIZE for kind, _ in sites])
    week = np.where(
        hospital[None, :],
        np.array(HOSPITAL_WEEK)[weekday][:, None],
        np.array(CHC_WEEK)[weekday][:, None],
    )
    out = np.empty((days, len(sites), len(codes)), dtype=np.int64)
    for j, code in enumerate(codes):
        rate = (
            BASE_RATE.get(code, 0.5)
            * (season(code, dates) * common)[:, None]
            * sizes[None, :]
            * week
        )
        noise = rng.gamma(DISPERSION, 1.0 / DISPERSION, rate.shape)
        out[:, :, j] = rng.poisson(rate * noise)
    for ob in outbreaks(len(sites)):
        if ob.syndrome not in codes:
            continue
        j = codes.index(ob.syndrome)
        last = days - ob.ends_days_ago
        for k, extra in enumerate(reversed(ob.extra)):
            t = last - k
            if 0 <= t < days:
                out[t, ob.site, j] += extra
    return out


@dataclass
class SeedSummary:
    rows: int = 0
    days: int = 0
    sites: int = 0
    alerts: int = 0
    open_alerts: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


async def _sites(session: AsyncSession) -> list[Institution]:
    query = select(Institution).where(
        Institution.kind != InstitutionKind.HEALTH_AUTHORITY, Institution.active.is_(True)
    )
    return list((await session.scalars(query.order_by(Institution.id))).all())


async def seed_surveillance(
    factory: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    years: int = 3,
    end: date | None = None,
) -> SeedSummary:
    """Fill (or top up) the demo history and run detection over its last weeks."""
    summary = SeedSummary()
    clock = time.perf_counter()
    end = end or local_date(clock_now()) - timedelta(days=1)
    days = years * 365 + 28
    start = end - timedelta(days=days - 1)
    async with transaction(factory) as session:
        await syndromes.ensure_builtin(session)
        codes = [d.code for d in syndromes.BUILTIN]
        sites = await _sites(session)
        latest = await session.scalar(select(func.max(DailyCount.on)))
    summary.sites = len(sites)
    first_new = start if latest is None else max(start, latest + timedelta(days=1))
    if sites and first_new <= end:
        counts = synthetic_counts([(s.kind, s.code) for s in sites], codes, end, days)
        offset = (first_new - start).days
        summary.days = days - offset
        summary.rows = await _insert(factory, sites, codes, counts[offset:], first_new)
    summary.seconds["counts"] = round(time.perf_counter() - clock, 2)
    clock = time.perf_counter()
    config = config_from(settings).model_copy(update={"lookback_days": HISTORY_ALERT_DAYS})
    async with transaction(factory) as session:
        before = await session.scalar(select(func.count()).select_from(Alert)) or 0
        await detection.run(
            session=session,
            bus=None,
            as_of=end,
            config=config,
        )
        summary.alerts = (
            await session.scalar(select(func.count()).select_from(Alert)) or 0
        ) - before
        await _work_old_alerts(session, sites, end)
        summary.open_alerts = (
            await session.scalar(
                select(func.count()).select_from(Alert).where(Alert.state == AlertState.NEW)
            )
            or 0
        )
        summary.seconds["detection"] = round(time.perf_counter() - clock, 2)
        await audit.record(
            session=session,
            actor=SYSTEM,
            action="surveillance.demo.seed",
            details={"rows": summary.rows, "days": summary.days, "sites": summary.sites,
                     "alerts": summary.alerts, "seconds": summary.seconds},
        )  # fmt: skip
    logger.info("surveillance demo: %d rows, %d alerts", summary.rows, summary.alerts)
    return summary


_COLUMNS = ("institution_id", "syndrome", "on", "count", "source", "reported_at", "late")


async def _insert(
    factory: async_sessionmaker[AsyncSession],
    sites: list[Institution],
    codes: list[str],
    counts: npt.NDArray[np.int64],
    first: date,
) -> int:
    """Bulk load: COPY on PostgreSQL, chunked executemany elsewhere (SQLite ~15 s)."""
    table = Base.metadata.tables[DailyCount.__tablename__]
    stamp = clock_now()
    dates = [first + timedelta(days=i) for i in range(counts.shape[0])]
    source = CountSource.API.value
    total = 0
    rows: list[tuple[Any, ...]] = []
    async with transaction(factory) as session:
        conn = await session.connection()
        copy = conn.dialect.name == "postgresql"
        for s, site in enumerate(sites):
            for j, code in enumerate(codes):
                series = counts[:, s, j].tolist()
                rows.extend(
                    (site.id, code, day, n, source, stamp, False)
                    for day, n in zip(dates, series, strict=True)
                )
            if len(rows) >= _CHUNK or s == len(sites) - 1:
                if copy:
                    driver = (await conn.get_raw_connection()).driver_connection  # asyncpg
                    if driver is None:
                        raise RuntimeError("no driver connection for COPY")
                    await driver.copy_records_to_table(
                        table.name, records=rows, columns=list(_COLUMNS)
                    )
                else:
                    await session.execute(
                        insert(table), [dict(zip(_COLUMNS, r, strict=True)) for r in rows]
                    )
                total += len(rows)
                rows = []
    return total


async def _work_old_alerts(session: AsyncSession, sites: list[Institution], end: date) -> None:
    """Alerts that ended more than a week ago get the responses a district would have made."""
    rng = np.random.default_rng(SEED + 1)
    actor_id = await session.scalar(
        select(User.id).join(UserRole).where(UserRole.role == Role.AUTHORITY).order_by(User.id)
    )
    actor = Actor(user_id=actor_id, username="authority" if actor_id else "system")
    injected = {
        (sites[ob.site].id, ob.syndrome, end - timedelta(days=ob.ends_days_ago - 1))
        for ob in outbreaks(len(sites))
    }
    old = (
        await session.scalars(
            select(Alert).where(
                Alert.state == AlertState.NEW, Alert.period_end < end - timedelta(days=7)
            )
        )
    ).all()
    for alert in old:
        created = datetime.combine(alert.period_start + timedelta(days=1), datetime.min.time(),
                                   tzinfo=DISTRICT_TZ) + timedelta(hours=6, minutes=10)  # fmt: skip
        alert.created_at = created
        # Most are looked at within hours; some wait past the 24-hour mark (the KPI shows it).
        first_look = 24 + rng.gamma(2.0, 15.0) if rng.random() < 0.08 else rng.gamma(2.0, 5.0)
        real = any(
            (site, code) == (alert.institution_id, alert.syndrome)
            and abs((day - alert.period_end).days) <= 3
            for site, code, day in injected
        )
        outcome = AlertState.CONFIRMED if real else AlertState.DISMISSED
        steps = [
            ("acknowledge", AlertState.ACKNOWLEDGED, float(first_look)),
            ("investigate", AlertState.INVESTIGATING, float(rng.gamma(2.0, 6.0))),
            ("confirm" if real else "dismiss", outcome, float(rng.gamma(3.0, 12.0))),
            ("close", AlertState.CLOSED, float(rng.gamma(2.0, 24.0))),
        ]
        at, before = created, AlertState.NEW
        for action, state, hours in steps:
            at += timedelta(hours=hours)
            event = AlertEvent(
                alert_id=alert.id,
                at=at,
                actor_id=actor.user_id,
                actor=actor.username,
                action=action,
                from_state=before.value,
                to_state=state.value,
                note="",
                details={"demo": True},
            )
            session.add(event)
            if action == "acknowledge":
                alert.acknowledged_at = alert.first_response_at = at
            before = state
        statemachine.seed(alert, AlertState.CLOSED)  # history, not live steps
        alert.outcome = outcome
        alert.closed_at = alert.updated_at = at
    await session.flush()
