"""The meeting layer over `/ws/signal` with the in-memory engine: waiting room, chair
control, chat stored once and replayed, roll-call, quality, lock/remove, end for all,
and consent-gated recording."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from httpx_ws import WebSocketDisconnect, aconnect_ws
from httpx_ws.transport import ASGIWebSocketTransport
from sqlalchemy import func, select

from tests.factories import World
from tests.media.utils import ClientPeer
from yiyun.audit.models import AuditEvent
from yiyun.auth import room_tokens
from yiyun.meetings.models import ChatMessage, Meeting, MeetingGuest, QualitySample, Recording

# Sockets and API calls use the database from several tasks at once.
pytestmark = pytest.mark.commits


class Conn:
    """One signalling socket: send messages, wait for a type, see everything received."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.seen: list[dict[str, Any]] = []

    async def send(self, **msg: Any) -> None:
        await self.ws.send_text(json.dumps({"v": 1, **msg}))

    async def expect_where(self, type_: str, pred: Any, wait: float = 5.0) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            msg = await self.expect(type_, wait=max(0.01, deadline - loop.time()))
            if pred(msg):
                return msg

    async def expect(self, type_: str, wait: float = 5.0, **match: Any) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            left = deadline - loop.time()
            if left <= 0:
                raise AssertionError(f"no {type_} {match} in {[m['type'] for m in self.seen]}")
            try:
                msg = json.loads(await self.ws.receive_text(timeout=left))
            except TimeoutError:
                raise AssertionError(
                    f"no {type_} {match}; got {[(m['type'], m.get('code')) for m in self.seen]}"
                ) from None
            self.seen.append(msg)
            if msg["type"] == type_ and all(msg.get(k) == v for k, v in match.items()):
                return msg

    async def quiet(self, seconds: float = 0.4) -> list[dict[str, Any]]:
        """Everything that arrives within `seconds` (and nothing is awaited after)."""
        got: list[dict[str, Any]] = []
        with contextlib.suppress(TimeoutError, asyncio.TimeoutError):
            while True:
                got.append(json.loads(await self.ws.receive_text(timeout=seconds)))
        self.seen.extend(got)
        return got


class Room:
    def __init__(self, app: Any, world: World, client: httpx.AsyncClient) -> None:
        self.app, self.world, self.client = app, world, client
        self.meeting = 0
        self.stack = contextlib.AsyncExitStack()

    async def create(self, host: str, *invitees: str) -> int:
        res = await self.client.post(
            "/api/v1/meetings",
            headers=self.world.auth(host),
            json={"title": "病例讨论", "invitees": list(invitees)},
        )
        assert res.status_code == 201, res.text
        self.meeting = int(res.json()["id"])
        return self.meeting

    async def token(self, who: str, **body: Any) -> str:
        res = await self.client.post(
            f"/api/v1/meetings/{self.meeting}/token",
            headers=self.world.auth(who),
            json=body or None,
        )
        assert res.status_code == 200, res.text
        return str(res.json()["token"])

    def guest_token(self, guest_id: int, name: str = "患者家属") -> str:
        settings = self.app.state.settings
        return room_tokens.issue(
            settings.security.secret_key.get_secret_value(),
            room=f"meeting-{self._code}",
            user_id=0,
            guest_id=guest_id,
            meeting_id=self.meeting,
            name=name,
            role="guest",
        )

    async def connect(self, token: str, **join: Any) -> Conn:
        ws = await self.stack.enter_async_context(aconnect_ws("/ws/signal", self.client))
        conn = Conn(ws)
        await conn.send(type="join", token=token, **join)
        return conn

    async def join(self, who: str, **join: Any) -> Conn:
        conn = await self.connect(await self.token(who), **join)
        await conn.expect("roster")
        return conn

    async def load_code(self) -> None:
        async with self.app.state.sessions() as db:
            self._code = (await db.get(Meeting, self.meeting)).code


