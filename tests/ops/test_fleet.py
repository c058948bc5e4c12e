"""Who sees which terminals: an institution never sees another's, in the fleet list,
its figures or the topology; operations and the consortium admin see all."""

from __future__ import annotations

from typing import Any

import httpx

from tests.factories import World
from tests.ops.helpers import API, enrolled, send


async def add_terminal(client: httpx.AsyncClient, world: World, site: str, code: str) -> None:
    url = f"{API}/institutions/{world.inst[site].id}/terminals"
    body = {"code": code, "name": "大屏", "kind": "large_screen"}
    res = await client.post(url, json=body, headers=world.auth("admin"))
    assert res.status_code == 201, res.text


async def test_an_institution_sees_only_its_own_terminals(
    app: Any, client: httpx.AsyncClient, world: World
) -> None:
    await add_terminal(client, world, "chc_b", "T-CHCB-1")
    await add_terminal(client, world, "lead", "T-LEAD-1")
    credential = await enrolled(app, client, world, code="T-CHCB-1")
    assert (await send(client, credential)).status_code == 200
    seen: dict[str, Any] = {}
    for who in ("otto", "admin", "ines", "mallory", "hana"):
        res = await client.get(f"{API}/ops/terminals", headers=world.auth(who))
        seen[who] = (
            sorted(t["code"] for t in res.json()["items"]) if res.is_success else res.status_code
        )
    everything = ["T-CHCA-1", "T-CHCB-1", "T-LEAD-1"]
    assert seen == {
        "otto": everything, "admin": everything, "ines": ["T-CHCA-1"], "mallory": 403, "hana": 403,
    }  # fmt: skip
    online = await client.get(f"{API}/ops/terminals?status=online", headers=world.auth("otto"))
    assert [t["code"] for t in online.json()["items"]] == ["T-CHCB-1"]
    assert online.json()["items"][0]["health"]["version"] == "3.2.1"
    page = await client.get("/ops/terminals", headers=world.auth("ines") | {"Accept": "text/html"})
    assert page.status_code == 200 and "T-CHCA-1" in page.text and "T-CHCB-1" not in page.text
    graph = await client.get(f"{API}/ops/topology", headers=world.auth("ines"))
    codes = {n.get("code") for n in graph.json()["nodes"] if n["layer"] == "terminal"}
    assert codes == {"T-CHCA-1"}
    whole = await client.get(f"{API}/ops/topology", headers=world.auth("otto"))
    states = {n["code"]: n["state"] for n in whole.json()["nodes"] if n["layer"] == "terminal"}
    assert states == {"T-CHCA-1": "down", "T-CHCB-1": "ok", "T-LEAD-1": "down"}
    for bad in ("status=asleep", "site_id=0", "page=0", "size=1000"):
        res = await client.get(f"{API}/ops/terminals?{bad}", headers=world.auth("otto"))
        assert res.status_code == 422, bad


async def test_page_filters_take_empty_as_any_and_refuse_unknown_values(
    client: httpx.AsyncClient, world: World
) -> None:
    html = world.auth("otto") | {"Accept": "text/html"}
    for url, status in (
        ("/ops/alarms?state=&kind=&days=30&p=1", 200),
        ("/ops/terminals?status=&p=1", 200),
        ("/ops/alarms?state=burning", 422),
        ("/ops/alarms?days=400", 422),
        ("/ops/terminals?status=asleep", 422),
        ("/ops/terminals?p=0", 422),
    ):
        assert (await client.get(url, headers=html)).status_code == status, url
    polled = await client.get("/ops/alarms?state=", headers=html | {"HX-Request": "true"})
    assert polled.status_code == 200 and 'data-testid="alarms"' in polled.text
