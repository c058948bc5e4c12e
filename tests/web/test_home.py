"""Home pages show today's work: a doctor's and a nurse's upcoming meetings (a meeting
that opens later says when instead of offering 「加入」) and their site's pending tasks;
the dispatcher's work area has today's meetings in the district and open incidents."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.factories import World
from tests.web.test_pages import Browser, Browsers, sign_in
from yiyun.core.clock import now
from yiyun.org.enums import TerminalKind, TerminalStatus
from yiyun.org.models import Terminal


@pytest.fixture
def browser(app: FastAPI) -> Browsers:
    @asynccontextmanager
    async def open_browser() -> AsyncIterator[Browser]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield Browser(c)

    return open_browser


async def _setup(client: httpx.AsyncClient, world: World) -> dict[str, int]:
    made = {}
    res = await client.post(
        "/api/v1/meetings",
        headers=world.auth("bob"),
        json={"title": "即时会诊", "invitees": ["alice", "nina"]},
    )
    made["instant"] = res.json()["id"]
    tomorrow = (now() + timedelta(days=1)).replace(microsecond=0).isoformat()
    res = await client.post(
        "/api/v1/meetings",
        headers=world.auth("bob"),
        json={"title": "明日病例讨论", "invitees": ["alice"], "starts_at": tomorrow},
    )
    assert res.status_code == 201, res.text
    made["tomorrow"] = res.json()["id"]
    res = await client.post(
        "/api/v1/emergency/incidents",
        headers=world.auth("hana"),
        json={"title": "发热聚集", "site_ids": [world.inst["chc_a"].id]},
    )
    incident = res.json()["id"]
    res = await client.post(
        f"/api/v1/emergency/incidents/{incident}/tasks",
        headers=world.auth("hana"),
        json={"site_ids": [world.inst["chc_a"].id], "title": "上报发热门诊人数"},
    )
    assert res.status_code == 201, res.text
    return made


async def _home(browser: Browsers, world: World, who: str) -> str:
    async with browser() as b:
        await sign_in(b, world, who)
        res = await b.get("/")
        assert res.status_code == 200
        return res.text


async def test_a_doctor_and_a_nurse_see_their_meetings_and_their_sites_tasks(
    client: httpx.AsyncClient, browser: Browsers, world: World
) -> None:
    made = await _setup(client, world)
    alice = await _home(browser, world, "alice")
    assert "今日工作" in alice
    assert "即时会诊" in alice and "明日病例讨论" in alice
    assert f'href="/meetings/{made["instant"]}" hx-boost="false"' in alice  # join now
    assert f'href="/meetings/{made["tomorrow"]}" hx-boost' not in alice  # not yet
    assert "开放入会" in alice
    assert "上报发热门诊人数" in alice
    nina = await _home(browser, world, "nina")
    assert "即时会诊" in nina and "上报发热门诊人数" in nina
    mallory = await _home(browser, world, "mallory")  # another site: not her task
    assert "上报发热门诊人数" not in mallory and "即时会诊" not in mallory


async def test_the_dispatcher_gets_a_work_area(
    client: httpx.AsyncClient, browser: Browsers, world: World
) -> None:
    await _setup(client, world)
    carol = await _home(browser, world, "carol")
    assert "今日全区会议" in carol
    assert "即时会诊" in carol  # open now, in the district
    assert "明日病例讨论" not in carol  # tomorrow
    assert "发热聚集" in carol and "上报发热门诊人数" in carol


async def test_home_and_the_command_room_count_terminals_the_same_way(
    app: Any, client: httpx.AsyncClient, browser: Browsers, world: World
) -> None:
    async with app.state.sessions.begin() as db:
        db.add_all(
            [
                Terminal(
                    institution_id=world.inst["authority"].id,
                    code="T-AUTH-1",
                    name="指挥中心大屏",
                    kind=TerminalKind.LARGE_SCREEN,
                    status=TerminalStatus.ONLINE,
                ),
                Terminal(
                    institution_id=world.inst["chc_b"].id,
                    code="T-OLD-1",
                    name="停用终端",
                    kind=TerminalKind.PC,
                    status=TerminalStatus.ONLINE,
                    active=False,
                ),
            ]
            + [
                Terminal(
                    institution_id=world.inst["chc_b"].id,
                    code=f"T-OFF-{n:02}",
                    name=f"离线终端{n}",
                    kind=TerminalKind.PC,
                    status=TerminalStatus.OFFLINE,
                )
                for n in range(25)
            ]
        )
    board = (await client.get("/api/v1/emergency/board", headers=world.auth("hana"))).json()
    async with browser() as b:
        await sign_in(b, world, "hana")
        home = (await b.get("/")).text
        figure = f"{board['terminals']['online']} / {board['terminals']['total']}"
        assert figure in home
        assert board["terminals"]["total"] == 27  # active ones (the authority's too)
        # the list is capped, and says so with a link to all of them
        capped = home.split('data-testid="attention"')[1]
        assert "显示 26 台中的 20 台" in capped and 'href="/terminals/attention"' in capped
        everything = await b.get("/terminals/attention")
        assert everything.status_code == 200
        assert everything.text.count("离线终端") == 25 and "会诊室终端" in everything.text
