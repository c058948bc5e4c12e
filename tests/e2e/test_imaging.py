"""Co-reading a CT in two browsers: a doctor of the patient's community centre and a
specialist of the lead hospital invited to a meeting about the patient. The presenter's
slice, window and zoom follow live for the follower (one click stops and resumes), and
each sees the other's measured marks with their author."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import LiveServer, serve, shot, sign_in
from tests.imaging.helpers import zipped
from yiyun.imaging import synthetic

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.xdist_group("e2e-imaging")]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with serve(tmp_path_factory.mktemp("imaging")) as live:
        yield live


def _setup(server: LiveServer) -> tuple[int, int]:
    """alice uploads a CT of her patient and opens a meeting about it with bob."""
    world = server.world
    files = synthetic.ct_series(patient_id="R11", patient_name="Test^Patient", slices=5, size=256)
    with httpx.Client(base_url=server.url, headers=world.auth("alice"), timeout=30) as api:
        r = api.post(
            "/api/v1/imaging/studies",
            files={"file": ("ct.zip", zipped(files), "application/zip")},
        )
        assert r.status_code == 201, r.text
        study_id = int(r.json()[0]["id"])
        m = api.post(
            "/api/v1/meetings",
            json={"title": "影像会诊", "invitees": ["bob"], "patient_id": world.patients["pa"].id},
        )
        assert m.status_code == 201, m.text
    return study_id, int(m.json()["id"])


def _wait(page: Any, attrs: str) -> None:
    page.wait_for_selector(f"#viewer{attrs}", state="attached", timeout=10_000)


def _data(page: Any, key: str) -> str:
    return str(page.get_attribute("#viewer", f"data-{key}") or "")


def test_two_readers_follow_the_presenter_and_see_each_others_marks(
    server: LiveServer, browser: Any
) -> None:
    study_id, meeting_id = _setup(server)
    url = f"{server.url}/imaging/studies/{study_id}?meeting={meeting_id}"
    pages = {}
    for name in ("alice", "bob"):
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
        page = context.new_page()
        sign_in(page, server, name)
        page.goto(url)
        page.wait_for_selector("#viewer[data-live=open]", state="attached")
        page.wait_for_selector("#viewer[data-renders]:not([data-renders='0'])", state="attached")
        pages[name] = page
    alice, bob = pages["alice"], pages["bob"]
    alice_id = str(server.world.users["alice"].id)

    # alice presents; bob follows her slice, window and zoom.
    alice.click("[data-present]")
    _wait(bob, f"[data-presenter='{alice_id}'][data-following=true]")
    alice.focus("canvas[data-canvas]")
    alice.keyboard.press("ArrowDown")
    alice.keyboard.press("ArrowDown")
    alice.click("[data-preset=lung]")
    alice.click("[data-zoom=in]")
    _wait(bob, "[data-index='2'][data-centre='-600'][data-width='1500'][data-zoom='1.25']")
    # One click stops following: alice moves on, bob stays; one more click resumes.
    bob.click("[data-follow]")
    assert _data(bob, "following") == "false"
    alice.focus("canvas[data-canvas]")
    alice.keyboard.press("ArrowDown")
    _wait(alice, "[data-index='3']")
    bob.wait_for_timeout(300)  # a viewport message, were one sent, arrives well within this
    assert _data(bob, "index") == "2"
    bob.click("[data-follow]")
    _wait(bob, "[data-index='3']")

    # alice measures a length; bob draws an ellipse ROI; each sees both, with the author.
    box = alice.locator("canvas[data-canvas]").bounding_box()
    assert box is not None
    alice.click("[data-tool=length]")
    alice.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.5)
    alice.mouse.down()
    alice.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.5, steps=4)
    alice.mouse.up()
    _wait(bob, "[data-marks='1']")
    assert server.world.users["alice"].display_name in bob.inner_text("[data-marks]")
    assert "mm" in bob.inner_text("[data-marks]")
    bbox = bob.locator("canvas[data-canvas]").bounding_box()
    assert bbox is not None
    bob.click("[data-tool=ellipse]")
    bob.mouse.move(bbox["x"] + bbox["width"] * 0.45, bbox["y"] + bbox["height"] * 0.3)
    bob.mouse.down()
    bob.mouse.move(bbox["x"] + bbox["width"] * 0.55, bbox["y"] + bbox["height"] * 0.4, steps=4)
    bob.mouse.up()
    _wait(alice, "[data-marks='2']")
    listed = alice.inner_text("[data-marks]")
    assert server.world.users["bob"].display_name in listed and "HU" in listed
    shot(alice, "imaging-co-reading-alice")
    shot(bob, "imaging-co-reading-bob")
    for page in pages.values():
        page.context.close()
