"""Staff pages: the schedule form on the meetings list, a meeting's info page and the
host's actions there (invite staff and guests, roles, edit, cancel)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from tests.factories import PASSWORD, World
from yiyun.auth import service as auth_service
from yiyun.core.ratelimit import MemoryLimiter
from yiyun.settings import Settings
from yiyun.web.deps import SESSION_COOKIE

CST = timezone(timedelta(hours=8))
HTML = {"Accept": "text/html"}
SignIn = Callable[[str], Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def signed_in(app: Any, settings: Settings) -> AsyncIterator[SignIn]:
    """A browser with a signed-in session (second factor marked passed) per persona."""
    opened: list[httpx.AsyncClient] = []

    async def open_as(name: str) -> httpx.AsyncClient:
        async with app.state.sessions.begin() as s:
            issued = await auth_service.login_password(
                session=s,
                cfg=settings.security,
                username=name,
                password=PASSWORD,
                attempt=auth_service.Attempt(MemoryLimiter(), None),
            )
            issued.session.mfa_passed = True
            csrf = issued.session.csrf_token
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver", headers=HTML
        )
        client.cookies.set(SESSION_COOKIE, issued.token)
        client.csrf = csrf  # type: ignore[attr-defined]
        opened.append(client)
        return client

    yield open_as
    for client in opened:
        await client.aclose()


async def post(b: httpx.AsyncClient, url: str, data: dict[str, Any]) -> httpx.Response:
    return await b.post(url, data={"csrf_token": b.csrf, **data})  # type: ignore[attr-defined]


def local(minutes: int) -> str:
    at = datetime.now(CST) + timedelta(minutes=minutes)
    return at.strftime("%Y-%m-%dT%H:%M")


async def schedule(b: httpx.AsyncClient, **fields: Any) -> int:
    form = {
        "title": "病例讨论会",
        "starts_local": local(24 * 60),
        "duration_minutes": "45",
        "invitees": "bob",
        "observers": "carol",
        "waiting_room": "1",
    } | fields
    res = await post(b, "/meetings/schedule", form)
    assert res.status_code == 303, res.text
    match = re.fullmatch(r"/meetings/(\d+)/info\?done=scheduled", res.headers["location"])
    assert match
    return int(match.group(1))


async def test_the_list_has_both_forms_and_upcoming_and_past(
    signed_in: SignIn, client: httpx.AsyncClient, world: World
) -> None:
    alice = await signed_in("alice")
    page = await alice.get("/meetings")
    assert page.status_code == 200
    assert 'action="/meetings/schedule"' in page.text and 'action="/meetings"' in page.text
    assert 'type="datetime-local"' in page.text and "预约会议" in page.text
    meeting_id = await schedule(alice)
    listed = await alice.get("/meetings")
    upcoming = listed.text.split('data-testid="upcoming"')[1].split("</table>")[0]
    assert f'href="/meetings/{meeting_id}/info"' in upcoming and "已预约" in upcoming
    await post(alice, f"/meetings/{meeting_id}/cancel", {})
    past = (await alice.get("/meetings")).text.split('data-testid="past"')[1]
    assert f'href="/meetings/{meeting_id}/info"' in past and "已取消" in past


async def test_the_form_takes_beijing_time(
    signed_in: SignIn, client: httpx.AsyncClient, world: World
) -> None:
    alice = await signed_in("alice")
    start = (datetime.now(CST) + timedelta(days=2)).replace(
        hour=14, minute=30, second=0, microsecond=0
    )
    meeting_id = await schedule(alice, starts_local=start.strftime("%Y-%m-%dT%H:%M"))
    m = (await client.get(f"/api/v1/meetings/{meeting_id}", headers=world.auth("alice"))).json()
    assert datetime.fromisoformat(m["starts_at"]) == start.astimezone(UTC)
    assert m["duration_minutes"] == 45 and m["waiting_room"] is True and m["allow_unmute"] is False
    roles = {x["username"]: x["role"] for x in m["members"]}
    assert roles == {"alice": "host", "bob": "participant", "carol": "observer"}
    info = await alice.get(f"/meetings/{meeting_id}/info")
    assert start.strftime("%Y-%m-%d 14:30") in info.text


@pytest.mark.parametrize(
    ("fields", "shown"),
    [
        ({"starts_local": "2020-01-01T09:00"}, "开始时间已过"),
        ({"invitees": "bob, nobody_here"}, "nobody_here"),
        ({"starts_local": "tomorrow"}, "YYYY-MM-DD HH:MM"),
        ({"patient_number": "PNOSUCH"}, "没有您可访问的该编号患者"),
    ],
)
async def test_a_bad_form_says_why(
    signed_in: SignIn, world: World, fields: dict[str, str], shown: str
) -> None:
    alice = await signed_in("alice")
    res = await post(
        alice, "/meetings/schedule", {"title": "x", "starts_local": local(120)} | fields
    )
    assert res.status_code == 422
    assert shown in res.text or shown in res.text.replace("&#34;", '"')


async def test_the_info_page_shows_members_and_guests_without_secrets(
    signed_in: SignIn, world: World
) -> None:
    alice, bob, mallory = (
        await signed_in("alice"),
        await signed_in("bob"),
        await signed_in("mallory"),
    )
    meeting_id = await schedule(alice)
    info = f"/meetings/{meeting_id}/info"
    created = await post(
        alice,
        f"/meetings/{meeting_id}/guests",
        {"display_name": "王阿姨", "phone": "139 8765 4321"},
    )
    assert created.status_code == 200 and created.headers["cache-control"] == "no-store"
    code = re.search(r'data-testid="guest-code">(\d{6})<', created.text)
    link = re.search(r'data-testid="guest-link">(http://testserver/join/[\w-]+)<', created.text)
    assert code and link
    assert "139****4321" in created.text
    host_view = await alice.get(info)
    assert "王阿姨" in host_view.text and "已邀请" in host_view.text
    assert code.group(1) not in host_view.text and link.group(1) not in host_view.text
    assert f'action="/meetings/{meeting_id}/guests"' in host_view.text
    member_view = await bob.get(info)
    # bob is from another institution: he sees that a guest is invited, not who
    assert member_view.status_code == 200 and "已邀请" in member_view.text
    assert "王阿姨" not in member_view.text and "139****4321" not in member_view.text
    for host_only in ("/cancel", "/edit", '/guests"', '/invite"'):
        assert f'action="/meetings/{meeting_id}{host_only}' not in member_view.text
    assert (await mallory.get(info)).status_code == 404


async def test_the_host_sets_a_co_host_invites_an_observer_edits_and_cancels(
    signed_in: SignIn, client: httpx.AsyncClient, world: World
) -> None:
    alice = await signed_in("alice")
    meeting_id = await schedule(alice)
    base = f"/meetings/{meeting_id}"
    bob = world.users["bob"].id
    res = await post(alice, f"{base}/members/{bob}/role", {"role": "cohost"})
    assert res.status_code == 303 and res.headers["location"] == f"{base}/info?done=role"
    res = await post(alice, f"{base}/invite", {"usernames": "hana", "role": "observer"})
    assert res.status_code == 303
    new_start = local(3 * 24 * 60)
    res = await post(
        alice,
        f"{base}/edit",
        {"title": "改期讨论", "starts_local": new_start, "duration_minutes": "90"},
    )
    assert res.status_code == 303, res.text
    m = (await client.get(f"/api/v1/meetings/{meeting_id}", headers=world.auth("bob"))).json()
    roles = {x["username"]: x["role"] for x in m["members"]}
    assert roles["bob"] == "cohost" and roles["hana"] == "observer"
    assert m["title"] == "改期讨论" and m["duration_minutes"] == 90
    assert m["waiting_room"] is False  # an unticked box turns it off
    shown = (await alice.get(f"{base}/info?done=saved")).text
    assert "已保存" in shown or "Saved" in shown
    res = await post(alice, f"{base}/cancel", {})
    assert res.status_code == 303
    page = await alice.get(f"{base}/info?done=cancelled")
    assert 'data-testid="meeting-state">已取消' in page.text
    assert f'action="{base}/edit"' not in page.text
    again = await post(alice, f"{base}/cancel", {})
    assert again.status_code == 409


async def test_pages_speak_english_on_request(signed_in: SignIn, world: World) -> None:
    alice = await signed_in("alice")
    meeting_id = await schedule(alice)
    page = await alice.get(f"/meetings/{meeting_id}/info", params={"lang": "en"})
    assert "Add to calendar (.ics)" in page.text and "Invite a guest" in page.text


async def test_a_meeting_that_opens_tomorrow_says_when_instead_of_offering_join(
    signed_in: SignIn, world: World
) -> None:
    alice = await signed_in("alice")
    later = await schedule(alice, title="明日例会")  # tomorrow
    soon = await schedule(alice, title="马上开始", starts_local=local(10))  # opens 30 min early
    listed = (await alice.get("/meetings")).text
    upcoming = listed.split('data-testid="upcoming"')[1].split("</table>")[0]
    assert f'href="/meetings/{soon}" hx-boost="false">加入' in upcoming
    assert f'href="/meetings/{later}" hx-boost' not in upcoming
    assert "开放入会" in upcoming
    # the call page itself explains, in words, when joining opens
    page = await alice.get(f"/meetings/{later}")
    assert page.status_code == 200
    assert 'data-testid="not-open"' in page.text and "会议尚未开放入会" in page.text
    assert "开始前 30 分钟" in page.text and 'id="call"' not in page.text
    assert 'id="call"' in (await alice.get(f"/meetings/{soon}")).text
