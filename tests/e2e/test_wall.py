"""The command room's wall display at 2560×1440 on the full demo consortium, in real
Chromium: the page fits the screen without scrolling (map and 90-day trend chart both in
view) and alerting sites are named on the map."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.conftest import LiveServer, shot, sign_in
from tests.e2e.test_outbreak import _report_outbreak

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

FITS = """() => {
  const doc = document.documentElement;
  const chart = document.querySelector('[data-trends]').getBoundingClientRect();
  const map = document.querySelector('[data-map]').getBoundingClientRect();
  return {
    width: doc.scrollWidth, height: doc.scrollHeight,
    chartBottom: chart.bottom, chartHeight: chart.height, mapHeight: map.height,
  };
}"""


def test_the_wall_display_fits_the_screen_and_names_alerting_sites(
    demo_server: LiveServer, browser: Browser
) -> None:
    _report_outbreak(demo_server)
    chc_a = demo_server.world.inst["chc_a"]
    ctx = browser.new_context(viewport={"width": 2560, "height": 1440}, locale="zh-CN")
    page = ctx.new_page()
    sign_in(page, demo_server, "hana")
    page.goto(f"{demo_server.url}/emergency?wall=true")
    expect(page.locator("#command")).to_have_attribute("data-ready", "true", timeout=15_000)
    page.wait_for_function("() => document.querySelector('[data-trends] canvas') !== null")
    label = page.locator(f"[data-map] text[data-site-label='{chc_a.id}']")
    expect(label).to_have_text(chc_a.name)
    quiet = page.locator("[data-map] g[data-alert='none']").first
    quiet_id = quiet.get_attribute("data-site")
    expect(page.locator(f"[data-map] text[data-site-label='{quiet_id}']")).to_have_count(0)
    shot(page, "wall-2560x1440")
    fits = page.evaluate(FITS)
    assert fits["width"] <= 2560 and fits["height"] <= 1440, fits
    assert fits["chartBottom"] <= 1440 and fits["chartHeight"] > 200, fits
    assert fits["mapHeight"] > 500, fits
    ctx.close()
