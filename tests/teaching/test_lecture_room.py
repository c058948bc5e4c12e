"""A live lecture over `/ws/signal` with the in-memory engine: the audience receives
only (its publish offers are refused), a raised hand is brought on stage and back,
questions are moderated, and the page a presenter shows follows for everyone (late
joiners included) and is kept as the slide track. Outsiders get 404."""

from __future__ import annotations

import asyncio
from typing import Any

import pypdfium2 as pdfium
import pytest
from sqlalchemy import select

from tests.factories import World
from tests.media.utils import ClientPeer
from tests.meetings.test_room import Conn, Room, ids, open_room
from yiyun.meetings.models import Presence, SlideChange

pytestmark = pytest.mark.commits


def pdf(pages: int) -> bytes:
    doc = pdfium.PdfDocument.new()
    for _ in range(pages):
        doc.new_page(960, 540)
    import io

    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


async def lecture(room: Room, host: str = "bob", **body: Any) -> dict[str, Any]:
    res = await room.client.post(
        "/api/v1/teaching/lectures",
        headers=room.world.auth(host),
        json={"title": "高血压基层管理", "panelists": ["alice"], **body},
    )
    assert res.status_code == 201, res.text
    out: dict[str, Any] = res.json()
    room.meeting = out["meeting_id"]
    return out


async def enter(room: Room, lecture_id: int, who: str) -> tuple[Conn, dict[str, Any]]:
    res = await room.client.post(
        f"/api/v1/teaching/lectures/{lecture_id}/join", headers=room.world.auth(who)
    )
    assert res.status_code == 200, res.text
    join = res.json()
    conn = await room.connect(join["token"])
    await conn.expect("roster")
    return conn, join


async def test_the_audience_receives_only_until_brought_on_stage(app: Any, world: World) -> None:
    async with open_room(app, world) as room:
        lec = await lecture(room)
        bob, join = await enter(room, lec["id"], "bob")
        assert join["role"] == "host" and join["delivery"] == "webrtc"
        nina, join = await enter(room, lec["id"], "nina")  # staff: enrolled as audience
        assert join["role"] == "audience"
        alice, join = await enter(room, lec["id"], "alice")
        assert join["role"] == "panelist"

        peer = ClientPeer()
        try:
            # a panelist speaks; the audience's offer is refused by the server
            await alice.send(type="publish", sdp=await peer.publish_offer())
            await alice.expect("published")
            await nina.send(type="publish", sdp="v=0 fake offer sdp from the audience")
            await nina.expect("error", code="meeting.audience")

            # the audience is a number in the roster, until a hand goes up
            roster = await bob.expect_where("roster", lambda m: m["audience_count"] == 1)
            assert "u" + str(world.users["nina"].id) not in ids(roster)
            await nina.send(type="hand", raised=True)
            roster = await bob.expect_where(
                "roster", lambda m: any(p["hand"] for p in m["participants"])
            )
            raised = ids(roster)[f"u{world.users['nina'].id}"]
            await bob.send(type="control", action="stage", target=raised["id"])
            await nina.expect("stage", on=True)
            on_stage = ClientPeer()
            try:
                await nina.send(type="publish", sdp=await on_stage.publish_offer())
                await nina.expect("published")
                # back in the audience: held, and offers refused again
                await bob.send(type="control", action="unstage", target=raised["id"])
                await nina.expect("stage", on=False)
                roster = await bob.expect_where("roster", lambda m: m["audience_count"] == 1)
                await nina.send(type="publish", sdp=await ClientPeer().publish_offer())
                await nina.expect("error", code="meeting.audience")
            finally:
                await on_stage.close()
            # a panelist is not moved on or off stage; only the chair moves anyone
            await alice.send(type="control", action="stage", target=raised["id"])
            await alice.expect("error", code="meeting.host_only")
        finally:
            await peer.close()

        # questions wait for the chair; approved ones reach everyone as chat
        await nina.send(type="chat", client_id="q1", text="降压药何时减量？")
        ack = await nina.expect("question_ack", client_id="q1")
        question = await bob.expect("question", id=ack["id"])
        assert question["text"] == "降压药何时减量？"
        assert not [m for m in await alice.quiet(0.3) if m["type"] == "chat"]
        await bob.send(type="control", action="approve_question", target=ack["id"])
        said = await alice.expect("chat")
        assert said["message"]["text"] == "降压药何时减量？"
        await bob.send(type="control", action="dismiss_question", target=ack["id"])
        await bob.expect("error", code="meeting.no_question")

        await nina.send(type="leave")
    async with app.state.sessions() as db:
        stays = (
            await db.scalars(select(Presence).where(Presence.meeting_id == room.meeting))
        ).all()
    roles = {s.identity: s.role for s in stays}
    assert roles[f"u{world.users['nina'].id}"] == "audience"
    assert roles[f"u{world.users['bob'].id}"] == "host"
    assert all(s.joined_at is not None for s in stays)


