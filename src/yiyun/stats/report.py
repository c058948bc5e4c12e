"""The monthly report: every measure's month, month-on-month and year-on-year change,
its 13-month trend and top institutions, as a PDF (on demand and by the monthly job)."""

from __future__ import annotations

import asyncio
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from yiyun.auth.policy import Scope
from yiyun.core.clock import district, now
from yiyun.core.db import transaction
from yiyun.core.storage import BlobStore
from yiyun.stats import exports, figures, registry, service
from yiyun.stats.config import StatsSettings

LOCALE = "zh_CN"  # the report is written in Chinese


async def build(
    session: AsyncSession, month: date, sc: Scope, config: StatsSettings, district_name: str
) -> bytes:
    sites = await service.sites(session, sc, config)
    sections = []
    first13 = figures.shift_month(month, -12)
    last = figures.month_end(month)
    months = figures.periods(first13, last, "month")
    for m in registry.all_measures():
        # one query per measure: 13 months by day and institution
        cells = await figures.daily(session, m, first13, last, sc)
        by_month: dict[str, list[float]] = {p: [0.0, 0] for p in months}
        by_site: dict[int, list[float]] = {}
        for (day, inst), (value, n) in cells.items():
            key = figures.bucket(day, "month")
            by_month[key][0] += value
            by_month[key][1] += n
            if key == months[-1] and inst:
                cell = by_site.setdefault(inst, [0.0, 0])
                cell[0] += value
                cell[1] += n
        series = [m.figure(v, int(n)) for v, n in by_month.values()]
        top = sorted(
            ((i, m.figure(v, int(n))) for i, (v, n) in by_site.items()), key=lambda r: -r[1]
        )
        sections.append(
            exports.ReportSection(
                label=m.label(LOCALE),
                unit=m.unit(LOCALE),
                definition=m.definition(LOCALE),
                value=series[-1],
                mom=figures.change(series[-1], series[-2]),
                yoy=figures.change(series[-1], series[0]),
                months=months,
                series=series,
                top=[(sites[i].name if i in sites else str(i), v) for i, v in top[:5]],
            )
        )
    html = exports.report_html(
        district=district_name,
        month=month,
        made_at=district(now()).strftime("%Y-%m-%d %H:%M"),
        sections=sections,
    )
    return await asyncio.to_thread(exports.pdf, html)


def key_of(month: date) -> str:
    return f"stats/reports/{month.strftime('%Y-%m')}.pdf"


def maker(factory: async_sessionmaker[AsyncSession], store: BlobStore, config: StatsSettings):  # type: ignore[no-untyped-def]
    """The monthly job's writer: the district-wide report, kept in the blob store."""

    async def make(month: date) -> str:
        from sqlalchemy import select

        from yiyun.org.models import Region

        async with transaction(factory) as session:
            name = await session.scalar(select(Region.name).order_by(Region.id).limit(1))
            data = await build(session, month, Scope(None), config, name or "")
        await store.put(key_of(month), data)
        return key_of(month)

    return make
