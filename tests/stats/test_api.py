"""The statistics API and pages: who sees which figures (an institution never sees
another's), figures from rollups equal those from the source tables, bad input → 4xx."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import World
from yiyun.core.clock import now
from yiyun.meetings.models import Meeting
from yiyun.stats import rollup
from yiyun.stats.registry import local_day


async def _meetings(session: AsyncSession, world: World) -> None:
    """Two ended meetings at CHC A, three at CHC B, one at the lead hospital, today."""
    ended = now() - timedelta(minutes=5)
    n = 0
    for key, count in (("chc_a", 2), ("chc_b", 3), ("lead", 1)):
        for _ in range(count):
            n += 1
            session.add(
                Meeting(code=f"S{n:07d}", title="m", state="ended", host_id=world.users["bob"].id,
                        institution_id=world.inst[key].id, ended_at=ended,
                        created_at=ended - timedelta(minutes=30))
            )  # fmt: skip
    await session.flush()
    today = local_day(now())
    await rollup.refresh(session, today - timedelta(days=1), today)
    await session.commit()


async def test_the_authority_sees_every_institution_and_an_institution_only_its_own(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    await _meetings(session, world)
    hana = await client.get("/api/v1/stats/ranking?measure=meetings", headers=world.auth("hana"))
    assert hana.status_code == 200, hana.text
    got = {r["institution_id"]: r["value"] for r in hana.json()["rows"]}
    assert got == {world.inst["chc_b"].id: 3, world.inst["chc_a"].id: 2, world.inst["lead"].id: 1}
    # the institution's administrator: its own figures only, whatever it asks for
    ines = await client.get("/api/v1/stats/ranking?measure=meetings", headers=world.auth("ines"))
    assert {r["institution_id"] for r in ines.json()["rows"]} == {world.inst["chc_a"].id}
    trend = await client.get("/api/v1/stats/trend?measure=meetings", headers=world.auth("ines"))
    assert sum(trend.json()["values"]) == 2
    other = await client.get(
        f"/api/v1/stats/trend?measure=meetings&institution_id={world.inst['chc_b'].id}",
        headers=world.auth("ines"),
    )
    assert other.status_code == 403
    geo = await client.get("/api/v1/stats/map?measure=meetings", headers=world.auth("ines"))
    assert [s["id"] for s in geo.json()["sites"]] == [world.inst["chc_a"].id]
    for who in ("alice", "mallory", "bob", "carol", "otto"):
        res = await client.get("/api/v1/stats/trend?measure=meetings", headers=world.auth(who))
        assert res.status_code == 403, who


async def test_rollup_and_direct_figures_agree_through_the_api(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    await _meetings(session, world)
    for source in ("rollup", "direct"):
        res = await client.get(
            f"/api/v1/stats/trend?measure=meeting_minutes&grain=month&source={source}",
            headers=world.auth("hana"),
        )
        assert sum(res.json()["values"]) == 6 * 30, source


async def test_bad_parameters_are_refused_with_the_reason(
    client: httpx.AsyncClient, world: World
) -> None:
    auth = world.auth("hana")
    for url, code in (
        ("/api/v1/stats/trend?measure=nope", "stats.unknown_measure"),
        ("/api/v1/stats/trend?measure=meetings&start=2026-05-01&end=2026-04-01",
         "stats.period_reversed"),
        ("/api/v1/stats/trend?measure=meetings&start=2001-01-01&end=2026-01-01",
         "stats.period_too_long"),
        ("/api/v1/stats/compare?month=2026-13", "stats.bad_month"),
    ):  # fmt: skip
        res = await client.get(url, headers=auth)
        assert res.status_code == 422, url
        assert res.json()["error"]["code"] == code, res.text
    res = await client.get("/api/v1/stats/trend?measure=meetings&grain=week", headers=auth)
    assert res.status_code == 422


async def test_exports_carry_the_definitions(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    import io

    from openpyxl import load_workbook

    await _meetings(session, world)
    res = await client.get(
        "/stats/export.xlsx?table=ranking&measure=meetings", headers=world.auth("hana")
    )
    assert res.status_code == 200, res.text
    ws = load_workbook(io.BytesIO(res.content)).active
    assert "ended" in str(ws["A2"].value) or "已结束" in str(ws["A2"].value)
    rows = [tuple(r) for r in ws.iter_rows(min_row=5, values_only=True)]
    assert sorted(v for _, v in rows) == [1, 2, 3]
    pdf = await client.get("/stats/report.pdf?month=2026-01", headers=world.auth("hana"))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    denied = await client.get("/stats/report.pdf", headers=world.auth("alice"))
    assert denied.status_code == 403


_ = (UTC, datetime)


async def test_a_cluster_names_its_syndrome_in_the_readers_language(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    from yiyun.stats.models import Cluster
    from yiyun.surveillance.models import Syndrome

    session.add(Syndrome(code="ili", name="流感样病例", name_en="Influenza-like illness"))
    today = local_day(now())
    session.add(
        Cluster(syndrome="ili", on=today, start=today - timedelta(days=2), end=today,
                centre_id=world.inst["chc_a"].id, site_ids=[world.inst["chc_a"].id],
                radius_km=1.0, observed=12, expected=3.0, llr=9.0, p_value=0.001,
                replicates=999, created_at=now())
    )  # fmt: skip
    await session.commit()
    names = {}
    for lang in ("zh-CN", "en"):
        res = await client.get(f"/api/v1/stats/clusters?lang={lang}", headers=world.auth("hana"))
        assert res.status_code == 200, res.text
        [cluster] = res.json()["clusters"]
        names[lang] = cluster["syndrome_name"]
    assert names == {"zh-CN": "流感样病例", "en": "Influenza-like illness"}
