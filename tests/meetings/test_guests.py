"""Guest invitations: hashes at rest, the code once per browser, lockout, expiry, the
guest's room token, and nothing secret in the logs."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from tests.factories import World
from yiyun.audit.models import AuditEvent
from yiyun.auth import room_tokens
from yiyun.meetings import guest_access, guests, removals
from yiyun.meetings.config import MeetingSettings
from yiyun.meetings.models import MeetingGuest

API = "/api/v1/meetings"
PHONE = "13987654321"
HTML = {"Accept": "text/html"}
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]*)"')
Browsers = Callable[[], AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def browser(app: Any) -> Browsers:
    """A fresh browser (its own cookie jar) per call."""

    @asynccontextmanager
    async def open_browser() -> AsyncIterator[httpx.AsyncClient]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver", headers=HTML
        ) as c:
            yield c

    return open_browser


async def meeting(client: httpx.AsyncClient, world: World, **fields: Any) -> dict[str, Any]:
    body = {"title": "家庭医生随访", "invitees": ["bob"]} | fields
    res = await client.post(API, headers=world.auth("alice"), json=body)
    assert res.status_code == 201, res.text
    return dict(res.json())


async def invite(
    client: httpx.AsyncClient, world: World, meeting_id: int, who: str = "alice", **fields: Any
) -> dict[str, Any]:
    body = {"display_name": "王阿姨", "phone": PHONE} | fields
    res = await client.post(f"{API}/{meeting_id}/guests", headers=world.auth(who), json=body)
    assert res.status_code == 201, res.text
    return dict(res.json())


def path_of(issued: dict[str, Any]) -> str:
    return "/join/" + str(issued["link"]).rsplit("/join/", 1)[1]


async def enter(
    b: httpx.AsyncClient, issued: dict[str, Any], code: str | None = None
) -> httpx.Response:
    return await b.post(path_of(issued), data={"code": code or issued["code"]})


# --- the host's side ------------------------------------------------------------------------


async def test_only_hashes_and_an_encrypted_phone_are_stored(
    app: Any, client: httpx.AsyncClient, world: World
) -> None:
    m = await meeting(client, world)
    issued = await invite(client, world, m["id"])
    token = path_of(issued).rsplit("/", 1)[1]
    assert len(token) >= 22 and re.fullmatch(r"[A-Za-z0-9_-]+", token)  # >= 128 bits, URL-safe
    assert re.fullmatch(r"\d{6}", issued["code"])
    assert issued["link"] == f"http://testserver/join/{token}" and issued["sms_sent"] is True
    guest = issued["guest"]
    assert guest["state"] == "invited" and guest["phone_masked"] == "139****4321"
    async with app.state.sessions() as s:
        row = await s.get(MeetingGuest, guest["id"])
        assert row is not None
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        stored = " ".join(
            str(v) for v in (row.token_hash, row.code_hash, row.phone_enc, row.display_name)
        )
        for secret in (token, issued["code"], PHONE):
            assert secret not in stored
        assert row.phone_enc and row.phone_enc.startswith("v1.")
        assert guests.phone_of(row, app.state.cipher) == PHONE
    listed = await client.get(f"{API}/{m['id']}/guests", headers=world.auth("bob"))
    assert listed.status_code == 200
    assert (
        token not in listed.text and issued["code"] not in listed.text and PHONE not in listed.text
    )
    # bob, from another institution, sees that a guest is invited, not who
    assert listed.json()[0]["display_name"] is None
    assert listed.json()[0]["phone_masked"] is None and listed.json()[0]["patient_id"] is None
    own = await client.get(f"{API}/{m['id']}/guests", headers=world.auth("alice"))
    assert own.json()[0]["display_name"] == "王阿姨"
    (sms,) = app.state.outbound.sms.sent
    assert sms.to == PHONE and issued["link"] in sms.body and issued["code"] in sms.body


async def test_the_guest_expires_an_hour_after_the_planned_end(
    client: httpx.AsyncClient, world: World
) -> None:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    m = await meeting(client, world, starts_at=start.isoformat(), duration_minutes=30)
    issued = await invite(client, world, m["id"])
    assert datetime.fromisoformat(issued["guest"]["expires_at"]) == start + timedelta(minutes=90)
    instant = await meeting(client, world)
    soon = await invite(client, world, instant["id"])
    left = datetime.fromisoformat(soon["guest"]["expires_at"]) - datetime.now(UTC)
    assert timedelta(hours=23, minutes=59) < left <= timedelta(hours=24)
    moved = await client.patch(
        f"{API}/{m['id']}",
        headers=world.auth("alice"),
        json={"starts_at": (start + timedelta(hours=2)).isoformat()},
    )
    assert moved.status_code == 200
    listed = (await client.get(f"{API}/{m['id']}/guests", headers=world.auth("alice"))).json()
    assert datetime.fromisoformat(listed[0]["expires_at"]) == start + timedelta(minutes=210)


async def test_name_and_phone_default_from_the_patient_record(
    client: httpx.AsyncClient, world: World
) -> None:
    pa = world.patients["pa"]
    res = await client.patch(
        f"/api/v1/patients/{pa.id}", headers=world.auth("alice"), json={"phone": "13700001111"}
    )
    assert res.status_code == 200
    m = await meeting(client, world)
    res = await client.post(
        f"{API}/{m['id']}/guests", headers=world.auth("alice"), json={"patient_id": pa.id}
    )
    assert res.status_code == 201
    guest = res.json()["guest"]
    assert guest["display_name"] == pa.name and guest["phone_masked"] == "137****1111"
    assert guest["patient_id"] == pa.id
    hidden = await client.post(
        f"{API}/{m['id']}/guests",
        headers=world.auth("alice"),
        json={"patient_id": world.patients["pb"].id},
    )
    assert hidden.status_code == 422 and hidden.json()["error"]["code"] == "meeting.unknown_patient"
    nameless = await client.post(f"{API}/{m['id']}/guests", headers=world.auth("alice"), json={})
    assert nameless.status_code == 422
    assert nameless.json()["error"]["code"] == "guest.name_required"


async def test_only_the_chair_invites_or_revokes_guests(
    client: httpx.AsyncClient, world: World
) -> None:
    m = await meeting(client, world)
    member = await client.post(
        f"{API}/{m['id']}/guests", headers=world.auth("bob"), json={"display_name": "x"}
    )
    assert member.status_code == 403 and member.json()["error"]["code"] == "meeting.chair_only"
    outsider = await client.post(
        f"{API}/{m['id']}/guests", headers=world.auth("mallory"), json={"display_name": "x"}
    )
    assert outsider.status_code == 404
    issued = await invite(client, world, m["id"])
    gid = issued["guest"]["id"]
    assert (
        await client.delete(f"{API}/{m['id']}/guests/{gid}", headers=world.auth("bob"))
    ).status_code == 403
    assert (
        await client.delete(f"{API}/{m['id']}/guests/{gid}", headers=world.auth("mallory"))
    ).status_code == 404
    other = await meeting(client, world)
    assert (
        await client.delete(f"{API}/{other['id']}/guests/{gid}", headers=world.auth("alice"))
    ).status_code == 404


# --- the guest's side ----------------------------------------------------------------------


async def test_the_code_binds_the_link_to_one_browser(
    app: Any, client: httpx.AsyncClient, world: World, browser: Browsers
) -> None:
    m = await meeting(client, world)
    issued = await invite(client, world, m["id"])
    link = path_of(issued)
    async with browser() as phone, browser() as other:
        form = await phone.get(link)
        assert form.status_code == 200 and "请输入邀请中的 6 位验证码" in form.text
        # before the code: neither the meeting nor the person invited is named
        assert "家庭医生随访" not in form.text and "王阿姨" not in form.text
        assert form.headers["cache-control"] == "no-store"
        wrong = await enter(phone, issued, "000000" if issued["code"] != "000000" else "111111")
        assert wrong.status_code == 422 and "剩余次数：4" in wrong.text
        done = await enter(phone, issued)
        assert done.status_code == 303 and done.headers["location"] == f"{link}/check"
        cookie = done.headers["set-cookie"]
        assert cookie.startswith(f"{guest_access.COOKIE}=")
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and f"Path={link}" in cookie
        assert "Secure" not in cookie  # plain http in tests; https sets Secure
        check = await phone.get(f"{link}/check")
        assert check.status_code == 200 and "data-join" in check.text
        assert f'href="{link}/call"' in check.text
        call = await phone.get(f"{link}/call")
        assert call.status_code == 200
        for attr in (
            f'data-token-url="{link}/token"',
            f'data-upload-url="{link}/files"',
            f'data-leave-url="{link}/left"',
            'data-guest="true"',
            'data-role="guest"',
        ):
            assert attr in call.text
        assert CSRF_META.search(call.text).group(1)  # type: ignore[union-attr]
        assert "/logout" not in call.text  # the guest layout: no staff navigation
        again = await phone.get(link)  # the same browser goes straight on
        assert again.status_code == 303 and again.headers["location"] == f"{link}/check"
        # another browser
        used = await other.get(link)
        assert used.status_code == 409 and "已被使用" in used.text
        retry = await enter(other, issued)
        assert retry.status_code == 409
        assert (await other.get(f"{link}/call")).status_code == 409
        bye = await phone.get(f"{link}/left")
        assert bye.status_code == 200 and "您已离开会议" in bye.text
    listed = (await client.get(f"{API}/{m['id']}/guests", headers=world.auth("alice"))).json()
    assert listed[0]["state"] == "verified"
    async with app.state.sessions() as s:
        actors = (
            await s.scalars(
                select(AuditEvent.actor).where(AuditEvent.action.like("meeting.guest%"))
            )
        ).all()
    assert f"guest:{issued['guest']['id']}" in actors


async def test_one_phone_may_hold_invitations_to_two_meetings(
    client: httpx.AsyncClient, world: World, browser: Browsers
) -> None:
    first = await invite(client, world, (await meeting(client, world))["id"])
    second = await invite(client, world, (await meeting(client, world))["id"])
    async with browser() as phone:
        assert (await enter(phone, first)).status_code == 303
        assert (await enter(phone, second)).status_code == 303
        for issued in (first, second):
            res = await phone.get(path_of(issued) + "/call")
            assert res.status_code == 200, res.text


async def test_five_wrong_codes_block_the_invitation(
    client: httpx.AsyncClient, world: World, browser: Browsers
) -> None:
    m = await meeting(client, world)
    issued = await invite(client, world, m["id"])
    bad = "123456" if issued["code"] != "123456" else "654321"
    async with browser() as b:
        for left in (4, 3, 2, 1):
            res = await enter(b, issued, bad)
            assert res.status_code == 422 and f"剩余次数：{left}" in res.text
        blocked = await enter(b, issued, bad)
        assert blocked.status_code == 429 and "已被锁定" in blocked.text
        right = await enter(b, issued)
        assert right.status_code == 429
        assert (await b.get(path_of(issued))).status_code == 429
    listed = (await client.get(f"{API}/{m['id']}/guests", headers=world.auth("alice"))).json()
    assert listed[0]["state"] == "blocked"


async def test_the_meeting_passcode_is_asked_too(
    client: httpx.AsyncClient, world: World, browser: Browsers
) -> None:
    m = await meeting(client, world, passcode="Heart2026")
    issued = await invite(client, world, m["id"])
    async with browser() as b:
        form = await b.get(path_of(issued))
        assert 'name="passcode"' in form.text
        missing = await enter(b, issued)
        assert missing.status_code == 422
        ok = await b.post(path_of(issued), data={"code": issued["code"], "passcode": "Heart2026"})
        assert ok.status_code == 303


@pytest.mark.parametrize("how", ["unknown", "expired", "revoked", "cancelled", "ended"])
async def test_dead_links_get_a_clear_page(
    app: Any, client: httpx.AsyncClient, world: World, browser: Browsers, how: str
) -> None:
    start = (datetime.now(UTC) + timedelta(minutes=10)).isoformat()
    m = await meeting(client, world, **({"starts_at": start} if how == "cancelled" else {}))
    issued = await invite(client, world, m["id"])
    url = f"{API}/{m['id']}"
    if how == "unknown":
        issued["link"] = "http://testserver/join/" + "A" * 32
    elif how == "expired":
        async with app.state.sessions.begin() as s:
            await s.execute(
                update(MeetingGuest).values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
            )
    elif how == "revoked":
        res = await client.delete(
            f"{url}/guests/{issued['guest']['id']}", headers=world.auth("alice")
        )
        assert res.status_code == 204
    else:
        action = "cancel" if how == "cancelled" else "end"
        assert (
            await client.post(f"{url}/{action}", headers=world.auth("alice"))
        ).status_code == 200
    expected = 404 if how == "unknown" else 410
    async with browser() as b:
        page = await b.get(path_of(issued))
        assert page.status_code == expected
        assert 'data-testid="guest-message"' in page.text
        assert (await enter(b, issued)).status_code == expected
        assert (await b.get(path_of(issued) + "/call")).status_code == expected
    short = await client.get("/join/x", headers=HTML)
    assert short.status_code == 404


async def test_the_token_needs_the_bound_cookie_and_the_csrf_token(
    app: Any, client: httpx.AsyncClient, world: World, browser: Browsers, settings: Any
) -> None:
    m = await meeting(client, world)
    issued = await invite(client, world, m["id"])
    link = path_of(issued)
    json_headers = {"Accept": "application/json"}
    anonymous = await client.post(f"{link}/token", headers=json_headers)
    assert anonymous.status_code == 403
    assert anonymous.json()["error"]["code"] == "guest.not_verified"
    async with browser() as b:
        await enter(b, issued)
        csrf = CSRF_META.search((await b.get(f"{link}/call")).text).group(1)  # type: ignore[union-attr]
        no_csrf = await b.post(f"{link}/token", headers=json_headers)
        assert no_csrf.status_code == 403 and no_csrf.json()["error"]["code"] == "auth.csrf"
        res = await b.post(f"{link}/token", headers=json_headers | {"X-CSRF-Token": csrf})
        assert res.status_code == 200, res.text
        body = res.json()
        assert set(body) == {"token", "room_id", "expires_in", "signal_url", "ice_servers"}
        claims = room_tokens.verify(
            settings.security.secret_key.get_secret_value(), body["token"], room=body["room_id"]
        )
        assert claims.guest_id == issued["guest"]["id"] and claims.user_id == 0
        assert claims.meeting_id == m["id"] and claims.role == "guest"
        assert claims.name == "王阿姨" and claims.identity == f"g{issued['guest']['id']}"
        screen = await b.post(
            f"{link}/token",
            headers=json_headers | {"X-CSRF-Token": csrf},
            json={"purpose": "screen"},
        )
        assert screen.status_code == 200
        secret = settings.security.secret_key.get_secret_value()
        assert room_tokens.verify(secret, screen.json()["token"]).role == "screen"
        # a forged cookie for the same guest is refused
        b.cookies.clear()
        b.cookies.set(guest_access.COOKIE, f"{issued['guest']['id']}.forged.sig", path=link)
        forged = await b.post(f"{link}/token", headers=json_headers | {"X-CSRF-Token": csrf})
        assert forged.status_code in (403, 409)


async def test_guests_of_a_scheduled_meeting_wait_until_it_opens(
    client: httpx.AsyncClient, world: World, browser: Browsers
) -> None:
    start = (datetime.now(UTC) + timedelta(hours=3)).isoformat()
    m = await meeting(client, world, starts_at=start)
    issued = await invite(client, world, m["id"])
    async with browser() as b:
        await enter(b, issued)
        wait = await b.get(path_of(issued) + "/call")
        assert wait.status_code == 200 and "会议尚未开始" in wait.text
        assert 'http-equiv="refresh"' in wait.text
        csrf = CSRF_META.search(wait.text).group(1)  # type: ignore[union-attr]
        early = await b.post(
            path_of(issued) + "/token",
            headers={"Accept": "application/json", "X-CSRF-Token": csrf},
        )
        assert early.status_code == 409 and early.json()["error"]["code"] == "meeting.not_started"


async def test_guests_share_and_fetch_files_only_once_admitted(
    app: Any, client: httpx.AsyncClient, world: World, browser: Browsers
) -> None:
    m = await meeting(client, world)
    issued = await invite(client, world, m["id"])
    link = path_of(issued)
    shared = await client.post(
        f"{API}/{m['id']}/files",
        headers=world.auth("alice"),
        files={"file": ("plan.txt", b"follow-up plan\n", "text/plain")},
    )
    assert shared.status_code == 201, shared.text
    file_id = shared.json()["id"]
    async with browser() as b:
        await enter(b, issued)
        csrf = CSRF_META.search((await b.get(f"{link}/call")).text).group(1)  # type: ignore[union-attr]
        upload = {"headers": {"Accept": "application/json", "X-CSRF-Token": csrf}}

        async def up() -> httpx.Response:
            return await b.post(
                f"{link}/files", files={"file": ("bp.txt", b"120/80\n", "text/plain")}, **upload
            )

        # verified but never admitted: nothing of the meeting's content, either way
        fetched = await b.get(f"{link}/files/{file_id}", headers={"Accept": "application/json"})
        for res in (fetched, await up()):
            assert res.status_code == 403 and "guest.not_admitted" in res.text
        async with app.state.sessions.begin() as s:  # what the room does on admission
            await removals.note_admitted(s, issued["guest"]["id"])
        mine = await up()
        assert mine.status_code == 201, mine.text
        down = await b.get(f"{link}/files/{mine.json()['id']}")
        assert down.status_code == 200 and down.content == b"120/80\n"
        assert (await b.get(f"{link}/files/{file_id}")).content == b"follow-up plan\n"
    async with browser() as stranger:
        assert (await stranger.get(f"{link}/files/{file_id}")).status_code == 409


async def test_file_names_lose_bidi_controls_on_every_upload(
    app: Any, client: httpx.AsyncClient, world: World
) -> None:
    m = await meeting(client, world)
    spoofed = "report\u202etxt.exe\u202c.txt"  # shows as "reportexe.txt" reversed
    res = await client.post(
        f"{API}/{m['id']}/files",
        headers=world.auth("alice"),
        files={"file": (spoofed, b"hello\n", "text/plain")},
    )
    assert res.status_code == 201, res.text
    assert res.json()["name"] == "reporttxt.exe.txt"
    pa = world.patients["pa"]
    doc = await client.post(
        f"/api/v1/patients/{pa.id}/attachments",
        headers=world.auth("alice"),
        files={"file": ("a\u2067b\u200f.txt", b"hello\n", "text/plain")},
    )
    assert doc.status_code == 201, doc.text
    assert doc.json()["filename"] == "ab.txt"


async def test_code_submissions_are_limited_per_address(
    app: Any, client: httpx.AsyncClient, world: World, browser: Browsers, settings: Any
) -> None:
    app.state.settings = settings.model_copy(
        update={"meetings": MeetingSettings(guest_ip_limit=3, guest_max_attempts=20)}
    )
    m = await meeting(client, world)
    first, second = await invite(client, world, m["id"]), await invite(client, world, m["id"])
    async with browser() as b:
        for issued in (first, second, first):
            assert (await enter(b, issued, "999999")).status_code in (422, 303)
        limited = await enter(b, second)
        assert limited.status_code == 429 and "请稍后再试" in limited.text


async def test_nothing_secret_reaches_the_logs(
    client: httpx.AsyncClient, world: World, browser: Browsers, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="yiyun")
    caplog.set_level(logging.INFO)
    m = await meeting(client, world)
    issued = await invite(client, world, m["id"])
    link = path_of(issued)
    async with browser() as b:
        await b.get(link)
        await enter(b, issued, "000001")
        await enter(b, issued)
        csrf = CSRF_META.search((await b.get(f"{link}/call")).text).group(1)  # type: ignore[union-attr]
        await b.post(f"{link}/token", headers={"X-CSRF-Token": csrf})
        await b.get(f"{link}/left")
    logged = "\n".join(  # the app's records (httpx here is the test's own client)
        r.getMessage() + " " + " ".join(str(v) for v in r.__dict__.values())
        for r in caplog.records
        if not r.name.startswith(("httpx", "aiosqlite"))  # aiosqlite: WARNING in production
    )
    token = link.rsplit("/", 1)[1]
    assert "/join/{link}" in logged  # the access log names the route, not the path
    for secret in (token, issued["code"], PHONE, csrf):
        assert secret not in logged
