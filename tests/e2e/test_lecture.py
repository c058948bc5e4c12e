"""A live lecture in real Chromium on the embedded engine: the presenter (fake camera)
turns the pages of an uploaded PDF; one audience member watches over WebRTC and another,
past the WebRTC audience limit, over the live HLS stream, and both see the page change;
a raised hand is brought on stage. Screenshots at PC, phone and wall sizes (zh-CN)."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pypdfium2 as pdfium
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.axe import describe, violations
from tests.e2e.conftest import LiveServer, serve_engine, shot, sign_in

# Browsers decoding WebRTC and HLS while FFmpeg packages the lecture live: on two cores
# this runs alone, after the parallel phase (`solo`), so a neighbour cannot starve it.
pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.media, pytest.mark.solo]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with serve_engine("embedded", tmp_path_factory.mktemp("lecture")) as live:
        yield live


def slides_pdf(pages: int) -> bytes:
    doc = pdfium.PdfDocument.new()
    for _ in range(pages):
        doc.new_page(960, 540)
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def api(server: LiveServer, who: str) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers=server.world.auth(who), timeout=30)


def schedule(server: LiveServer) -> dict[str, Any]:
    with api(server, "bob") as bob:
        res = bob.post(
            "/api/v1/teaching/lectures",
            json={"title": "高血压基层规范化管理", "panelists": [], "webrtc_audience_limit": 1},
        )
        assert res.status_code == 201, res.text
        lecture: dict[str, Any] = res.json()
        url = f"/api/v1/teaching/lectures/{lecture['id']}/slides"
        res = bob.post(url, files={"file": ("讲义.pdf", slides_pdf(4), "application/pdf")})
        assert res.status_code == 202, res.text
        deadline = time.monotonic() + 30
        while bob.get(url).json()[-1]["state"] != "ready":
            assert time.monotonic() < deadline, "the slides were not rendered"
            time.sleep(0.1)
    return lecture


def watch(browser: Browser, server: LiveServer, who: str, path: str) -> Page:
    page = browser.new_context(locale="zh-CN", viewport={"width": 1440, "height": 900}).new_page()
    sign_in(page, server, who)
    page.goto(server.url + path)
    expect(page.locator("#lecture")).to_have_attribute("data-joined", "true", timeout=15_000)
    return page


def test_a_lecture_with_slides_roles_webrtc_and_hls_audiences(
    server: LiveServer, browser: Browser
) -> None:
    lecture = schedule(server)
    path = f"/teaching/lectures/{lecture['id']}"
    bob = watch(browser, server, "bob", path)
    bob.get_by_role("button", name="下一页").click()  # nothing shown yet: page 1
    expect(bob.locator("#lecture")).to_have_attribute("data-slide-page", "1")

    nina = watch(browser, server, "nina", path)  # audience over WebRTC
    assert nina.locator("#lecture").get_attribute("data-delivery") == "webrtc"
    expect(nina.locator("#lecture")).to_have_attribute("data-slide-page", "1")
    # the presenter's camera reaches the WebRTC audience
    nina.wait_for_function(
        "() => document.querySelector('[data-video]').videoWidth > 0", timeout=20_000
    )

    # the presenter streams to HLS; the next viewer is past the WebRTC limit (1)
    with api(server, "bob") as client:
        res = client.post(f"/api/v1/teaching/lectures/{lecture['id']}/live")
        assert res.status_code == 200, res.text
    ines = watch(browser, server, "ines", path)
    assert ines.locator("#lecture").get_attribute("data-delivery") == "hls"
    ines.wait_for_function(
        "() => { const v = document.querySelector('[data-video]'); "
        "return v.videoWidth > 0 && v.currentTime > 0; }",
        timeout=40_000,
    )

    bob.get_by_role("button", name="下一页").click()
    for page in (bob, nina, ines):
        expect(page.locator("#lecture")).to_have_attribute("data-slide-page", "2")
        expect(page.locator("[data-slide]")).to_have_attribute("src", f"{path}/slides/1/2.png")

    # raise hand → the host brings her on stage → back
    nina.get_by_role("button", name="举手").click()
    bring = bob.get_by_role("button", name="请上台")
    expect(bring).to_be_visible()
    shot(bob, "lecture-presenter-pc-zh")
    bring.click()
    expect(nina.locator("#lecture")).to_have_attribute("data-stage", "true")
    bob.get_by_role("button", name="回到观众席").click()
    expect(nina.locator("#lecture")).to_have_attribute("data-stage", "false")

    shot(nina, "lecture-audience-pc-zh")
    found = violations(nina)
    assert not found, describe(found)
    nina.set_viewport_size({"width": 390, "height": 844})
    shot(nina, "lecture-audience-phone-zh")
    ines.set_viewport_size({"width": 2560, "height": 1440})
    shot(ines, "lecture-hls-wall-zh")
    for page in (bob, nina, ines):
        page.context.close()