@contextlib.asynccontextmanager
async def open_room(app: Any, world: World) -> AsyncIterator[Room]:
    """Entered inside each test: the transport's task group must live in the test's task."""
    async with httpx.AsyncClient(
        transport=ASGIWebSocketTransport(app=app), base_url="http://testserver"
    ) as client:
        r = Room(app, world, client)
        try:
            yield r
        finally:
            await r.stack.aclose()


def ids(roster: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["identity"]: p for p in roster["participants"]}


async def test_a_guest_waits_with_nothing_until_admitted(app: Any, world: World) -> None:
    async with open_room(app, world) as room:
        await room.create("bob", "alice")
        await room.load_code()
        bob = await room.join("bob")
        guest = await room.connect(room.guest_token(41))
        await guest.expect("waiting")
        lobby = await bob.expect_where("lobby", lambda m: m["waiting"])
        assert [w["name"] for w in lobby["waiting"]] == ["患者家属"]
        # a waiting guest learns nothing: no join, no roster, no chat, and cannot publish
        await guest.send(type="publish", sdp="v=0 fake offer sdp")
        await guest.send(type="chat", client_id="g1", text="hello?")
        got = await guest.quiet()
        assert {m["type"] for m in got} == {"error"}
        assert {m["code"] for m in got} == {"meeting.waiting"}
        state = await room.app.state.hub.engine.room_state(f"meeting-{room._code}")
        assert [p.display_name for p in state.participants] == ["Bob"]
        # a participant cannot admit
        alice = await room.join("alice")
        await alice.send(type="control", action="admit", target=lobby["waiting"][0]["id"])
        assert (await alice.expect("error"))["code"] == "meeting.host_only"
        await bob.send(type="control", action="admit", target=lobby["waiting"][0]["id"])
        joined = await guest.expect("joined")
        assert sorted(p["name"] for p in joined["participants"]) == ["Alice", "Bob"]
        roster = await guest.expect("roster")
        assert ids(roster)["g41"]["role"] == "guest"
        # a second guest is denied and the socket closes normally
        other = await room.connect(room.guest_token(42, "陌生人"))
        await other.expect("waiting")
        waiting = await bob.expect_where(
            "lobby", lambda m: [w["name"] for w in m["waiting"]] == ["陌生人"]
        )
        await bob.send(type="control", action="deny", target=waiting["waiting"][0]["id"])
        await other.expect("denied")
        with pytest.raises(WebSocketDisconnect) as closed:
            await other.ws.receive_text(timeout=5)
        assert closed.value.code == 1000


async def test_mute_all_and_the_unmute_policy(app: Any, world: World) -> None:
    async with open_room(app, world) as room:
        await room.create("bob", "alice", "nina")
        await room.load_code()
        bob = await room.join("bob")
        alice = await room.join("alice")
        peer = ClientPeer()
        try:
            await alice.send(type="publish", sdp=await peer.publish_offer())
            await alice.expect("published")
            await bob.send(type="control", action="disallow_unmute")
            await bob.send(type="control", action="mute_all")
            muted = await alice.expect("muted")
            assert muted["kind"] == "audio" and muted["can_unmute"] is False
            roster = await bob.expect("roster")
            while (
                ids(roster)["u" + str(room.world.users["alice"].id)]["host_muted"]["audio"] is False
            ):
                roster = await bob.expect("roster")
            me = ids(roster)["u" + str(room.world.users["alice"].id)]
            assert me["audio"] is False
            assert (
                ids(roster)["u" + str(room.world.users["bob"].id)]["host_muted"]["audio"] is False
            )
            state = await room.app.state.hub.engine.room_state(f"meeting-{room._code}")
            pubs = [
                x for p in state.participants if p.display_name == "Alice" for x in p.publications
            ]
            assert {x.kind: x.muted for x in pubs}["audio"] is True
            await alice.send(type="unmute", kind="audio")
            assert (await alice.expect("error"))["code"] == "meeting.unmute_forbidden"
            await bob.send(type="control", action="allow_unmute")
            await alice.expect_where("roster", lambda m: m["policy"]["allow_unmute"])
            await alice.send(type="unmute", kind="audio")
            await alice.expect("unmuted", kind="audio")
            state = await room.app.state.hub.engine.room_state(f"meeting-{room._code}")
            pubs = [
                x for p in state.participants if p.display_name == "Alice" for x in p.publications
            ]
            assert {x.kind: x.muted for x in pubs}["audio"] is False
        finally:
            await peer.close()


