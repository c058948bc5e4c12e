"""A whole remote consultation in real Chromium, across two institutions: the community
doctor requests it (with the patient's consent on record), the telemedicine centre's
dispatcher assigns the specialist at a time of his calendar, the specialist accepts,
opens the session (the video meeting), writes and signs the opinion (step-up: his
sign-in minutes ago), and the requesting doctor opens the signed PDF."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pyotp
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, shot, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def pages(live_server: LiveServer, browser: Any) -> Iterator[dict[str, Any]]:
    """Requester, dispatcher and specialist, each signed in once in their own browser."""
    contexts = {}
    for name in ("alice", "carol", "bob"):
        contexts[name] = browser.new_context(viewport={"width": 1440, "height": 900})
        sign_in(contexts[name].new_page(), live_server, name)
    yield {name: ctx.pages[0] for name, ctx in contexts.items()}
    for ctx in contexts.values():
        ctx.close()


def _prepare(server: LiveServer) -> None:
    """bob qualifies (licence, 10 years, cardiology) and opens his calendar; pa consents."""
    world = server.world
    now = datetime.now(UTC)
    for who, method, path, body in (
        (
            "admin",
            "PATCH",
            f"/staff/{world.users['bob'].id}",
            {
                "title": "chief_physician",
                "years_of_practice": 10,
                "department_id": world.departments["cardio"].id,
                "licence_no": "LICBOB0001",
                "licence_valid_until": "2030-01-01",
            },
        ),
        (
            "bob",
            "POST",
            "/consults/availability",
            {
                "starts_at": (now - timedelta(minutes=30)).isoformat(),
                "ends_at": (now + timedelta(hours=10)).isoformat(),
            },
        ),
        (
            "alice",
            "POST",
            f"/patients/{world.patients['pa'].id}/consents",
            {"purpose": "telemedicine"},
        ),
    ):
        res = httpx.request(
            method,
            f"{server.url}/api/v1{path}",
            headers=world.auth(who),
            json=body,
            timeout=30,
        )
        assert res.status_code < 300, res.text


def _until(page: Any, state: str) -> None:
    """The page a step redirects to shows the new state (the step commits before the
    redirect is answered), without reloading."""
    badge = page.locator("[data-testid=consult-state]")
    expect(badge).to_have_attribute("data-state", state, timeout=20_000)


@pytest.fixture(scope="module")
def prepared(live_server: LiveServer) -> LiveServer:
    _prepare(live_server)
    return live_server


def test_a_consultation_from_request_to_signed_pdf(
    prepared: LiveServer, pages: dict[str, Any]
) -> None:
    live_server = prepared
    world, url = live_server.world, live_server.url
    alice, carol, bob = pages["alice"], pages["carol"], pages["bob"]

    alice.goto(f"{url}/consults/new?patient_id={world.patients['pa'].id}")
    alice.select_option("#c-urgency", "urgent")
    alice.select_option("#c-specialty", "03.04")
    alice.fill("#c-reason", "血压控制不佳伴胸闷")
    alice.fill("#c-summary", "男，56岁，高血压10年，近两周胸闷。")
    alice.locator("form button[type=submit]").last.click()
    expect(alice.locator("[data-testid=consult-state]")).to_have_attribute(
        "data-state", "requested"
    )
    detail = alice.url.split("?")[0]

    carol.goto(detail)
    carol.check(f"#x-{world.users['bob'].id}")
    carol.click("form[action$='/assign'] button[type=submit]")
    expect(carol.locator("[data-testid=consult-state]")).to_have_attribute("data-state", "assigned")

    bob.goto(detail)
    bob.click("form[action$='/answer'] button[value=yes]")
    expect(bob.locator("[data-testid=consult-state]")).to_have_attribute("data-state", "accepted")
    code = bob.locator("#start-totp")
    if code.count():  # the step-up asks again: the next step's code (never the sign-in's)
        code.fill(pyotp.TOTP(world.totp["bob"]).at(time.time() + 30))
    bob.click("[data-testid=start-session]")
    _until(bob, "in_session")
    meeting = bob.locator("a[href^='/meetings/']").first
    expect(meeting).to_be_visible()
    # The video meeting rang the expert (the requester invites him): the call is in his
    # notifications, linking to the meeting the page shows.
    inbox = httpx.get(f"{url}/api/v1/notifications", headers=world.auth("bob"), timeout=10).json()[
        "items"
    ]
    assert meeting.get_attribute("href") in {n["link"] for n in inbox}, inbox
    bob.fill("#op-findings", "血压 168/102 mmHg，心电图示 ST-T 改变。")
    bob.fill("#op-dx", "I10")
    bob.fill("#op-rec", "加用氨氯地平 5 mg 每日一次。")
    bob.click("[data-testid=sign-opinion]")
    _until(bob, "reported")  # the PDF is rendered and signed before the state changes

    alice.goto(detail)
    link = alice.locator("[data-testid=opinion-pdf]").first
    expect(link).to_be_visible()
    pdf = alice.request.get(url + str(link.get_attribute("href")))
    assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.body().startswith(b"%PDF")
    shot(alice, "consult-signed-pc")
    alice.set_viewport_size({"width": 390, "height": 844})
    alice.reload()
    expect(alice.locator("[data-testid=opinion-pdf]").first).to_be_visible()
    shot(alice, "consult-signed-phone")


def test_a_specialist_keeps_a_calendar_and_accepts_for_his_department(
    prepared: LiveServer, pages: dict[str, Any]
) -> None:
    """bob publishes a window on his calendar page, the dispatcher sees it, and bob accepts
    a request that names his department at a time inside it (no dispatcher step)."""
    world, url = prepared.world, prepared.url
    bob, carol = pages["bob"], pages["carol"]
    day = (datetime.now(UTC) + timedelta(hours=8, days=2)).date().isoformat()

    bob.goto(f"{url}/consults")
    bob.get_by_test_id("calendar-link").click()
    bob.wait_for_url("**/consults/calendar")
    form = bob.get_by_test_id("add-window")
    form.locator("#cal-day").fill(day)
    form.locator("#cal-start").fill("09:00")
    form.locator("#cal-end").fill("12:00")
    form.locator("button[type=submit]").click()
    bob.wait_for_url("**/consults/calendar?done=window_added")
    expect(bob.locator(".flash.ok")).to_have_text("已加入您的出诊时间。")
    expect(bob.get_by_test_id("windows")).to_contain_text("09:00 – 12:00")
    expect(bob.get_by_test_id("windows")).to_contain_text(day)
    # the same window again overlaps: refused beside the form, in Chinese
    form = bob.get_by_test_id("add-window")
    form.locator("#cal-day").fill(day)
    form.locator("button[type=submit]").click()
    expect(form.locator("[data-form-errors] .flash.error")).to_contain_text("重叠")
    shot(bob, "consult-calendar-pc")

    carol.goto(f"{url}/consults/calendar?expert_id={world.users['bob'].id}")
    expect(carol.get_by_test_id("windows")).to_contain_text("09:00 – 12:00")
    expect(carol.locator("form[action$='/remove']")).to_have_count(0)  # not hers to withdraw

    made = httpx.post(
        f"{url}/api/v1/consults",
        headers=world.auth("alice"),
        json={
            "patient_id": world.patients["pa"].id,
            "reason": "胸闷反复发作，请心内科会诊。",
            "specialty": "03.04",
            "department_id": world.departments["cardio"].id,
        },
        timeout=30,
    )
    assert made.status_code == 201, made.text
    bob.goto(f"{url}/consults/{made.json()['id']}")
    take = bob.get_by_test_id("take-form")
    take.locator("#take-when").fill(f"{day}T09:30")
    take.locator("button[type=submit]").click()
    _until(bob, "accepted")
    expect(bob.locator("dl.facts")).to_contain_text(f"{day} 09:30")
    shot(bob, "consult-taken-pc")

    bob.set_viewport_size({"width": 390, "height": 844})
    bob.goto(f"{url}/consults/calendar")
    assert bob.evaluate("() => document.documentElement.scrollWidth") <= 390
    shot(bob, "consult-calendar-phone")
    bob.set_viewport_size({"width": 1440, "height": 900})
