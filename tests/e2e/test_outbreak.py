"""From an injected outbreak to a convened command meeting, in real Chromium: counts are
reported, detection raises an alert, the site turns red on the command room's map, one
click convenes the site's on-duty staff, and a community doctor is rung in her browser."""

from __future__ import annotations

from datetime import date, timedelta

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, shot, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _report_outbreak(server: LiveServer) -> None:
    today = date.today()
    rows = []
    for back in range(120, 1, -1):
        day = today - timedelta(days=back)
        for site in ("CHC-A", "CHC-B", "LEAD"):
            rows.append(
                {"date": day.isoformat(), "site": site, "syndrome": "ili", "count": 2 + (back % 3)}
            )
    yesterday = (today - timedelta(days=1)).isoformat()
    for site, count in (("CHC-A", 45), ("CHC-B", 3), ("LEAD", 2)):  # the outbreak: CHC A
        rows.append({"date": yesterday, "site": site, "syndrome": "ili", "count": count})
    res = httpx.post(
        f"{server.url}/api/v1/surveillance/counts",
        headers=server.world.auth("hana"),
        json={"rows": rows},
        timeout=30,
    )
    assert res.status_code == 200, res.text
    assert not res.json()["rejected"], res.json()["rejected"][:3]
    run = httpx.post(
        f"{server.url}/api/v1/surveillance/run",
        headers=server.world.auth("hana"),
        json={"as_of": (today - timedelta(days=1)).isoformat()},
        timeout=60,
    )
    assert run.status_code == 200, run.text
    assert run.json()["alerts_created"] >= 1, run.json()


def test_an_outbreak_reaches_the_map_and_convenes_the_site(
    live_server: LiveServer, browser
) -> None:
    _report_outbreak(live_server)
    chc_a = live_server.world.inst["chc_a"].id

    doctor_ctx = browser.new_context()
    doctor = doctor_ctx.new_page()
    sign_in(doctor, live_server, "nina")  # on duty at CHC A, waiting on her home page

    command_ctx = browser.new_context(viewport={"width": 1600, "height": 1000})
    command = command_ctx.new_page()
    sign_in(command, live_server, "hana")
    command.goto(f"{live_server.url}/emergency")
    expect(command.locator("#command")).to_have_attribute("data-ready", "true", timeout=15_000)
    marker = command.locator(f"[data-map] g[data-site='{chc_a}']")
    expect(marker).not_to_have_attribute("data-alert", "none")
    alert = command.locator("[data-alerts] li").first
    expect(alert).to_contain_text("流感样病例")
    shot(command, "command-room-outbreak")

    alert.locator("[data-action=convene-alert]").click()
    command.wait_for_url("**/meetings/*", timeout=15_000)
    meeting_path = command.url.split(live_server.url, 1)[1]

    ring = doctor.get_by_test_id("incoming-call")
    expect(ring).to_be_visible(timeout=15_000)
    shot(doctor, "incoming-call")
    ring.locator("button").first.click()
    doctor.wait_for_url(f"**{meeting_path}", timeout=15_000)
    for ctx in (doctor_ctx, command_ctx):
        ctx.close()