async def test_chat_is_stored_once_and_replayed_after_a_reconnect(app: Any, world: World) -> None:
    async with open_room(app, world) as room:
        await room.create("bob", "alice")
        bob = await room.join("bob")
        alice = await room.join("alice")
        await alice.send(type="chat", client_id="m-1", text="血压 150/95")
        ack = await alice.expect("chat_ack")
        first = await bob.expect("chat")
        assert first["message"]["id"] == ack["id"] and first["message"]["text"] == "血压 150/95"
        # the same client id again (the ack was lost in a reconnect): stored once, same id
        await alice.send(type="chat", client_id="m-1", text="血压 150/95")
        again = await alice.expect("chat_ack")
        assert again["id"] == ack["id"]
        await alice.send(type="chat", client_id="m-2", text="心率 88")
        second = await alice.expect("chat_ack")
        got = [m for m in await bob.quiet() if m["type"] == "chat"]
        assert [m["message"]["id"] for m in got] == [second["id"]]  # no duplicate delivered
        async with room.app.state.sessions() as db:
            count = await db.scalar(
                select(func.count())
                .select_from(ChatMessage)
                .where(ChatMessage.meeting_id == room.meeting)
            )
        assert count == 2
        # a newcomer gets the whole history; a rejoin with chat_after gets only what is newer
        late = await room.connect(await room.token("alice"), chat_after=0)
        history = await late.expect("chat_history")
        assert [m["text"] for m in history["messages"]] == ["血压 150/95", "心率 88"]
        later = await room.connect(await room.token("bob"), chat_after=ack["id"])
        assert [m["id"] for m in (await later.expect("chat_history"))["messages"]] == [second["id"]]
        # empty and flooding messages are refused with reasons; nothing half stored
        await alice.send(type="chat", client_id="m-3", text="   ")
        assert (await alice.expect("error"))["code"] == "meeting.chat_empty"
        for n in range(8):
            await alice.send(type="chat", client_id=f"f-{n}", text=f"刷屏 {n}")
        errors = [m for m in await alice.quiet() if m["type"] == "error"]
        assert errors and {e["code"] for e in errors} == {"meeting.chat_rate"}
        await asyncio.sleep(1.1)  # let the rate window pass
        await alice.send(type="chat", client_id="m-4", text="x", file_id=999)
        assert (await alice.expect("error"))["code"] == "meeting.file_not_found"


async def test_remove_lock_rollcall_and_end_for_all(app: Any, world: World) -> None:
    async with open_room(app, world) as room:
        await room.create("bob", "alice", "nina", "mallory")
        bob = await room.join("bob")
        alice = await room.join("alice")
        nina = await room.join("nina")
        roster = await bob.expect("roster")
        while len(roster["participants"]) < 3:
            roster = await bob.expect("roster")
        by = ids(roster)
        alice_id = by["u" + str(room.world.users["alice"].id)]["id"]
        nina_id = by["u" + str(room.world.users["nina"].id)]["id"]
        # roll-call: everyone is asked, the chair sees who answered
        await bob.send(type="control", action="rollcall")
        call = await alice.expect("rollcall")
        await nina.expect("rollcall")
        await alice.send(type="rollcall_ack", id=call["id"])
        status = await bob.expect("rollcall_status", answered=[alice_id])
        assert nina_id in status["pending"]
        # remove: alice is kicked and cannot come back
        await bob.send(type="control", action="remove", target=alice_id)
        await alice.expect("kicked")
        refused = await room.connect(await room.token("alice"))
        assert (await refused.expect("error"))["code"] == "meeting.removed"
        # co-host: nina may now chair
        await bob.send(type="control", action="cohost", target=nina_id)
        await nina.expect("lobby")
        await nina.send(type="control", action="lock")
        roster = await bob.expect(
            "roster", policy={"locked": True, "allow_unmute": True, "waiting_room": True}
        )
        late = await room.connect(await room.token("mallory"))
        assert (await late.expect("error"))["code"] == "meeting.locked"
        # end for all
        await bob.send(type="control", action="end")
        await nina.expect("ended")
        await bob.expect("ended")
        res = await room.client.post(
            f"/api/v1/meetings/{room.meeting}/token", headers=room.world.auth("bob")
        )
        assert res.status_code == 409
        async with room.app.state.sessions() as db:
            actions = set(
                (
                    await db.scalars(
                        select(AuditEvent.action).where(AuditEvent.entity_type == "meeting")
                    )
                ).all()
            )
        assert {
            "meeting.rollcall",
            "meeting.remove",
            "meeting.cohost",
            "meeting.lock",
            "meeting.end",
        } <= actions


