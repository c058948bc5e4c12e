"""`yiyun stats`: rebuild the rollups, run the space-time scan, make the monthly report."""

from __future__ import annotations

import asyncio
import time
from datetime import date
from pathlib import Path
from typing import Any

import click

__all__ = ["stats"]


@click.group()
def stats() -> None:
    """Statistics: daily rollups, the space-time cluster scan, the monthly report."""


def _factory() -> Any:
    from yiyun.core.db import create_engine, session_factory
    from yiyun.settings import get_settings

    settings = get_settings()
    engine = create_engine(settings.db.url)
    return settings, engine, session_factory(engine)


@stats.command()
@click.option(
    "--since",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="First day any source could have a fact on (default 2010-01-01).",
)
def rebuild(since: object) -> None:
    """Recompute every daily rollup from the source tables (keeps imported history)."""
    from yiyun.audit import service as audit
    from yiyun.audit.service import SYSTEM
    from yiyun.core.db import transaction
    from yiyun.stats import rollup

    async def go() -> tuple[int, float]:
        _s, engine, factory = _factory()
        started = time.perf_counter()
        try:
            async with transaction(factory) as session:
                kwargs = {"since": since.date()} if since else {}  # type: ignore[attr-defined]
                cells = await rollup.rebuild(session, **kwargs)
                seconds = round(time.perf_counter() - started, 2)
                await audit.record(
                    session=session,
                    actor=SYSTEM,
                    action="stats.rebuild",
                    details={"cells": cells, "seconds": seconds},
                )
            return cells, seconds
        finally:
            await engine.dispose()

    cells, seconds = asyncio.run(go())
    click.echo(f"rebuilt {cells} rollup cells in {seconds} s")


@stats.command()
@click.option(
    "--as-of",
    "as_of",
    type=click.DateTime(["%Y-%m-%d"]),
    required=True,
    help="Last day of the study period (district day).",
)
def scan(as_of: object) -> None:
    """Run the space-time permutation scan for one day (alerts for significant clusters)."""
    from yiyun.core.db import transaction
    from yiyun.stats import clusters
    from yiyun.stats.config import stats_config

    async def go() -> clusters.ScanSummary:
        settings, engine, factory = _factory()
        try:
            async with transaction(factory) as session:
                return await clusters.run(
                    session=session,
                    bus=None,
                    as_of=as_of.date(),  # type: ignore[attr-defined]
                    config=stats_config(settings),
                )
        finally:
            await engine.dispose()

    s = asyncio.run(go())
    click.echo(
        f"{s.as_of}: {s.syndromes} syndromes, {s.significant} significant clusters, "
        f"{s.alerts_created} new alerts in {s.seconds} s"
    )


@stats.command()
@click.option("--month", required=True, help="YYYY-MM")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
def report(month: str, out: Path) -> None:
    """Write the district's monthly report (PDF, Chinese) to a file."""
    from sqlalchemy import select

    from yiyun.auth.policy import Scope
    from yiyun.core.db import transaction
    from yiyun.org.models import Region
    from yiyun.stats import figures
    from yiyun.stats import report as report_mod
    from yiyun.stats.config import stats_config

    first: date = figures.parse_month(month)

    async def go() -> bytes:
        settings, engine, factory = _factory()
        try:
            async with transaction(factory) as session:
                name = await session.scalar(select(Region.name).order_by(Region.id).limit(1))
                return await report_mod.build(
                    session, first, Scope(None), stats_config(settings), name or ""
                )
        finally:
            await engine.dispose()

    out.write_bytes(asyncio.run(go()))
    click.echo(f"wrote {out}")
