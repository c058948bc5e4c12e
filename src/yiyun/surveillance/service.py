"""Surveillance queries, scoped: the district for the health authority and the consortium
admin, one site for that site's own staff, nothing for anyone else (ops included).

An alert outside the caller's scope answers 404, the same as one that does not exist.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, TypeVarTuple

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.auth import policy
from yiyun.auth.policy import Action
from yiyun.auth.principal import Principal
from yiyun.core.clock import now as clock_now
from yiyun.core.errors import NotFound, PermissionDenied
from yiyun.core.pagination import PageParams, paginate
from yiyun.emergency import board as emergency_board
from yiyun.org.enums import InstitutionKind
from yiyun.org.models import Institution
from yiyun.surveillance import syndromes
from yiyun.surveillance.models import (
    DISTRICT_TZ,
    OPEN_STATES,
    Alert,
    AlertEvent,
    AlertRead,
    AlertState,
    DailyCount,
    Severity,
    Syndrome,
    local_date,
)

Ts = TypeVarTuple("Ts")


@dataclass(frozen=True)
class Scope:
    """The sites a caller may see; `sites=None` is the whole district."""

    sites: frozenset[int] | None

    @property
    def district(self) -> bool:
        return self.sites is None

    def covers(self, site_id: int | None) -> bool:
        if self.sites is None:
            return True
        return site_id is not None and site_id in self.sites


def scope_of(principal: Principal) -> Scope:
    """District, own site, or `PermissionDenied` for roles without surveillance access."""
    scope = policy.scope(principal, Action.VIEW_SURVEILLANCE_SITE)
    if not scope.nothing:
        return Scope(scope.institutions)
    raise PermissionDenied(
        "surveillance data is for the health authority and the sites' own staff",
        code="access.denied",
        details={"action": Action.VIEW_SURVEILLANCE_SITE.value},
    )


def _within(query: Select[*Ts], column: Any, scope: Scope) -> Select[*Ts]:
    return query if scope.sites is None else query.where(column.in_(scope.sites))


def _window(start: date | None, end: date | None, days: int) -> tuple[date, date]:
    end = end or local_date(clock_now())
    return start or end - timedelta(days=days - 1), end


async def list_syndromes(*, session: AsyncSession, principal: Principal) -> list[Syndrome]:
    """Every definition, built-in and configured, active or not."""
    scope_of(principal)
    await syndromes.ensure_builtin(session)
    return list((await session.scalars(select(Syndrome).order_by(Syndrome.id))).all())


# --- counts --------------------------------------------------------------------------------


async def list_counts(
    *,
    session: AsyncSession,
    principal: Principal,
    params: PageParams,
    site_id: int | None = None,
    syndrome: str | None = None,
    start: date | None = None,
    end: date | None = None,
) -> tuple[list[DailyCount], int]:
    scope = scope_of(principal)
    query = _within(select(DailyCount), DailyCount.institution_id, scope)
    if site_id is not None:
        query = query.where(DailyCount.institution_id == site_id)
    if syndrome:
        query = query.where(DailyCount.syndrome == syndrome.lower())
    if start:
        query = query.where(DailyCount.on >= start)
    if end:
        query = query.where(DailyCount.on <= end)
    query = query.order_by(DailyCount.on.desc(), DailyCount.institution_id, DailyCount.syndrome)
    return await paginate(session, query, params)


async def trends(
    *, session: AsyncSession, principal: Principal, days: int = 90, end: date | None = None
) -> dict[str, Any]:
    """Daily totals per syndrome over the caller's scope: `{dates, series: [{..., counts}],
    partial}`. `partial` lists the days still being counted (today, in district time):
    a chart draws them as provisional, not as a fall to zero."""
    scope = scope_of(principal)
    start, end = _window(None, end, days)
    query = (
        select(DailyCount.syndrome, DailyCount.on, func.sum(DailyCount.count))
        .where(DailyCount.on.between(start, end))
        .group_by(DailyCount.syndrome, DailyCount.on)
    )
    totals = {
        (code, on): int(n or 0)
        for code, on, n in (
            await session.execute(_within(query, DailyCount.institution_id, scope))
        ).all()
    }
    dates = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    today = local_date(clock_now())
    return {
        "dates": [d.isoformat() for d in dates],
        "partial": [d.isoformat() for d in dates if d >= today],
        "series": [
            {
                "syndrome": d.code,
                "name": d.name,
                "name_en": d.name_en,
                "counts": [totals.get((d.code, day), 0) for day in dates],
            }
            for d in await syndromes.load_definitions(session)
        ],
    }


async def _sites(session: AsyncSession, scope: Scope) -> list[Institution]:
    query = select(Institution).where(Institution.kind != InstitutionKind.HEALTH_AUTHORITY)
    query = _within(query, Institution.id, scope).order_by(Institution.id)
    return list((await session.scalars(query)).all())


async def dashboard(
    *,
    session: AsyncSession,
    principal: Principal,
    start: date | None = None,
    end: date | None = None,
) -> dict[str, Any]:
    """Counts per day per syndrome, per-site totals, and open alerts with map positions."""
    scope = scope_of(principal)
    start, end = _window(start, end, 30)
    per_site: dict[int, int] = {}
    site_query = (
        select(DailyCount.institution_id, func.sum(DailyCount.count))
        .where(DailyCount.on.between(start, end))
        .group_by(DailyCount.institution_id)
    )
    for site_id, total in (
        await session.execute(_within(site_query, DailyCount.institution_id, scope))
    ).all():
        per_site[site_id] = int(total or 0)
    sites = await _sites(session, scope)
    by_id = {s.id: s for s in sites}
    alerts_query = select(Alert).where(Alert.state.in_(OPEN_STATES))
    if scope.sites is not None:
        alerts_query = alerts_query.where(Alert.institution_id.in_(scope.sites))
    open_alerts = (await session.scalars(alerts_query.order_by(Alert.created_at.desc()))).all()
    days = (end - start).days + 1
    daily = await trends(session=session, principal=principal, days=days, end=end)
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "scope": "district" if scope.district else "site",
        "daily": daily,
        "sites": [
            {
                "site_id": s.id,
                "code": s.code,
                "name": s.name,
                "name_en": s.name_en,
                "map_x": s.map_x,
                "map_y": s.map_y,
                "total": per_site.get(s.id, 0),
            }
            for s in sites
        ],
        "open_alerts": [
            {
                **AlertRead.model_validate(a).model_dump(mode="json"),
                "site_name": by_id[a.institution_id].name if a.institution_id in by_id else None,
                "map_x": by_id[a.institution_id].map_x if a.institution_id in by_id else None,
                "map_y": by_id[a.institution_id].map_y if a.institution_id in by_id else None,
            }
            for a in open_alerts
        ],
    }


# --- alerts --------------------------------------------------------------------------------


async def list_alerts(
    *,
    session: AsyncSession,
    principal: Principal,
    params: PageParams,
    state: AlertState | None = None,
    open_only: bool = False,
    site_id: int | None = None,
    syndrome: str | None = None,
) -> tuple[list[Alert], int]:
    scope = scope_of(principal)
    query = select(Alert)
    if scope.sites is not None:
        query = query.where(Alert.institution_id.in_(scope.sites))
    if state is not None:
        query = query.where(Alert.state == state)
    if open_only:
        query = query.where(Alert.state.in_(OPEN_STATES))
    if site_id is not None:
        query = query.where(Alert.institution_id == site_id)
    if syndrome:
        query = query.where(Alert.syndrome == syndrome.lower())
    return await paginate(session, query.order_by(Alert.created_at.desc(), Alert.id.desc()), params)


async def get_alert(*, session: AsyncSession, principal: Principal, alert_id: int) -> Alert:
    scope = scope_of(principal)
    alert = await session.get(Alert, alert_id)
    if alert is None or not scope.covers(alert.institution_id):
        raise NotFound("alert not found", code="surveillance.alert_not_found")
    return alert


async def alert_events(*, session: AsyncSession, alert_id: int) -> list[AlertEvent]:
    query = select(AlertEvent).where(AlertEvent.alert_id == alert_id).order_by(AlertEvent.id)
    return list((await session.scalars(query)).all())


async def kpi(
    *,
    session: AsyncSession,
    principal: Principal,
    start: date | None = None,
    end: date | None = None,
    within_hours: float = 24.0,
) -> dict[str, Any]:
    """Response KPIs of alerts created in the window (CIDARS: responded, timely, median)."""
    scope = scope_of(principal)
    start, end = _window(start, end, 90)
    first = datetime.combine(start, datetime.min.time(), tzinfo=DISTRICT_TZ)
    last = datetime.combine(end + timedelta(days=1), datetime.min.time(), tzinfo=DISTRICT_TZ)
    query = select(
        Alert.institution_id, Alert.created_at, Alert.first_response_at, Alert.outcome
    ).where(Alert.created_at >= first, Alert.created_at < last)
    if scope.sites is not None:
        query = query.where(Alert.institution_id.in_(scope.sites))
    rows = (await session.execute(query)).all()
    per_site, overall = response_kpis(rows, within_hours=within_hours)
    sites = {s.id: s for s in await _sites(session, scope)}
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "within_hours": within_hours,
        "overall": overall.as_dict(),
        "sites": [
            {
                "site_id": site_id,
                "code": sites[site_id].code if site_id in sites else None,
                "name": sites[site_id].name if site_id in sites else "全区",
                **k.as_dict(),
            }
            for site_id, k in sorted(per_site.items(), key=lambda kv: (kv[0] is not None, kv[0]))
        ],
    }


# --- KPIs ----------------------------------------------------------------------------------


@dataclass
class Kpi:
    alerts: int = 0
    responded: int = 0
    responded_within: int = 0
    confirmed: int = 0
    response_hours: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "alerts": self.alerts,
            "responded": self.responded,
            "response_rate": round(self.responded / self.alerts, 4) if self.alerts else None,
            "timely_rate": round(self.responded_within / self.alerts, 4) if self.alerts else None,
            "median_response_hours": round(statistics.median(self.response_hours), 2)
            if self.response_hours
            else None,
            "confirmed": self.confirmed,
        }


def response_kpis(
    alerts: Iterable[tuple[int | None, datetime, datetime | None, AlertState | None]],
    *,
    within_hours: float = 24.0,
) -> tuple[dict[int | None, Kpi], Kpi]:
    """Per site (None = district alerts) and overall: CIDARS' share of signals responded
    to, share responded to within `within_hours`, and median hours to first response.

    Input: (site id, created_at, first_response_at, outcome) per alert.
    """
    per_site: dict[int | None, Kpi] = defaultdict(Kpi)
    overall = Kpi()
    for site, created_at, responded_at, outcome in alerts:
        for kpi in (per_site[site], overall):
            kpi.alerts += 1
            kpi.confirmed += outcome is AlertState.CONFIRMED
            if responded_at is not None:
                hours = max((responded_at - created_at).total_seconds(), 0.0) / 3600
                kpi.responded += 1
                kpi.responded_within += hours <= within_hours
                kpi.response_hours.append(hours)
    return dict(per_site), overall


# --- the command room's map ----------------------------------------------------------------

_STATE_RANK = {
    AlertState.CONFIRMED: 4,
    AlertState.INVESTIGATING: 3,
    AlertState.NEW: 2,
    AlertState.ACKNOWLEDGED: 1,
}
_SEVERITY_RANK = {s: i for i, s in enumerate(Severity)}


async def open_alert_states(session: AsyncSession) -> dict[int | None, dict[str, Any]]:
    """Per site (None: district) the most pressing open alert and how many are open."""
    rows = (await session.scalars(select(Alert).where(Alert.state.in_(OPEN_STATES)))).all()
    worst: dict[int | None, Alert] = {}
    counts: dict[int | None, int] = defaultdict(int)
    for alert in rows:
        key = alert.institution_id
        counts[key] += 1
        rank = (_STATE_RANK[alert.state], _SEVERITY_RANK[alert.severity], alert.id)
        best = worst.get(key)
        if best is None or rank > (
            _STATE_RANK[best.state],
            _SEVERITY_RANK[best.severity],
            best.id,
        ):
            worst[key] = alert
    return {
        key: {
            "state": a.state.value,
            "severity": a.severity.value,
            "alert_id": a.id,
            "syndrome": a.syndrome,
            "open": counts[key],
        }
        for key, a in worst.items()
    }


emergency_board.register_alert_states(open_alert_states)