async def test_stats_become_e_model_quality_for_the_chair_and_ops(app: Any, world: World) -> None:
    async with open_room(app, world) as room:
        await room.create("bob", "alice")
        bob = await room.join("bob")
        alice = await room.join("alice")
        await alice.send(
            type="stats",
            rtt_ms=80,
            jitter_ms=10,
            loss_pct=1.0,
            send_kbps=1200,
            recv_kbps=900,
            fps=25,
            width=1280,
            height=720,
        )
        seen = await bob.expect("quality")
        assert 1 < seen["mos"] <= 4.5 and seen["r"] > 50 and seen["label"]
        await alice.send(type="stats", rtt_ms=-1, jitter_ms=0, loss_pct=0)  # invalid: closes 1008
        with pytest.raises(WebSocketDisconnect) as closed:
            await alice.quiet(2)
            await alice.ws.receive_text(timeout=2)
        assert closed.value.code == 1008
        async with room.app.state.sessions() as db:
            samples = (await db.scalars(select(QualitySample))).all()
        assert len(samples) == 1 and samples[0].mos == seen["mos"]
        for who, status in (("bob", 200), ("otto", 200), ("alice", 403), ("mallory", 404)):
            res = await room.client.get(
                f"/api/v1/meetings/{room.meeting}/quality", headers=room.world.auth(who)
            )
            assert res.status_code == status, (who, res.text)
        summary = res = await room.client.get(
            f"/api/v1/meetings/{room.meeting}/quality", headers=room.world.auth("otto")
        )
        row = summary.json()[0]
        assert row["samples"] == 1 and row["mos_min"] == seen["mos"]


