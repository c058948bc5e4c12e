"""Demo statistics: site coordinates, five years of daily history, a live cluster.

History is generated in bulk as *imported* daily rollups (as a deployment that migrates
from an older system would load its past figures): seeded, seasonal, growing year on
year, busier on weekdays, sized by site. The last weeks (and the surveillance demo's
year of alerts) come from the source tables through the ordinary rebuild, so the demo
shows both paths. A modest rise of influenza-like illness at three neighbouring community
centres over the last four days is added to the syndromic counts, and the space-time
scan is run for yesterday, so the map opens with a cluster that single sites miss.
"""

from __future__ import annotations

import logging
import time
from datetime import date, timedelta
from typing import Any

import numpy as np
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from yiyun.core.clock import now as clock_now
from yiyun.core.db import transaction
from yiyun.org.enums import InstitutionKind
from yiyun.org.models import Institution, Terminal
from yiyun.stats import clusters, geo, rollup
from yiyun.stats.config import StatsSettings
from yiyun.stats.models import NONE, Cluster, Import
from yiyun.stats.registry import local_day
from yiyun.surveillance.models import DailyCount

logger = logging.getLogger(__name__)
SEED = 20261207
SOURCE = "demo history"
YEARS = 5
RECENT_DAYS = 1  # today comes from the source tables
SOURCE_HISTORY = {"alerts": 366, "alert_response_minutes": 366}  # surveillance demo: a year
SIZE = {InstitutionKind.LEAD_HOSPITAL: 8.0, InstitutionKind.HOSPITAL: 4.0}


async def place_sites(session: AsyncSession) -> int:
    """Give demo sites with a schematic position coordinates inside the demo district."""
    box = geo.bbox(geo.load(None))
    margin_lon, margin_lat = (box[2] - box[0]) * 0.06, (box[3] - box[1]) * 0.08
    inner = (box[0] + margin_lon, box[1] + margin_lat, box[2] - margin_lon, box[3] - margin_lat)
    rows = (
        await session.scalars(
            select(Institution).where(Institution.lon.is_(None), Institution.map_x.is_not(None))
        )
    ).all()
    for inst in rows:
        placed = geo.place(None, None, inst.map_x, inst.map_y, inner)
        if placed:
            inst.lon, inst.lat = round(placed[0], 5), round(placed[1], 5)
    return len(rows)


def _history(
    sites: list[tuple[int, InstitutionKind, int]], first: date, last: date
) -> dict[str, list[dict[str, Any]]]:
    """measure → rollup rows (non-zero cells only) for days first..last."""
    rng = np.random.default_rng(SEED)
    days = (last - first).days + 1
    dates = [first + timedelta(days=i) for i in range(days)]
    t = np.arange(days) / 365.0
    growth = 0.55 * 1.22**t  # the platform grows about a fifth a year
    doy = np.array([d.timetuple().tm_yday for d in dates]) / 365.0
    season = 1 + 0.12 * np.cos(2 * np.pi * (doy - 0.9))
    weekday = np.array([1.0 if d.weekday() < 5 else 0.35 for d in dates])
    holiday = np.array([0.3 if (d.month == 2 and d.day < 12) else 1.0 for d in dates])
    common = growth * season * weekday * holiday
    size = np.array([SIZE.get(kind, 0.5) for _, kind, _ in sites])
    meetings = rng.poisson(common[:, None] * size[None, :])
    minutes = np.where(meetings > 0, rng.gamma(meetings * 4.0, 11.0), 0.0).round(1)
    samples = meetings * rng.integers(40, 140, size=meetings.shape)
    poor_share = 0.09 * 0.8**t  # call quality improves
    poor = rng.binomial(samples, poor_share[:, None])
    fair = rng.binomial(samples - poor, 0.12)
    good = samples - poor - fair
    alerts = rng.poisson(0.012 * season[:, None] * np.ones_like(size)[None, :], meetings.shape)
    response = np.where(alerts > 0, rng.gamma(alerts * 2.0, 45.0 * 0.85 ** t[:, None]), 0.0)
    tasks = rng.poisson(0.004 * np.ones(meetings.shape))
    terminals = np.array([n for _, _, n in sites])
    online = rng.binomial(
        np.broadcast_to(terminals, meetings.shape), 0.93 + 0.01 * np.minimum(t, 4)[:, None]
    )
    out: dict[str, list[dict[str, Any]]] = {}

    def add(code: str, value: np.ndarray, n: np.ndarray, service: str) -> None:
        di, si = np.nonzero(n)
        out[code] = [
            {"day": dates[d], "measure": code, "institution_id": sites[s][0],
             "department_id": NONE, "service_type": service,
             "value": float(value[d, s]), "n": int(n[d, s])}
            for d, s in zip(di.tolist(), si.tolist(), strict=True)
        ]  # fmt: skip

    add("meetings", meetings, meetings, "meeting")
    add("meeting_minutes", minutes, meetings, "meeting")
    add("quality_good", good, good, "meeting")
    add("quality_fair", fair, fair, "meeting")
    add("quality_poor", poor, poor, "meeting")
    add("alerts", alerts, alerts, "surveillance")
    add("alert_response_minutes", response.round(1), alerts, "surveillance")
    add("emergency_tasks", tasks, tasks, "emergency")
    add("terminal_availability", online, np.broadcast_to(terminals, meetings.shape), "terminal")
    incidents = rng.poisson(0.01, days)
    out["incidents"] = [
        {"day": dates[d], "measure": "incidents", "institution_id": NONE, "department_id": NONE,
         "service_type": "emergency", "value": float(incidents[d]), "n": int(incidents[d])}
        for d in np.nonzero(incidents)[0].tolist()
    ]  # fmt: skip
    return out


