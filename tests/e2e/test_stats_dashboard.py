"""The health authority's statistics dashboard and its wall mode, in real Chromium, on
five years of history (the demo's generator) for the personas' district: figure cards
with month-on-month and year-on-year change and their definitions, the trend, the
district map drawn from the GeoJSON, the ranking; the wall mode fills a 2560 px screen
without scrolling sideways; an institution's administrator sees only its own figures."""

from __future__ import annotations

import asyncio
import concurrent.futures

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.conftest import LiveServer, shot, sign_in
from yiyun.core.db import create_engine, session_factory
from yiyun.stats.demo import seed_stats

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _history(server: LiveServer) -> None:
    async def go() -> None:
        engine = create_engine(server.settings.db.url)
        try:
            await seed_stats(session_factory(engine))
        finally:
            await engine.dispose()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, go()).result()


def test_the_authority_reads_the_dashboard_and_the_wall(
    live_server: LiveServer, browser: Browser
) -> None:
    _history(live_server)
    ctx = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    page = ctx.new_page()
    sign_in(page, live_server, "hana")
    page.goto(f"{live_server.url}/stats")
    expect(page.locator("#stats")).to_have_attribute("data-ready", "true", timeout=15_000)
    card = page.locator("[data-cards] .stat-card[data-measure=meetings]")
    expect(card).to_be_visible()
    assert "已结束" in (card.get_attribute("title") or "")  # the definition on hover
    expect(card.locator(".delta")).to_contain_text("同比")
    for chart in ("trend", "compare", "map", "ranking"):
        expect(page.locator(f"[data-chart={chart}] canvas")).to_have_count(1)
    shot(page, "stats-dashboard-1440")
    # the glossary names every measure with its time column
    page.goto(f"{live_server.url}/stats/glossary")
    expect(page.locator("#m-alert_response_minutes")).to_contain_text("first_response_at")
    state = ctx.storage_state()
    ctx.close()

    wall = browser.new_context(
        viewport={"width": 2560, "height": 1440}, locale="zh-CN", storage_state=state
    )
    page = wall.new_page()
    page.goto(f"{live_server.url}/stats?wall=true")
    expect(page.locator("#stats")).to_have_attribute("data-ready", "true", timeout=15_000)
    expect(page.locator("body")).to_have_class("wall")
    expect(page.locator(".sidebar")).to_be_hidden()
    size = page.evaluate(
        "() => ({w: document.documentElement.scrollWidth,"
        " map: document.querySelector('[data-chart=map]').getBoundingClientRect().height})"
    )
    assert size["w"] <= 2560 and size["map"] > 600, size
    shot(page, "stats-wall-2560x1440")
    wall.close()

    admin = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    page = admin.new_page()
    sign_in(page, live_server, "ines")
    page.goto(f"{live_server.url}/stats")
    expect(page.locator("#stats")).to_have_attribute("data-ready", "true", timeout=15_000)
    expect(page.locator("[data-chart=ranking]")).to_have_count(0)  # no other institution
    expect(page.locator("[data-institution-select]")).to_have_count(0)
    shot(page, "stats-institution-390")
    admin.close()