async def test_recording_needs_the_patients_consent_and_leaves_out_who_declines(
    app: Any, world: World, session
) -> None:
    async with open_room(app, world) as room:
        await room.create("alice", "nina")
        meeting = await session.get(Meeting, room.meeting)
        meeting.patient_id = room.world.patients["pa"].id
        session.add(
            MeetingGuest(
                meeting_id=room.meeting,
                display_name="家属",
                patient_id=None,
                token_hash="x" * 64,
                code_hash="y" * 64,
                expires_at=meeting.created_at,
                invited_by_id=room.world.users["alice"].id,
            )
        )
        await session.commit()
        alice = await room.join("alice")
        nina = await room.join("nina")
        peers = [ClientPeer(), ClientPeer()]
        try:
            for conn, peer in zip((alice, nina), peers, strict=True):
                await conn.send(type="publish", sdp=await peer.publish_offer())
                await conn.expect("published")
            await alice.send(type="control", action="record_start")
            assert (await alice.expect("error"))["code"] == "meeting.no_recording_consent"
            res = await room.client.post(
                f"/api/v1/patients/{room.world.patients['pa'].id}/consents",
                headers=room.world.auth("alice"),
                json={"purpose": "recording"},
            )
            assert res.status_code == 201, res.text
            await nina.send(type="consent", recording=False)
            await alice.expect("roster")
            await alice.send(type="control", action="record_start")
            started = await nina.expect("recording", state="recording")
            roster = ids(await alice.expect("roster"))
            alice_pid = roster["u" + str(room.world.users["alice"].id)]["id"]
            assert started["included"] == [alice_pid]
            await asyncio.sleep(0.5)
            await alice.send(type="control", action="record_pause")
            await nina.expect("recording", state="paused")
            await alice.send(type="control", action="record_pause")
            assert (await alice.expect("error"))["code"] == "meeting.recording_state"
            await alice.send(type="control", action="record_resume")
            await alice.send(type="control", action="record_stop")
            await nina.expect("recording", state="stopped")
            for _ in range(50):
                async with room.app.state.sessions() as db:
                    rec = await db.scalar(select(Recording))
                if rec is not None and rec.state == "ready":
                    break
                await asyncio.sleep(0.1)
            assert rec is not None and rec.state == "ready", rec and rec.state
            assert rec.included == [f"u{room.world.users['alice'].id}"]
            assert rec.excluded == [f"u{room.world.users['nina'].id}"]
            assert len(rec.sha256 or "") == 64 and rec.retention
            assert [t["participant"] for t in rec.tracks] == [alice_pid]
            url = f"/api/v1/meetings/{room.meeting}/recordings/{rec.id}/parts/0"
            played = await room.client.get(url, headers=room.world.auth("nina"))
            assert played.status_code == 200 and played.headers["content-type"] == "video/webm"
            assert played.content[:4] == b"\x1a\x45\xdf\xa3"  # EBML: a WebM file
            for who, status in (("mallory", 404), ("otto", 404), ("hana", 404)):
                res = await room.client.get(url, headers=room.world.auth(who))
                assert res.status_code == status, who
            async with room.app.state.sessions() as db:
                plays = await db.scalar(
                    select(func.count())
                    .select_from(AuditEvent)
                    .where(AuditEvent.action == "meeting.recording.play")
                )
            assert plays == 1
        finally:
            for peer in peers:
                await peer.close()


async def test_screen_share_needs_the_owner_and_is_one_at_a_time(app: Any, world: World) -> None:
    async with open_room(app, world) as room:
        await room.create("bob", "alice")
        bob = await room.join("bob")
        early = await room.connect(await room.token("alice", purpose="screen"))
        assert (await early.expect("error"))["code"] == "meeting.not_joined"
        await room.join("alice")
        screen = await room.connect(await room.token("alice", purpose="screen"))
        await screen.expect("joined")
        roster = await bob.expect("roster")
        while not any(p["screen_of"] for p in roster["participants"]):
            roster = await bob.expect("roster")
        shared = next(p for p in roster["participants"] if p["screen_of"])
        assert shared["role"] == "screen"
        second = await room.connect(await room.token("bob", purpose="screen"))
        assert (await second.expect("error"))["code"] == "meeting.screen_busy"
        await bob.send(type="control", action="stop_share")
        await screen.expect("kicked")


async def test_a_withdrawn_invitation_puts_the_guest_out(app: Any, world: World) -> None:
    async with open_room(app, world) as room:
        await room.create("bob", "alice")
        await room.load_code()
        issued = await room.client.post(
            f"/api/v1/meetings/{room.meeting}/guests",
            headers=world.auth("bob"),
            json={"display_name": "患者本人"},
        )
        assert issued.status_code == 201, issued.text
        guest_id = issued.json()["guest"]["id"]
        bob = await room.join("bob")
        guest = await room.connect(room.guest_token(guest_id, "患者本人"))
        await guest.expect("waiting")
        lobby = await bob.expect_where("lobby", lambda m: m["waiting"])
        await bob.send(type="control", action="admit", target=lobby["waiting"][0]["id"])
        await guest.expect("joined")
        res = await room.client.delete(
            f"/api/v1/meetings/{room.meeting}/guests/{guest_id}", headers=world.auth("bob")
        )
        assert res.status_code == 204
        await guest.expect("kicked")
        await bob.expect_where(
            "roster", lambda m: all(p["identity"] != f"g{guest_id}" for p in m["participants"])
        )
        again = await room.connect(room.guest_token(guest_id, "患者本人"))
        assert (await again.expect("error"))["code"] == "meeting.removed"


