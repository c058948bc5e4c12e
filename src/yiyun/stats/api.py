"""Statistics JSON API: measures with their definitions, trends, rankings, period
comparison, the map's figures and GeoJSON, and the space-time clusters.

Every figure comes from the rollups; `source=direct` computes the same from the source
tables (for checking and benchmarking; slower). An institution's administrator gets its
own institution's figures; asking for another's is refused (403).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from sqlalchemy import select

from yiyun.core.clock import now
from yiyun.stats import figures, geo, registry, service
from yiyun.stats.config import stats_config
from yiyun.stats.models import Cluster
from yiyun.stats.registry import local_day
from yiyun.surveillance.models import Syndrome
from yiyun.web.deps import CurrentPrincipal, DbSession
from yiyun.web.templating import locale_of

router = APIRouter()

Day = Annotated[
    date | None,
    Query(description="YYYY-MM-DD (district day)", ge=figures.EARLIEST, le=figures.LATEST),
]
MeasureCode = Annotated[str, Query(max_length=48, pattern=r"^[a-z_]+$")]
InstitutionId = Annotated[int | None, Query(gt=0, le=2**31 - 1)]
Month = Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM")]
Source = Annotated[Literal["rollup", "direct"], Query()]


def measure_json(m: registry.Measure, locale: str) -> dict[str, Any]:
    return {
        "code": m.code,
        "label": m.label(locale),
        "definition": m.definition(locale),
        "unit": m.unit(locale),
        "kind": m.kind.value,
        "group": m.group,
        "time_column": m.time_column,
        "state": m.state,
        "timezone": "Asia/Shanghai",
        "dimensions": list(m.dimensions),
        "snapshot": m.snapshot,
    }


def period(first: date | None, last: date | None, days: int = 365) -> tuple[date, date]:
    last = last or local_day(now())
    first = first or last - timedelta(days=days - 1)
    figures.check_period(first, last)
    return first, last


@router.get("/stats/measures")
async def measures(request: Request, principal: CurrentPrincipal) -> list[dict[str, Any]]:
    """Every measure with what it counts, from which state and time column, on which days."""
    service.stats_scope(principal)
    locale = locale_of(request)
    return [measure_json(m, locale) for m in registry.all_measures()]


@router.get("/stats/trend")
async def trend(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    measure: MeasureCode,
    start: Day = None,
    end: Day = None,
    grain: Literal["day", "month"] = "day",
    institution_id: InstitutionId = None,
    source: Source = "rollup",
) -> dict[str, Any]:
    m = figures.measure_or_400(measure)
    sc = service.stats_scope(principal, institution_id)
    first, last = period(start, end)
    points = await figures.trend(
        session,
        m,
        first,
        last,
        sc,
        grain=grain,
        institution_id=institution_id,
        direct=source == "direct",
    )
    return {
        "measure": measure_json(m, locale_of(request)),
        "start": first.isoformat(),
        "end": last.isoformat(),
        "grain": grain,
        "periods": [p.period for p in points],
        "values": [p.value for p in points],
    }


@router.get("/stats/ranking")
async def ranking(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    measure: MeasureCode,
    start: Day = None,
    end: Day = None,
    source: Source = "rollup",
) -> dict[str, Any]:
    m = figures.measure_or_400(measure)
    sc = service.stats_scope(principal)
    first, last = period(start, end, days=30)
    rows = await figures.ranking(session, m, first, last, sc, direct=source == "direct")
    sites = await service.sites(session, sc, stats_config(request.app.state.settings))
    locale = locale_of(request)
    return {
        "measure": measure_json(m, locale),
        "start": first.isoformat(),
        "end": last.isoformat(),
        "rows": [
            {
                "institution_id": i,
                "name": sites[i].label(locale) if i in sites else str(i),
                "value": v,
            }
            for i, v in rows
        ],
    }


@router.get("/stats/compare")
async def compare(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    month: Month = None,
    institution_id: InstitutionId = None,
) -> dict[str, Any]:
    """Every measure: the month, the month before (环比) and a year before (同比)."""
    sc = service.stats_scope(principal, institution_id)
    first = figures.parse_month(month) if month else local_day(now()).replace(day=1)
    locale = locale_of(request)
    out = []
    for m in registry.all_measures():
        row = await figures.compare(session, m, first, sc, institution_id=institution_id)
        out.append(
            {
                **row,
                "label": m.label(locale),
                "unit": m.unit(locale),
                "kind": m.kind.value,
                "definition": m.definition(locale),
            }
        )
    return {"month": first.strftime("%Y-%m"), "rows": out}


@router.get("/stats/map")
async def map_figures(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    measure: MeasureCode = "meetings",
    start: Day = None,
    end: Day = None,
) -> dict[str, Any]:
    """Each visible site with its coordinates and its figure for the period."""
    m = figures.measure_or_400(measure)
    sc = service.stats_scope(principal)
    first, last = period(start, end, days=30)
    values = dict(await figures.ranking(session, m, first, last, sc))
    sites = await service.sites(session, sc, stats_config(request.app.state.settings))
    return {
        "measure": measure_json(m, locale_of(request)),
        "sites": [{**service.site_json(s), "value": values.get(s.id, 0.0)} for s in sites.values()],
    }


@router.get("/stats/geo")
async def district_geojson(request: Request, principal: CurrentPrincipal) -> dict[str, Any]:
    """The district's boundary and streets (GeoJSON FeatureCollection)."""
    service.stats_scope(principal)
    return geo.load(stats_config(request.app.state.settings).geojson)


@router.get("/stats/clusters")
async def clusters(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    days: Annotated[int, Query(ge=1, le=366)] = 14,
    significant: bool = True,
) -> dict[str, Any]:
    """Space-time clusters of the last `days` days (the district's; authority and admin)."""
    sc = service.stats_scope(principal)
    if not sc.everywhere:
        return {"clusters": []}
    cfg = stats_config(request.app.state.settings)
    since = local_day(now()) - timedelta(days=days)
    query = select(Cluster).where(Cluster.on >= since).order_by(Cluster.on.desc(), Cluster.id)
    if significant:
        query = query.where(Cluster.p_value <= cfg.scan_alpha)
    rows = (await session.scalars(query)).all()
    sites = await service.sites(session, sc, cfg)
    english = locale_of(request) == "en"
    names = {
        s.code: s.name_en if english else s.name
        for s in await session.scalars(
            select(Syndrome).where(Syndrome.code.in_({c.syndrome for c in rows}))
        )
    }
    return {
        "clusters": [
            {
                "id": c.id,
                "syndrome": c.syndrome,
                "syndrome_name": names.get(c.syndrome, c.syndrome),
                "on": c.on.isoformat(),
                "start": c.start.isoformat(),
                "end": c.end.isoformat(),
                "centre": service.site_json(sites[c.centre_id]) if c.centre_id in sites else None,
                "sites": [service.site_json(sites[s]) for s in c.site_ids if s in sites],
                "radius_km": c.radius_km,
                "observed": c.observed,
                "expected": c.expected,
                "llr": c.llr,
                "p_value": c.p_value,
                "alert_id": c.alert_id,
            }
            for c in rows
        ]
    }