_COLUMNS = ("day", "measure", "institution_id", "department_id", "service_type", "value", "n")


async def bulk_insert(session: AsyncSession, cells: list[dict[str, Any]]) -> None:
    """Plain executemany on the driver (the ORM's per-row bookkeeping costs 10x here)."""
    conn = await session.connection()
    dialect = conn.dialect
    marks = (
        ", ".join(f"${n}" for n in range(1, len(_COLUMNS) + 1))
        if dialect.paramstyle in ("numeric_dollar", "format") and dialect.name == "postgresql"
        else ", ".join("?" for _ in _COLUMNS)
    )
    sql = f"INSERT INTO stats_rollup ({', '.join(_COLUMNS)}) VALUES ({marks})"  # noqa: S608
    rows = [tuple(c[k] for k in _COLUMNS) for c in cells]
    for i in range(0, len(rows), 50_000):
        await conn.exec_driver_sql(sql, rows[i : i + 50_000])


async def _cluster_counts(session: AsyncSession, yesterday: date) -> int:
    """+3..6 ILI cases a day at three neighbouring community centres, the last four days."""
    sites = await clusters.load_sites(session)
    kinds = dict((await session.execute(select(Institution.id, Institution.kind))).all())
    chc = [
        i
        for i, sid in enumerate(sites.ids)
        if kinds.get(sid) is InstitutionKind.COMMUNITY_HEALTH_CENTRE
    ]
    if len(chc) < 3:
        return 0
    pos = sites.positions_km
    centre = chc[len(chc) // 3]
    near = sorted(chc, key=lambda j: float(((pos[j] - pos[centre]) ** 2).sum()))[:3]
    changed = 0
    for k, extra in enumerate((3, 4, 6, 6)):
        on = yesterday - timedelta(days=3 - k)
        for j in near:
            res = await session.execute(
                update(DailyCount)
                .where(DailyCount.institution_id == sites.ids[j], DailyCount.syndrome == "ili",
                       DailyCount.on == on)
                .values(count=DailyCount.count + extra)
            )  # fmt: skip
            changed += int(getattr(res, "rowcount", 0) or 0)
    return changed


async def seed_stats(
    factory: async_sessionmaker[AsyncSession], config: StatsSettings | None = None
) -> dict[str, Any]:
    """Idempotent: a second run finds the history and refreshes recent days from the sources."""
    started = time.perf_counter()
    today = local_day(clock_now())
    out: dict[str, Any] = {}
    async with transaction(factory) as session:
        out["placed"] = await place_sites(session)
        done = await session.scalar(
            select(func.count()).select_from(Import).where(Import.source == SOURCE)
        )
    if not done:
        async with transaction(factory) as session:
            insts = (
                await session.execute(
                    select(Institution.id, Institution.kind)
                    .where(Institution.kind != InstitutionKind.HEALTH_AUTHORITY)
                    .order_by(Institution.id)
                )
            ).all()
            terms = dict(
                (
                    await session.execute(
                        select(Terminal.institution_id, func.count()).group_by(
                            Terminal.institution_id
                        )
                    )
                ).all()
            )
            sites = [(i, k, int(terms.get(i, 1))) for i, k in insts]
            first = today.replace(year=today.year - YEARS)
            rows = 0
            for code, cells in _history(sites, first, today - timedelta(days=RECENT_DAYS)).items():
                last = today - timedelta(days=SOURCE_HISTORY.get(code, RECENT_DAYS))
                cells = [c for c in cells if c["day"] <= last]
                await bulk_insert(session, cells)
                session.add(Import(measure=code, first_day=first, last_day=last, source=SOURCE,
                                   rows=len(cells), imported_at=clock_now()))  # fmt: skip
                rows += len(cells)
            out["history_cells"] = rows
            out["cluster_counts"] = await _cluster_counts(session, today - timedelta(days=1))
    async with transaction(factory) as session:
        out["recent_cells"] = await rollup.rebuild(
            session, today=today, since=today - timedelta(days=400)
        )
    cfg = (config or StatsSettings()).model_copy(update={"scan_replicates": 99})
    async with transaction(factory) as session:
        if not await session.scalar(
            select(func.count()).select_from(Cluster).where(Cluster.on == today - timedelta(days=1))
        ):
            scan = await clusters.run(
                session=session, bus=None, as_of=today - timedelta(days=1), config=cfg
            )
            out["scan"] = {"significant": scan.significant, "seconds": scan.seconds}
    out["seconds"] = round(time.perf_counter() - started, 2)
    logger.info("statistics demo: %s", out)
    return out
