"""The teaching library in real Chromium: a doctor uploads a lecture through the page, the
app's own transcoder publishes it, a specialist finds it by a Chinese word, plays it with
hls.js, and after a reload the player resumes where they stopped; on a phone too."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.conftest import LiveServer, serve, shot, sign_in
from tests.teaching.clips import make_clip

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with serve(tmp_path_factory.mktemp("teaching")) as live:
        yield live


def test_a_lecture_is_uploaded_found_played_and_resumed(
    server: LiveServer, browser: Browser, tmp_path: Path
) -> None:
    clip = make_clip(tmp_path / "血压测量.mp4", seconds=12, size="640x360", fps=15)
    doctor = browser.new_context(locale="zh-CN")
    page = doctor.new_page()
    sign_in(page, server, "alice")
    page.goto(server.url + "/teaching")
    page.fill("#v-title", "家庭血压测量规范")
    page.fill("#v-specialty", "全科医学")
    page.fill("#v-tags", "高血压, 慢病管理")
    page.set_input_files("#v-file", str(clip))
    page.click("#upload button[type=submit]")
    page.wait_for_url("**/teaching?mine=true**")
    expect(page.locator(".flash")).to_contain_text("视频已上传")
    card = page.locator("[data-video]").first
    # The app's transcoder (a background job of the live server) publishes it; the grid
    # refreshes itself while something is being prepared.
    expect(card).to_have_attribute("data-state", "ready", timeout=60_000)
    shot(page, "teaching-library-zh")
    doctor.close()

    specialist = browser.new_context(locale="zh-CN")
    page = specialist.new_page()
    sign_in(page, server, "bob")
    page.goto(server.url + "/teaching?q=血压")
    expect(page.locator("[data-video]")).to_have_count(1)
    page.locator("[data-video] .title").click()
    player = page.locator("#vod")
    expect(player).to_have_attribute("data-ready", "true", timeout=20_000)
    page.evaluate(
        "() => { const v = document.querySelector('#vod video'); v.muted = true; return v.play(); }"
    )
    page.wait_for_function(
        "() => document.querySelector('#vod video').currentTime > 6", timeout=30_000
    )
    page.evaluate("() => document.querySelector('#vod video').pause()")
    expect(player).to_have_attribute("data-watched", "5", timeout=10_000)  # one whole bucket
    expect(page.locator("[data-watch-status]")).to_be_hidden()  # 5 of 12 s is not completed
    stopped = page.evaluate("() => document.querySelector('#vod video').currentTime")
    expect(page.locator("[data-watermark]")).to_contain_text("Bob")
    shot(page, "teaching-player-zh")

    page.reload()
    expect(player).to_have_attribute("data-ready", "true", timeout=20_000)
    resumed = page.evaluate("() => document.querySelector('#vod video').currentTime")
    assert abs(resumed - stopped) < 1.0, (resumed, stopped)
    expect(page.get_by_text("从上次停下的地方继续播放。")).to_be_visible()

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(server.url + "/teaching")
    expect(page.locator("[data-video]")).to_have_count(1)
    shot(page, "teaching-library-phone-zh")
    specialist.close()