async def _ready(room: Room, lecture_id: int, who: str = "bob") -> dict[str, Any]:
    for _ in range(200):
        res = await room.client.get(
            f"/api/v1/teaching/lectures/{lecture_id}/slides", headers=room.world.auth(who)
        )
        decks = res.json()
        if decks and decks[-1]["state"] in ("ready", "failed"):
            return dict(decks[-1])
        await asyncio.sleep(0.05)
    raise AssertionError(f"the deck was not rendered: {decks}")


async def test_the_presenters_page_follows_for_everyone_and_late_joiners(
    app: Any, world: World
) -> None:
    async with open_room(app, world) as room:
        lec = await lecture(room)
        url = f"/api/v1/teaching/lectures/{lec['id']}/slides"
        # only presenters upload; only PDFs (or PPTX) are accepted
        res = await room.client.post(
            url, headers=world.auth("alice"), files={"file": ("s.pdf", pdf(1), "application/pdf")}
        )
        assert res.status_code == 403
        res = await room.client.post(
            url, headers=world.auth("bob"), files={"file": ("s.pdf", b"GIF89a...", "image/gif")}
        )
        assert res.status_code == 422 and res.json()["error"]["code"] == "meeting.slides_type"
        res = await room.client.post(
            url, headers=world.auth("bob"), files={"file": ("讲义.pdf", pdf(3), "application/pdf")}
        )
        assert res.status_code == 202, res.text
        deck = await _ready(room, lec["id"])
        assert (deck["state"], deck["pages"]) == ("ready", 3)
        img = await room.client.get(
            f"/teaching/lectures/{lec['id']}/slides/{deck['id']}/2.png", headers=world.auth("bob")
        )
        assert img.status_code == 200 and img.content.startswith(b"\x89PNG")

        bob, _ = await enter(room, lec["id"], "bob")
        nina, _ = await enter(room, lec["id"], "nina")
        alice, _ = await enter(room, lec["id"], "alice")
        await bob.send(type="slide", deck=deck["id"], page=2)
        for conn in (bob, nina, alice):
            shown = await conn.expect("slide", page=2)
            assert shown["deck"] == deck["id"] and shown["pages"] == 3
        await nina.send(type="slide", deck=deck["id"], page=3)
        await nina.expect("error", code="meeting.presenter_only")
        await alice.send(type="slide", deck=deck["id"], page=3)
        await alice.expect("error", code="meeting.presenter_only")
        await bob.send(type="slide", deck=deck["id"], page=9)
        await bob.expect("error", code="meeting.no_page")
        await bob.send(type="slide", deck=deck["id"], page=3)
        await nina.expect("slide", page=3)

        # a late joiner gets the current page at once, in the join answer and the room
        ines, join = await enter(room, lec["id"], "ines")
        assert join["slide"]["page"] == 3
        await ines.expect("slide", page=3, deck=deck["id"])

        res = await room.client.get(
            f"/api/v1/teaching/lectures/{lec['id']}/slide-track", headers=world.auth("nina")
        )
        assert [c["page"] for c in res.json()] == [2, 3]
    async with app.state.sessions() as db:
        changes = (
            await db.scalars(select(SlideChange).where(SlideChange.meeting_id == room.meeting))
        ).all()
    assert [c.by for c in changes] == [f"u{world.users['bob'].id}"] * 2
    assert changes[0].at <= changes[1].at


async def test_a_closed_lecture_is_404_to_outsiders(app: Any, world: World) -> None:
    async with open_room(app, world) as room:
        lec = await lecture(room, open_to_staff=False)
        base = f"/teaching/lectures/{lec['id']}"
        for method, path in (
            ("GET", f"/api{'/v1'}{base}"),
            ("POST", f"/api/v1{base}/join"),
            ("GET", f"/api/v1{base}/slides"),
            ("GET", f"/api/v1{base}/slide-track"),
            ("GET", base),
            ("GET", f"{base}/slides/1/1.png"),
            ("GET", f"{base}/live/index.m3u8"),
        ):
            res = await room.client.request(method, path, headers=world.auth("mallory"))
            assert res.status_code == 404, (method, path, res.status_code)
        # the invited panelist sees it; the live stream is not running
        res = await room.client.get(f"/api/v1{base}", headers=world.auth("alice"))
        assert res.status_code == 200 and res.json()["role"] == "panelist"
        res = await room.client.get(f"{base}/live/index.m3u8", headers=world.auth("alice"))
        assert res.status_code == 404
        # audience and panelists may not start the stream or upload
        res = await room.client.post(f"/api/v1{base}/live", headers=world.auth("alice"))
        assert res.status_code == 403
        # scheduling needs the right to publish teaching material
        res = await room.client.post(
            "/api/v1/teaching/lectures", headers=world.auth("otto"), json={"title": "x"}
        )
        assert res.status_code == 403


def test_the_hls_fallback_follows_the_configured_limit() -> None:
    from yiyun.teaching.lectures import delivery

    assert delivery("audience", webrtc_audience=199, limit=200) == "webrtc"
    assert delivery("audience", webrtc_audience=200, limit=200) == "hls"
    assert delivery("presenter", webrtc_audience=5000, limit=200) == "webrtc"
    assert delivery("audience", webrtc_audience=0, limit=0) == "hls"
