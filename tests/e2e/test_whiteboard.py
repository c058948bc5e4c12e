"""Two people on a meeting's whiteboard in real Chromium: each sees the other's strokes
and named cursor; undo takes back only one's own stroke."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import LiveServer, shot, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _meeting(server: LiveServer) -> int:
    res = httpx.post(
        f"{server.url}/api/v1/meetings",
        headers=server.world.auth("bob"),
        json={"title": "白板会诊", "invitees": ["alice"]},
        timeout=10,
    )
    assert res.status_code == 201, res.text
    return int(res.json()["id"])


@pytest.fixture
def pages(live_server: LiveServer, browser: Browser) -> Iterator[tuple[Page, Page]]:
    contexts = []
    opened = []
    for name in ("bob", "alice"):
        ctx = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
        contexts.append(ctx)
        page = ctx.new_page()
        sign_in(page, live_server, name)
        opened.append(page)
    yield opened[0], opened[1]
    for ctx in contexts:
        ctx.close()


def draw(page: Page, points: list[tuple[int, int]]) -> None:
    box = page.locator("[data-board-canvas]").bounding_box()
    assert box is not None
    x0, y0 = box["x"], box["y"]
    page.mouse.move(x0 + points[0][0], y0 + points[0][1])
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(x0 + x, y0 + y, steps=4)
    page.mouse.up()


def test_two_people_draw_and_see_each_other(
    live_server: LiveServer, pages: tuple[Page, Page]
) -> None:
    bob, alice = pages
    meeting = _meeting(live_server)
    for page in (bob, alice):
        page.goto(f"{live_server.url}/meetings/{meeting}/board")
        expect(page.locator("[data-board]")).to_have_attribute("data-synced", "true")
    bob_canvas = bob.locator("[data-board-canvas]")
    alice_canvas = alice.locator("[data-board-canvas]")

    draw(bob, [(100, 100), (160, 140), (220, 120), (300, 200)])
    expect(alice_canvas).to_have_attribute("data-count", "1")

    alice.click("[data-tool=rect]")
    draw(alice, [(400, 200), (560, 320)])
    expect(bob_canvas).to_have_attribute("data-count", "2")

    # a named cursor: alice's pointer shows on bob's board, labelled with her name
    box = alice_canvas.bounding_box()
    assert box is not None
    alice.mouse.move(box["x"] + 250, box["y"] + 250)
    expect(bob.locator("[data-board]")).to_have_attribute("data-cursors", "Alice")

    shot(bob, "whiteboard-two-people")
    # undo is per person: bob's undo removes his stroke, not alice's rectangle
    bob.click("[data-act=undo]")
    expect(alice_canvas).to_have_attribute("data-count", "1")
    expect(bob_canvas).to_have_attribute("data-count", "1")
    alice.click("[data-act=undo]")
    expect(bob_canvas).to_have_attribute("data-count", "0")
    alice.click("[data-act=redo]")
    expect(bob_canvas).to_have_attribute("data-count", "1")
