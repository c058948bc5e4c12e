"""Three staff members in one meeting see and hear each other through our servers, on
each media engine; a leaver disappears; a forged token gets no media."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import ENGINES, LiveServer, serve_engine, shot, sign_in

# Three browsers encode and decode video through the SFU: on two cores this test runs
# alone, after the parallel phase (`solo`), so a neighbour's load cannot starve it.
pytestmark = [pytest.mark.e2e, pytest.mark.media, pytest.mark.slow, pytest.mark.solo]


@pytest.fixture(scope="module", params=ENGINES)
def call_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    with serve_engine(request.param, tmp_path_factory.mktemp("call")) as server:
        yield server


def _meeting(server: LiveServer, *invitees: str) -> dict[str, object]:
    res = httpx.post(
        f"{server.url}/api/v1/meetings",
        headers=server.world.auth("bob"),
        json={"title": "三方会诊", "invitees": list(invitees)},
        timeout=10,
    )
    assert res.status_code == 201, res.text
    return res.json()


def _live(server: LiveServer, meeting_id: object) -> list[dict[str, object]]:
    res = httpx.get(
        f"{server.url}/api/v1/meetings/{meeting_id}/participants",
        headers=server.world.auth("bob"),
        timeout=10,
    )
    assert res.status_code == 200, res.text
    return res.json()


REMOTE_VIDEO_OK = """() => {
  const tiles = [...document.querySelectorAll('.tile:not(.self) video')];
  return tiles.length === %d && tiles.every(v => v.videoWidth > 0);
}"""


def _decoded(page) -> dict[str, float]:
    stats = page.evaluate("async () => await window.yiyunCall.inboundStats()")
    return {
        "video_frames": sum(s["framesDecoded"] for s in stats if s["kind"] == "video"),
        "video_streams": sum(1 for s in stats if s["kind"] == "video" and s["framesDecoded"] > 0),
        "audio_streams": sum(1 for s in stats if s["kind"] == "audio" and s["packetsReceived"] > 0),
    }


def test_three_people_see_and_hear_each_other(call_server: LiveServer, browser) -> None:
    meeting = _meeting(call_server, "alice", "carol")
    pages = {}
    contexts = []
    for name in ("bob", "alice", "carol"):
        ctx = browser.new_context(viewport={"width": 1280, "height": 800})
        contexts.append(ctx)
        page = ctx.new_page()
        sign_in(page, call_server, name)
        page.goto(f"{call_server.url}/meetings/{meeting['id']}")
        pages[name] = page
    started = time.monotonic()
    for page in pages.values():
        page.wait_for_function(REMOTE_VIDEO_OK % 2, timeout=30_000)
    first = {name: _decoded(page) for name, page in pages.items()}
    page_wait = pages["bob"]
    page_wait.wait_for_timeout(1500)
    for name, page in pages.items():
        later = _decoded(page)
        assert later["video_streams"] == 2, (name, later)
        assert later["audio_streams"] == 2, (name, later)
        assert later["video_frames"] > first[name]["video_frames"], name
    shot(pages["bob"], f"call-3-{call_server.settings.media.engine}")
    print(
        json.dumps(
            {
                "engine": call_server.settings.media.engine,
                "all_remote_video_s": round(time.monotonic() - started, 2),
            }
        )
    )

    # bob's signalling socket drops; the page resumes by itself and media never stops
    pages["bob"].evaluate("() => window.yiyunCall.dropSocket()")
    pages["bob"].wait_for_function(
        "() => window.yiyunCall.state === 'joined' && window.yiyunCall.resumed === true",
        timeout=15_000,
    )
    before = _decoded(pages["bob"])["video_frames"]
    pages["bob"].wait_for_timeout(1000)
    assert _decoded(pages["bob"])["video_frames"] > before

    pages["carol"].click("[data-action=leave]")
    for name in ("bob", "alice"):
        pages[name].wait_for_function(REMOTE_VIDEO_OK % 1, timeout=15_000)
    assert len(_live(call_server, meeting["id"])) == 2

    for name in ("bob", "alice"):
        pages[name].click("[data-action=leave]")
    deadline = time.monotonic() + 10
    while _live(call_server, meeting["id"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _live(call_server, meeting["id"]) == []
    for ctx in contexts:
        ctx.close()


def test_a_forged_token_gets_no_media(call_server: LiveServer, browser) -> None:
    meeting = _meeting(call_server, "nina")
    ctx = browser.new_context()
    page = ctx.new_page()
    sign_in(page, call_server, "nina")  # a TOTP code is single-use: nobody else's sign-in

    def forge(route) -> None:
        response = route.fetch()
        body = response.json()
        body["token"] = body["token"][:-4] + "AAAA"
        route.fulfill(response=response, json=body)

    page.route("**/token", forge)
    page.goto(f"{call_server.url}/meetings/{meeting['id']}")
    expect(page.locator("#call")).to_have_attribute("data-call-state", "refused", timeout=15_000)
    assert page.locator(".tile:not(.self)").count() == 0
    assert _live(call_server, meeting["id"]) == []
    ctx.close()
