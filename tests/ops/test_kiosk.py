"""The kiosk of a room terminal: signed in by device credential, it lists its site's
meetings (none about a patient, none of other sites), is rung when its site's people are
rung, and gets a room token of its own to join as the site."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from tests.factories import World
from tests.ops.helpers import API, enrolled, terminal_id
from yiyun.auth import room_tokens
from yiyun.core import events
from yiyun.meetings.models import Meeting
from yiyun.ops import kiosk
from yiyun.ops.ring import site_channel
from yiyun.settings import secret


async def signed_in(app: Any, client: httpx.AsyncClient, world: World) -> tuple[str, str]:
    credential = await enrolled(app, client, world)
    res = await client.post("/kiosk/sign-in", data={"credential": credential})
    assert res.status_code == 303
    assert kiosk.COOKIE in res.cookies
    key = secret(app.state.settings.security.secret_key)
    return credential, kiosk.csrf_token(key, credential)


async def meeting(client: httpx.AsyncClient, world: World, who: str, **extra: Any) -> int:
    body = {"title": f"{who} 的会议", "invitees": []} | extra
    res = await client.post(f"{API}/meetings", json=body, headers=world.auth(who))
    assert res.status_code == 201, res.text
    return int(res.json()["id"])


async def test_the_kiosk_lists_its_sites_meetings_and_joins_as_the_site(
    app: Any, client: httpx.AsyncClient, world: World
) -> None:
    res = await client.post("/kiosk/sign-in", data={"credential": "yd1.1.nonsense-nonsense-x"})
    assert res.status_code == 401
    ours = await meeting(client, world, "alice")  # chc_a's
    theirs = await meeting(client, world, "mallory")  # chc_b's
    about_patient = await meeting(
        client, world, "alice", title="病例", patient_id=world.patients["pa"].id
    )
    _credential, csrf = await signed_in(app, client, world)
    page = await client.get("/kiosk")
    assert page.status_code == 200
    assert f'data-meeting="{ours}"' in page.text
    assert f'data-meeting="{theirs}"' not in page.text
    assert f'data-meeting="{about_patient}"' not in page.text
    for other in (theirs, about_patient):
        assert (await client.get(f"/kiosk/meetings/{other}")).status_code == 404
    call = await client.get(f"/kiosk/meetings/{ours}")
    assert call.status_code == 200 and f"/kiosk/meetings/{ours}/token" in call.text
    no_csrf = await client.post(f"/kiosk/meetings/{ours}/token")
    assert no_csrf.status_code == 403
    res = await client.post(f"/kiosk/meetings/{ours}/token", headers={"X-CSRF-Token": csrf})
    assert res.status_code == 200, res.text
    claims = room_tokens.verify(secret(app.state.settings.security.secret_key), res.json()["token"])
    assert claims.terminal_id == await terminal_id(app) and claims.identity.startswith("t")
    assert claims.user_id == 0 and claims.meeting_id == ours and "会诊室终端" in claims.name
    other = await client.post(f"/kiosk/meetings/{theirs}/token", headers={"X-CSRF-Token": csrf})
    assert other.status_code == 404


async def test_a_revoked_terminal_is_signed_out(
    app: Any, client: httpx.AsyncClient, world: World
) -> None:
    await signed_in(app, client, world)
    tid = await terminal_id(app)
    assert (
        await client.post(f"{API}/ops/terminals/{tid}/revoke", headers=world.auth("otto"))
    ).is_success
    page = await client.get("/kiosk")
    assert page.status_code == 200 and 'name="credential"' in page.text  # the sign-in form
    assert (await client.get("/kiosk/upcoming")).status_code == 303


async def test_convening_all_sites_rings_each_sites_terminals(
    app: Any, client: httpx.AsyncClient, world: World
) -> None:
    chc_a, lead = world.inst["chc_a"].id, world.inst["lead"].id
    async with app.state.bus.subscribe(site_channel(chc_a), site_channel(lead)) as sub:
        res = await client.post(
            f"{API}/emergency/convene-all",
            json={"title": "全区应急会商"},
            headers=world.auth("hana"),
        )
        assert res.status_code == 200, res.text
        meeting_id = res.json()["meeting_id"]
        await events.settle()
        got = [m for _ in range(4) if (m := await sub.get(timeout=0.5)) is not None]
    assert {(m["type"], m["meeting_id"]) for m in got} == {("ring", meeting_id)}
    assert len(got) == 2  # one ring per site, however many of its people were rung
    async with app.state.sessions() as s:
        assert (
            await s.scalar(select(Meeting.title).where(Meeting.id == meeting_id)) == "全区应急会商"
        )