async def test_withdrawing_the_patients_consent_stops_a_running_recording(
    app: Any, world: World, session
) -> None:
    app.state.rooms.consent_check_seconds = 0.1
    patient = world.patients["pa"].id
    async with open_room(app, world) as room:
        await room.create("alice", "nina")
        meeting = await session.get(Meeting, room.meeting)
        meeting.patient_id = patient
        await session.commit()
        granted = await room.client.post(
            f"/api/v1/patients/{patient}/consents",
            headers=world.auth("alice"),
            json={"purpose": "recording"},
        )
        assert granted.status_code == 201, granted.text
        alice = await room.join("alice")
        nina = await room.join("nina")
        await alice.send(type="control", action="record_start")
        await nina.expect("recording", state="recording")
        withdrawn = await room.client.post(
            f"/api/v1/patients/{patient}/consents/{granted.json()['id']}/withdraw",
            headers=world.auth("alice"),
        )
        assert withdrawn.status_code == 200, withdrawn.text
        await nina.expect("recording", state="stopped")
        await alice.expect("recording", state="stopped")
        for _ in range(50):
            async with app.state.sessions() as db:
                rec = await db.scalar(select(Recording))
                stopped = await db.scalar(
                    select(func.count())
                    .select_from(AuditEvent)
                    .where(AuditEvent.action == "meeting.recording.consent_withdrawn")
                )
            if rec is not None and rec.state in ("ready", "failed"):
                break
            await asyncio.sleep(0.1)
        assert rec is not None and rec.state in ("ready", "failed") and stopped == 1
        await alice.send(type="control", action="record_start")
        assert (await alice.expect("error"))["code"] == "meeting.no_recording_consent"


async def test_a_room_whose_last_waiting_guest_leaves_is_closed(app: Any, world: World) -> None:
    async with open_room(app, world) as room:
        await room.create("bob")
        await room.load_code()
        guest = await room.connect(room.guest_token(51))
        await guest.expect("waiting")
        assert room.meeting in app.state.rooms.rooms
        meeting = room.meeting
    # every socket is closed now, the guest's too
    for _ in range(50):
        if meeting not in app.state.rooms.rooms:
            break
        await asyncio.sleep(0.05)
    assert meeting not in app.state.rooms.rooms


