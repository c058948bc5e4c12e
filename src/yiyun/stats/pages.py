"""Statistics pages: the dashboard (PC, phone, and the wall mode for 2560 px screens),
the glossary of definitions, XLSX exports of any table and the monthly PDF report."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from yiyun.audit import service as audit
from yiyun.core.clock import now
from yiyun.org.models import Region
from yiyun.stats import exports, figures, registry, report, service
from yiyun.stats.api import Day, InstitutionId, MeasureCode, Month, period
from yiyun.stats.config import stats_config
from yiyun.stats.registry import local_day
from yiyun.web.deps import CurrentActor, CurrentPrincipal, DbSession
from yiyun.web.pagekit import page
from yiyun.web.templating import locale_of

router = APIRouter()

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.get("/stats", response_class=HTMLResponse)
async def dashboard(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    wall: bool = False,
    institution_id: InstitutionId = None,
) -> Response:
    service.stats_scope(principal, institution_id)
    locale = locale_of(request)
    sc = service.stats_scope(principal)
    sites = await service.sites(session, sc, stats_config(request.app.state.settings))
    today = local_day(now())
    return page(
        request,
        principal,
        "stats/dashboard.html",
        {
            "wall": wall,
            "sees_all": service.sees_all(principal),
            "measures": registry.all_measures(),
            "locale": locale,
            "sites": list(sites.values()),
            "institution_id": institution_id
            or (None if service.sees_all(principal) else principal.institution_id),
            "month": today.strftime("%Y-%m"),
            "last_month": figures.shift_month(today.replace(day=1), -1).strftime("%Y-%m"),
        },
    )


@router.get("/stats/glossary", response_class=HTMLResponse)
async def glossary(request: Request, principal: CurrentPrincipal) -> Response:
    service.stats_scope(principal)
    return page(
        request,
        principal,
        "stats/glossary.html",
        {"measures": registry.all_measures(), "locale": locale_of(request)},
    )


@router.get("/stats/export.xlsx")
async def export_xlsx(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
    table: Literal["trend", "ranking", "compare"],
    measure: MeasureCode = "meetings",
    start: Day = None,
    end: Day = None,
    grain: Literal["day", "month"] = "month",
    month: Month = None,
    institution_id: InstitutionId = None,
) -> Response:
    locale = locale_of(request)
    zh = locale.startswith("zh")
    m = figures.measure_or_400(measure)
    if table == "ranking":
        sc = service.stats_scope(principal)
        first, last = period(start, end, days=30)
        sites = await service.sites(session, sc, stats_config(request.app.state.settings))
        rows = await figures.ranking(session, m, first, last, sc)
        data = exports.Table(
            title=f"{m.label(locale)} · {first} – {last}",
            note=m.definition(locale),
            header=["机构" if zh else "Institution", f"{m.label(locale)} ({m.unit(locale)})"],
            rows=[[sites[i].label(locale) if i in sites else i, v] for i, v in rows],
        )
    elif table == "trend":
        sc = service.stats_scope(principal, institution_id)
        first, last = period(start, end)
        points = await figures.trend(
            session, m, first, last, sc, grain=grain, institution_id=institution_id
        )
        data = exports.Table(
            title=f"{m.label(locale)} · {first} – {last}",
            note=m.definition(locale),
            header=["日期" if zh else "Period", f"{m.label(locale)} ({m.unit(locale)})"],
            rows=[[p.period, p.value] for p in points],
        )
    else:
        sc = service.stats_scope(principal, institution_id)
        first = figures.parse_month(month) if month else local_day(now()).replace(day=1)
        rows_c = []
        notes = []
        for each in registry.all_measures():
            c = await figures.compare(session, each, first, sc, institution_id=institution_id)
            rows_c.append(
                [
                    each.label(locale),
                    c["value"],
                    c["previous_month"],
                    c["mom_pct"],
                    c["same_month_last_year"],
                    c["yoy_pct"],
                    each.unit(locale),
                ]
            )
            notes.append(f"{each.label(locale)}: {each.definition(locale)}")
        data = exports.Table(
            title=("月度对比 " if zh else "Month comparison ") + first.strftime("%Y-%m"),
            note="\n".join(notes),
            header=(
                ["指标", "本月", "上月", "环比 %", "去年同月", "同比 %", "单位"]
                if zh
                else ["Measure", "Month", "Previous month", "MoM %", "Year before", "YoY %", "Unit"]
            ),
            rows=rows_c,
        )
    await audit.record(
        session=session,
        actor=actor,
        action="stats.export",
        details={"table": table, "measure": measure, "format": "xlsx"},
    )
    await session.commit()
    return Response(
        exports.xlsx(data),
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="yiyun-{table}-{measure}.xlsx"'},
    )


@router.get("/stats/report.pdf")
async def report_pdf(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
    month: Month = None,
) -> Response:
    """The monthly report (the caller's scope), made now."""
    sc = service.stats_scope(principal)
    first = (
        figures.parse_month(month)
        if month
        else figures.shift_month(local_day(now()).replace(day=1), -1)
    )
    name = await session.scalar(select(Region.name).order_by(Region.id).limit(1)) or ""
    data = await report.build(session, first, sc, stats_config(request.app.state.settings), name)
    await audit.record(
        session=session,
        actor=actor,
        action="stats.report",
        details={"month": first.strftime("%Y-%m"), "on_demand": True},
    )
    await session.commit()
    return Response(
        data,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="yiyun-{first:%Y-%m}.pdf"'},
    )


_ = (date, timedelta, Annotated, Query)
