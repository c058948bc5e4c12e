"""Picking a minor's guardian by searching patients: adults only, within the caller's scope."""

from __future__ import annotations

import re
from datetime import date, timedelta

from tests.factories import World
from tests.web.test_pages import Browsers, browser, sign_in

__all__ = ["browser"]


async def _register(b, **data: str):
    return await b.client.post(
        "/patients", data={"csrf_token": b.csrf, **data}, headers={"Accept": "text/html"}
    )


async def test_search_offers_adults_of_my_scope_and_picking_fills_the_form(
    browser: Browsers, world: World
) -> None:
    async with browser() as b:
        await sign_in(b, world, "alice")
        adult = await _register(b, name="李建国", sex="male", birth_on="1975-04-05")
        assert adult.status_code == 303
        adult_id = int(adult.headers["location"].split("/")[2].split("?")[0])
        child_birth = (date.today() - timedelta(days=365 * 8)).isoformat()
        child = await _register(
            b,
            name="李小明",
            sex="male",
            birth_on=child_birth,
            guardian_id=str(adult_id),
            guardian_relation="parent",
        )
        assert child.status_code == 303, child.text
        found = await b.client.get(
            "/patients/guardians", params={"guardian_q": "李"}, headers={"HX-Request": "true"}
        )
        assert found.status_code == 200
        ids = re.findall(r"chosen=(\d+)", found.text)
        assert ids == [str(adult_id)]  # the child is not offered: a guardian is an adult
        picked = await b.client.get(
            "/patients/guardians/picker",
            params={"chosen": adult_id},
            headers={"HX-Request": "true"},
        )
        assert f'name="guardian_id" value="{adult_id}"' in picked.text
        assert "李建国" in picked.text
        nothing = await b.client.get("/patients/guardians", params={"guardian_q": "不存在的人"})
        assert "没有符合条件的成年患者" in nothing.text
    async with browser() as outsider:
        await sign_in(outsider, world, "mallory")
        theirs = await outsider.client.get("/patients/guardians", params={"guardian_q": "李建国"})
        assert theirs.status_code == 200 and "chosen=" not in theirs.text
        peek = await outsider.client.get("/patients/guardians/picker", params={"chosen": adult_id})
        assert peek.status_code == 404


async def test_the_register_form_asks_for_a_guardian_by_search_not_by_internal_id(
    browser: Browsers, world: World
) -> None:
    async with browser() as b:
        await sign_in(b, world, "alice")
        page = await b.client.get("/patients", headers={"Accept": "text/html"})
        assert 'id="guardian-q"' in page.text and 'hx-get="/patients/guardians"' in page.text
        assert "Guardian's patient ID" not in page.text and "监护人患者 ID" not in page.text
