"""Device credentials and heartbeats: enrolment with a one-time code, heartbeats that set
the terminal's state, and every refusal (unknown, revoked, replayed, flood, bad values)
answered with a 4xx and counted."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.factories import World
from tests.ops.helpers import API, beat, enrolled, send, terminal_id
from yiyun.ops.models import DeviceCredential, TerminalHealth
from yiyun.org.enums import TerminalStatus
from yiyun.org.models import Terminal


def refusals(text: str, reason: str) -> float:
    found = re.search(rf'yiyun_device_refusals_total\{{reason="{reason}"\}} ([0-9.]+)', text)
    return float(found.group(1)) if found else 0.0


async def metrics(client: httpx.AsyncClient) -> str:
    res = await client.get("/metrics")
    assert res.status_code == 200
    return res.text


async def test_a_device_enrols_once_and_its_heartbeats_set_it_online(
    app: Any, client: httpx.AsyncClient, world: World
) -> None:
    tid = await terminal_id(app)
    res = await client.post(f"{API}/ops/terminals/{tid}/enrolment", headers=world.auth("otto"))
    assert res.status_code == 201
    code = res.json()["code"]
    async with app.state.sessions() as s:
        row = await s.scalar(select(DeviceCredential).where(DeviceCredential.terminal_id == tid))
        assert row is not None and code not in (row.enrol_code_hash or "")  # stored hashed
    wrong = await client.post(
        f"{API}/devices/enrol", json={"terminal_code": "T-CHCA-1", "enrolment_code": "AAAAA-AAAAA"}
    )
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "ops.unknown"
    first = await client.post(
        f"{API}/devices/enrol", json={"terminal_code": "T-CHCA-1", "enrolment_code": code.lower()}
    )
    assert first.status_code == 201
    credential = first.json()["credential"]
    again = await client.post(
        f"{API}/devices/enrol", json={"terminal_code": "T-CHCA-1", "enrolment_code": code}
    )
    assert again.status_code == 409 and again.json()["error"]["code"] == "ops.replayed"

    res = await send(client, credential, camera="fault")
    assert res.status_code == 200 and res.json() == {"status": "fault"}
    res = await send(client, credential, rtt_ms=31.0)
    assert res.status_code == 200 and res.json() == {"status": "online"}
    async with app.state.sessions() as s:
        terminal = await s.get(Terminal, tid)
        health = await s.get(TerminalHealth, tid)
        assert terminal is not None and terminal.status is TerminalStatus.ONLINE
        assert health is not None and health.heartbeats == 2 and health.rtt_ms == 31.0
    assert "yiyun_heartbeats_total 2.0" in await metrics(client)


async def test_unknown_revoked_and_replayed_credentials_are_refused_and_counted(
    app: Any, client: httpx.AsyncClient, world: World
) -> None:
    credential = await enrolled(app, client, world)
    before = await metrics(client)
    for bad in ("", "Device nonsense", f"Device {credential[:-3]}xyz", f"Bearer {credential}"):
        res = await client.post(
            f"{API}/devices/heartbeat", json=beat(), headers={"Authorization": bad}
        )
        assert res.status_code == 401 and res.json()["error"]["code"] == "ops.unknown", bad
    body = beat()
    headers = {"Authorization": f"Device {credential}"}
    assert (await client.post(f"{API}/devices/heartbeat", json=body, headers=headers)).is_success
    replay = await client.post(f"{API}/devices/heartbeat", json=body, headers=headers)
    assert replay.status_code == 409 and replay.json()["error"]["code"] == "ops.replayed"
    older = await send(client, credential, seq=body["seq"] - 5)
    assert older.status_code == 409
    tid = await terminal_id(app)
    res = await client.post(f"{API}/ops/terminals/{tid}/revoke", headers=world.auth("ines"))
    assert res.status_code == 200 and res.json()["ended"] == 1
    revoked = await send(client, credential)
    assert revoked.status_code == 401 and revoked.json()["error"]["code"] == "ops.revoked"
    after = await metrics(client)
    assert refusals(after, "unknown") - refusals(before, "unknown") == 4
    assert refusals(after, "replayed") - refusals(before, "replayed") == 2
    assert refusals(after, "revoked") - refusals(before, "revoked") == 1


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"loss_pct": 150}, "loss_pct"),
        ({"rtt_ms": -1}, "rtt_ms"),
        ({"bandwidth_kbps": 1e12}, "bandwidth_kbps"),
        ({"version": "3.2 <script>"}, "version"),
        ({"camera": "broken"}, "camera"),
        ({"seq": 0}, "seq"),
        ({"extra": 1}, "extra"),
    ],
)
async def test_values_out_of_range_are_422_naming_the_field(
    app: Any, client: httpx.AsyncClient, world: World, over: dict[str, Any], field: str
) -> None:
    credential = await enrolled(app, client, world)
    res = await send(client, credential, **over)
    assert res.status_code == 422, res.text
    assert field in {e["field"] for e in res.json()["error"]["details"]["errors"]}
    res = await client.post(
        f"{API}/devices/heartbeat",
        content=b"{not json",
        headers={"Authorization": f"Device {credential}"},
    )
    assert res.status_code == 422


async def test_a_flood_from_one_device_is_rate_limited(
    app: Any, client: httpx.AsyncClient, world: World
) -> None:
    credential = await enrolled(app, client, world)
    limit = app.state.settings.ops.heartbeat_limit
    codes = [(await send(client, credential)).status_code for _ in range(limit + 2)]
    assert codes[:limit] == [200] * limit and codes[limit:] == [429, 429]
    assert refusals(await metrics(client), "flood") >= 2


async def test_an_institution_admin_enrols_only_its_own_terminals(
    app: Any, client: httpx.AsyncClient, world: World
) -> None:
    tid = await terminal_id(app)
    for who, status in (("ines", 201), ("otto", 201), ("admin", 201), ("mallory", 403)):
        res = await client.post(f"{API}/ops/terminals/{tid}/enrolment", headers=world.auth(who))
        assert res.status_code == status, who
    missing = await client.post(f"{API}/ops/terminals/999999/enrolment", headers=world.auth("otto"))
    assert missing.status_code == 404
    async with app.state.sessions() as s:
        live = await s.scalars(
            select(DeviceCredential).where(
                DeviceCredential.terminal_id == tid, DeviceCredential.revoked_at.is_(None)
            )
        )
        assert len(live.all()) == 1  # each enrolment ended the one before
