"""The daily space-time scan over the sites' syndromic counts, and what it leaves behind.

For every syndrome, the counts of the last `scan_study_days` district days ending
`as_of` go through `scan.most_likely`; the cluster is stored (`stats_cluster`), and one
with p ≤ `scan_alpha` and at least `scan_min_cases` cases becomes a surveillance signal
of method `stscan` on its centre site, merged into an alert by surveillance's own
machinery (`surveillance.alerts.merge_signals`: the alert workflow, audit, notifications).
The cluster row names every site it covers and links the alert.
"""

from __future__ import annotations

import time as timer
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.audit import service as audit
from yiyun.audit.service import SYSTEM
from yiyun.core.bus import EventBus
from yiyun.core.clock import now as clock_now
from yiyun.org.enums import InstitutionKind
from yiyun.org.models import Institution
from yiyun.stats import scan
from yiyun.stats.config import StatsSettings
from yiyun.stats.models import Cluster
from yiyun.surveillance import alerts
from yiyun.surveillance.models import DailyCount, Signal

METHOD = "stscan"


@dataclass(frozen=True)
class Sites:
    ids: list[int]
    positions_km: np.ndarray


def positions(
    rows: list[tuple[int, float | None, float | None, float | None, float | None]],
) -> Sites:
    """Sites with coordinates (lon/lat, else the schematic position over a 30 × 20 km box)."""
    placed = [r for r in rows if (r[1] is not None and r[2] is not None) or r[3] is not None]
    if all(r[1] is not None and r[2] is not None for r in placed) and placed:
        lon = np.array([r[1] for r in placed], dtype=np.float64)
        lat = np.array([r[2] for r in placed], dtype=np.float64)
        return Sites([r[0] for r in placed], scan.km_positions(lon, lat))
    placed = [r for r in rows if r[3] is not None and r[4] is not None]
    xy = np.array([[float(r[3] or 0) * 30.0, float(r[4] or 0) * 20.0] for r in placed])
    return Sites([r[0] for r in placed], xy.reshape(-1, 2))


async def load_sites(session: AsyncSession) -> Sites:
    rows = await session.execute(
        select(
            Institution.id, Institution.lon, Institution.lat, Institution.map_x, Institution.map_y
        )
        .where(Institution.kind != InstitutionKind.HEALTH_AUTHORITY, Institution.active.is_(True))
        .order_by(Institution.id)
    )
    return positions([tuple(r) for r in rows.all()])  # type: ignore[misc]


@dataclass
class ScanSummary:
    as_of: date
    syndromes: int = 0
    clusters: int = 0
    significant: int = 0
    alerts_created: int = 0
    seconds: float = 0.0
    found: list[dict[str, Any]] | None = None


async def run(
    *,
    session: AsyncSession,
    bus: EventBus | None,
    as_of: date,
    config: StatsSettings | None = None,
    at: datetime | None = None,
) -> ScanSummary:
    """Scan every syndrome on the days ending `as_of`; idempotent per (syndrome, day)."""
    started = timer.perf_counter()
    cfg = config or StatsSettings()
    at = at or clock_now()
    sites = await load_sites(session)
    index = {sid: n for n, sid in enumerate(sites.ids)}
    first = as_of - timedelta(days=cfg.scan_study_days - 1)
    rows = (
        await session.execute(
            select(
                DailyCount.syndrome, DailyCount.institution_id, DailyCount.on, DailyCount.count
            ).where(DailyCount.on >= first, DailyCount.on <= as_of)
        )
    ).all()
    tables: dict[str, np.ndarray] = {}
    for code, inst, on, count in rows:
        if inst not in index:
            continue
        table = tables.setdefault(code, np.zeros((len(sites.ids), cfg.scan_study_days)))
        table[index[inst], (on - first).days] += count
    found_rows: list[dict[str, Any]] = []
    summary = ScanSummary(as_of=as_of, found=found_rows)
    await session.execute(delete(Cluster).where(Cluster.on == as_of))
    hits: list[alerts.Hit] = []
    stored: list[tuple[Cluster, alerts.Hit | None]] = []
    for code in sorted(tables):
        summary.syndromes += 1
        found = scan.most_likely(
            tables[code],
            sites.positions_km,
            max_days=cfg.scan_max_days,
            max_sites=cfg.scan_max_sites,
            max_radius_km=cfg.scan_max_radius_km,
            replicates=cfg.scan_replicates,
            seed=as_of.toordinal(),
        )
        if found is None:
            continue
        summary.clusters += 1
        members = [sites.ids[s] for s in found.sites]
        row = Cluster(
            syndrome=code,
            on=as_of,
            start=as_of - timedelta(days=found.days - 1),
            end=as_of,
            centre_id=sites.ids[found.centre],
            site_ids=members,
            radius_km=round(found.radius_km, 3),
            observed=found.observed,
            expected=round(found.expected, 3),
            llr=round(found.llr, 4),
            p_value=found.p_value,
            replicates=found.replicates,
            created_at=at,
            details={"days": found.days},
        )
        session.add(row)
        hit = None
        if found.p_value <= cfg.scan_alpha and found.observed >= cfg.scan_min_cases:
            summary.significant += 1
            hit = alerts.Hit(
                key=(row.centre_id, code),
                on=as_of,
                method=METHOD,
                observed=found.observed,
                expected=round(found.expected, 3),
                threshold=round(found.expected, 3),
                score=round(found.llr, 4),
            )
            hits.append(hit)
        stored.append((row, hit))
    await session.flush()
    merged = await alerts.merge_signals(
        session=session, bus=bus, hits=hits, merge_gap_days=3, actor=SYSTEM, at=at
    )
    summary.alerts_created = merged.created
    for row, hit in stored:
        if hit is not None:
            row.alert_id = await session.scalar(
                select(Signal.alert_id).where(
                    Signal.institution_id == row.centre_id,
                    Signal.syndrome == row.syndrome,
                    Signal.on == as_of,
                    Signal.method == METHOD,
                )
            )
        found_rows.append({"syndrome": row.syndrome, "sites": len(row.site_ids), "p": row.p_value})
    summary.seconds = round(timer.perf_counter() - started, 3)
    await audit.record(
        session=session,
        actor=SYSTEM,
        action="stats.scan",
        details={
            "as_of": as_of.isoformat(),
            "syndromes": summary.syndromes,
            "significant": summary.significant,
            "alerts_created": summary.alerts_created,
            "seconds": summary.seconds,
        },
    )
    return summary