async def _until(check: Any, wait: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while not check():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


async def test_a_removal_outlives_the_emptied_room_until_the_host_allows_back(
    app: Any, world: World
) -> None:
    async with open_room(app, world) as room:
        await room.create("bob", "alice")
        bob = await room.join("bob")
        alice = await room.join("alice")
        roster = await bob.expect_where("roster", lambda m: len(m["participants"]) == 2)
        alice_identity = f"u{world.users['alice'].id}"
        await bob.send(type="control", action="remove", target=ids(roster)[alice_identity]["id"])
        await alice.expect("kicked")
        await bob.send(type="leave")
        await _until(lambda: room.meeting not in app.state.rooms.rooms)  # the room is gone
        back = await room.connect(await room.token("alice"))
        assert (await back.expect("error"))["code"] == "meeting.removed"
        listed = await room.client.get(
            f"/api/v1/meetings/{room.meeting}/removals", headers=world.auth("bob")
        )
        assert listed.status_code == 200
        assert [(r["identity"], r["reason"]) for r in listed.json()] == [
            (alice_identity, "removed")
        ]
        url = f"/api/v1/meetings/{room.meeting}/removals/{alice_identity}"
        assert (await room.client.delete(url, headers=world.auth("alice"))).status_code == 403
        assert (await room.client.delete(url, headers=world.auth("bob"))).status_code == 204
        await room.join("alice")
        async with app.state.sessions() as db:
            actions = set((await db.scalars(select(AuditEvent.action))).all())
        assert "meeting.allow_back" in actions


async def test_a_room_token_is_good_for_one_connection(app: Any, world: World) -> None:
    async with open_room(app, world) as room:
        await room.create("bob", "alice")
        token = await room.token("bob")
        first = await room.connect(token)
        await first.expect("roster")
        replay = await room.connect(token)
        assert (await replay.expect("error"))["code"] == "media.token_used"


class GuestBrowser:
    """The guest's side through the real link pages (cookie, CSRF, token)."""

    def __init__(self, room: Room, issued: dict[str, Any]) -> None:
        self.room, self.issued = room, issued
        self.link = "/join/" + str(issued["link"]).rsplit("/join/", 1)[1]
        self.csrf = ""

    async def enter_code(self) -> None:
        res = await self.room.client.post(self.link, data={"code": self.issued["code"]})
        assert res.status_code == 303, res.text
        page = await self.room.client.get(f"{self.link}/call")
        found = re.search(r'<meta name="csrf-token" content="([^"]*)"', page.text)
        assert found is not None
        self.csrf = found.group(1)

    async def token(self) -> httpx.Response:
        return await self.room.client.post(
            f"{self.link}/token",
            headers={"Accept": "application/json", "X-CSRF-Token": self.csrf},
        )

    async def file(self, file_id: int) -> httpx.Response:
        return await self.room.client.get(
            f"{self.link}/files/{file_id}", headers={"Accept": "application/json"}
        )


async def test_a_waiting_or_denied_guest_gets_nothing_and_a_denial_is_final(
    app: Any, world: World
) -> None:
    async with open_room(app, world) as room:
        await room.create("bob", "alice")
        made = await room.client.post(
            f"/api/v1/meetings/{room.meeting}/guests",
            headers=world.auth("bob"),
            json={"display_name": "患者本人"},
        )
        assert made.status_code == 201, made.text
        guest_id = made.json()["guest"]["id"]
        shared = await room.client.post(
            f"/api/v1/meetings/{room.meeting}/files",
            headers=world.auth("bob"),
            files={"file": ("note.txt", b"private note\n", "text/plain")},
        )
        assert shared.status_code == 201, shared.text
        file_id = shared.json()["id"]
        bob = await room.join("bob")
        guest = GuestBrowser(room, made.json())
        await guest.enter_code()
        first = await guest.token()
        assert first.status_code == 200, first.text
        spare = (await guest.token()).json()["token"]  # kept for a try after the denial
        waiting = await room.connect(first.json()["token"])
        await waiting.expect("waiting")
        res = await guest.file(file_id)  # waiting: nothing of the meeting's content
        assert res.status_code == 403 and res.json()["error"]["code"] == "guest.not_admitted"
        lobby = await bob.expect_where("lobby", lambda m: m["waiting"])
        await bob.send(type="control", action="deny", target=lobby["waiting"][0]["id"])
        await waiting.expect("denied")
        # denied: no new token, no files, and a token issued before is refused too
        res = await guest.token()
        assert res.status_code == 410 and res.json()["error"]["code"] == "guest.denied"
        assert (await guest.file(file_id)).status_code == 410
        page = await room.client.get(f"{guest.link}/check")
        assert page.status_code == 410 and "您未被准入" in page.text
        again = await room.connect(spare)
        assert (await again.expect("error"))["code"] == "meeting.denied"
        # the host re-admits: the same invitation works again
        url = f"/api/v1/meetings/{room.meeting}/removals/g{guest_id}"
        assert (await room.client.delete(url, headers=world.auth("bob"))).status_code == 204
        res = await guest.token()
        assert res.status_code == 200, res.text
        back = await room.connect(res.json()["token"])
        await back.expect("waiting")
        lobby = await bob.expect_where("lobby", lambda m: m["waiting"])
        await bob.send(type="control", action="admit", target=lobby["waiting"][0]["id"])
        await back.expect("joined")
        res = await guest.file(file_id)
        assert res.status_code == 200 and res.content == b"private note\n"


async def _held_publications(room: Room, name: str) -> dict[str, bool]:
    state = await room.app.state.hub.engine.room_state(f"meeting-{room._code}")
    return {
        x.kind: x.muted
        for p in state.participants
        if p.display_name == name
        for x in p.publications
    }


async def test_chair_holds_belong_to_the_person_not_the_connection(app: Any, world: World) -> None:
    async with open_room(app, world) as room:
        await room.create("bob", "alice", "nina")
        await room.load_code()
        alice_id = "u" + str(room.world.users["alice"].id)
        bob = await room.join("bob")
        alice = await room.join("alice")
        await bob.send(type="control", action="disallow_unmute")
        await bob.send(type="control", action="mute_all")
        await alice.expect("muted", kind="audio")
        target = ids(
            await bob.expect_where("roster", lambda m: ids(m)[alice_id]["host_muted"]["audio"])
        )
        await bob.send(type="control", action="stop_video", target=target[alice_id]["id"])
        await alice.expect("muted", kind="video")
        await alice.send(type="consent", recording=False)
        await bob.expect_where("roster", lambda m: ids(m)[alice_id]["recording"] is False)
        await alice.ws.close()

        # a reload: a new socket, no resume, comes back held, and publishes held
        peer = ClientPeer()
        try:
            again = await room.connect(await room.token("alice"))
            roster = await again.expect("roster")
            mine = ids(roster)[alice_id]
            assert mine["host_muted"] == {"audio": True, "video": True}
            assert mine["recording"] is False
            await again.send(type="publish", sdp=await peer.publish_offer())
            await again.expect("published")
            assert await _held_publications(room, "Alice") == {"audio": True, "video": True}
            await again.send(type="unmute", kind="audio")
            assert (await again.expect("error"))["code"] == "meeting.unmute_forbidden"

            # a second tab of the same person is held too
            tab = await room.connect(await room.token("alice"))
            assert ids(await tab.expect("roster"))[alice_id]["host_muted"]["audio"] is True

            # the chair hands the microphone back to her alone; the room stays as it is
            await bob.send(type="control", action="allow_audio", target=mine["id"])
            await again.expect("allowed", kind="audio")
            roster = await bob.expect_where(
                "roster", lambda m: not ids(m)[alice_id]["host_muted"]["audio"]
            )
            assert roster["policy"]["allow_unmute"] is False
            assert ids(roster)[alice_id]["host_muted"]["video"] is True
            assert await _held_publications(room, "Alice") == {"audio": False, "video": True}
        finally:
            await peer.close()
        for _ in range(50):  # the audit row is written just after the roster goes out
            async with app.state.sessions() as db:
                actions = list(
                    await db.scalars(
                        select(AuditEvent.action).where(AuditEvent.entity_id == str(room.meeting))
                    )
                )
            if "meeting.allow_audio" in actions:
                break
            await asyncio.sleep(0.05)
        assert "meeting.allow_audio" in actions


async def _meeting_state(app: Any, meeting_id: int) -> str:
    async with app.state.sessions() as db:
        return str((await db.get(Meeting, meeting_id)).state)


async def test_an_instant_meeting_everyone_left_ends_after_the_grace_period(
    app: Any, world: World
) -> None:
    rooms = app.state.rooms
    rooms.empty_end_seconds = 30.0
    async with open_room(app, world) as room:
        await room.create("bob", "alice")
        bob = await room.join("bob")
        await bob.send(type="leave")
        for _ in range(100):  # the last one left: the grace period starts
            if room.meeting in rooms._empty_timers:
                break
            await asyncio.sleep(0.02)
        timer = rooms._empty_timers[room.meeting]
        alice = await room.join("alice")  # someone comes back within it
        await asyncio.sleep(0.05)
        assert timer.cancelled()
        assert room.meeting not in rooms._empty_timers
        assert await _meeting_state(app, room.meeting) == "open"
        rooms.empty_end_seconds = 0.2
        await alice.send(type="leave")
        for _ in range(60):
            if await _meeting_state(app, room.meeting) == "ended":
                break
            await asyncio.sleep(0.05)
        assert await _meeting_state(app, room.meeting) == "ended"
    async with app.state.sessions() as db:
        end = await db.scalar(
            select(AuditEvent).where(
                AuditEvent.entity_id == str(room.meeting), AuditEvent.action == "meeting.end"
            )
        )
    assert end is not None and end.actor == "system"
    assert end.details["reason"] == "empty"
