"""Operations in real Chromium: a room terminal's kiosk rung by "convene all sites" joins
the meeting with one press; an alarm raised by a terminal whose heartbeats stop, pushed
to operations, and cleared when they come back."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.conftest import LiveServer, serve, shot, sign_in
from yiyun.ops.config import OpsSettings

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
API = "/api/v1"
# Fast clocks: evaluated every second, offline after 2 s, an alarm after 3 s of silence.
FAST = OpsSettings(evaluate_seconds=1.0, offline_after_seconds=2.0, offline_alarm_minutes=0.05)
SEQ = itertools.count(int(time.time() * 1000))


@pytest.fixture(scope="module")
def ops_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with serve(tmp_path_factory.mktemp("ops"), ops=FAST) as server:
        yield server


def enrol(server: LiveServer, code: str = "T-CHCA-1") -> str:
    with httpx.Client(base_url=server.url) as client:
        terminals = client.get(
            f"{API}/ops/terminals", headers=server.world.auth("otto"), params={"size": 200}
        ).json()["items"]
        tid = next(t["id"] for t in terminals if t["code"] == code)
        one_time = client.post(
            f"{API}/ops/terminals/{tid}/enrolment", headers=server.world.auth("otto")
        ).json()["code"]
        res = client.post(
            f"{API}/devices/enrol", json={"terminal_code": code, "enrolment_code": one_time}
        )
        assert res.status_code == 201, res.text
        return str(res.json()["credential"])


class Beats:
    """A terminal's heartbeats every 0.5 s in a thread, until paused."""

    def __init__(self, server: LiveServer, credential: str) -> None:
        self.server, self.credential = server, credential
        self.on = threading.Event()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        with httpx.Client(base_url=self.server.url) as client:
            while not self.done.is_set():
                if self.on.is_set():
                    body: dict[str, Any] = {
                        "seq": next(SEQ), "version": "3.2.1", "camera": "ok",
                        "microphone": "ok", "screen": "ok", "rtt_ms": 20, "loss_pct": 0.1,
                        "bandwidth_kbps": 9000,
                    }  # fmt: skip
                    client.post(
                        f"{API}/devices/heartbeat",
                        json=body,
                        headers={"Authorization": f"Device {self.credential}"},
                    )
                time.sleep(0.5)

    def stop(self) -> None:
        self.done.set()
        self.thread.join(timeout=5)


def test_a_kiosk_rung_by_convene_all_sites_joins_the_meeting(
    ops_server: LiveServer, browser: Browser
) -> None:
    credential = enrol(ops_server)
    ctx = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
    kiosk = ctx.new_page()
    kiosk.goto(f"{ops_server.url}/kiosk")
    kiosk.fill("#kiosk-credential", credential)
    kiosk.click("button[type=submit]")
    expect(kiosk.locator("[data-testid=kiosk]")).to_be_visible()
    expect(kiosk.locator("body")).to_have_attribute("data-kiosk-live", "true", timeout=10_000)
    with httpx.Client(base_url=ops_server.url) as client:
        res = client.post(
            f"{API}/emergency/convene-all",
            json={"title": "全区应急会商"},
            headers=ops_server.world.auth("hana"),
        )
        assert res.status_code == 200, res.text
        meeting_id = res.json()["meeting_id"]
    ring = kiosk.locator("[data-testid=kiosk-ring]")
    expect(ring).to_be_visible(timeout=10_000)
    expect(ring).to_contain_text("全区应急会商")
    shot(kiosk, "kiosk-ringing-1920")
    kiosk.click("[data-testid=kiosk-ring-join]")
    kiosk.wait_for_url(f"**/kiosk/meetings/{meeting_id}", timeout=10_000)
    kiosk.wait_for_function("() => window.yiyunCall?.phase === 'joined'", timeout=20_000)
    shot(kiosk, "kiosk-in-call-1920")
    # The authority sees the site's terminal among the people in the meeting.
    with httpx.Client(base_url=ops_server.url) as client:
        live = client.get(
            f"{API}/meetings/{meeting_id}/live", headers=ops_server.world.auth("hana")
        )
    if live.status_code == 200:
        assert "会诊室终端" in live.text
    ctx.close()


def test_an_alarm_raised_by_a_stopped_heartbeat_clears_when_it_returns(
    ops_server: LiveServer, browser: Browser
) -> None:
    credential = enrol(ops_server)
    beats = Beats(ops_server, credential)
    beats.on.set()
    try:
        ctx = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
        page = ctx.new_page()
        sign_in(page, ops_server, "otto")
        page.goto(f"{ops_server.url}/ops/alarms?kind=terminal_offline")
        row = page.locator("[data-testid=alarms] tr[data-kind=terminal_offline]").first
        beats.on.clear()  # the terminal goes quiet
        expect(row).to_have_attribute("data-state", "raised", timeout=20_000)
        expect(page.locator(".toast").first).to_be_visible(timeout=10_000)  # pushed live
        shot(page, "ops-alarm-raised")
        beats.on.set()  # and comes back
        expect(row).to_have_attribute("data-state", "cleared", timeout=20_000)
        shot(page, "ops-alarm-cleared")
        ctx.close()
    finally:
        beats.stop()
