"""Shared steps of the operations tests: enrol a terminal and send heartbeats as a device."""

from __future__ import annotations

import itertools
import time
from typing import Any

import httpx
from sqlalchemy import select

from tests.factories import World
from yiyun.org.models import Terminal

API = "/api/v1"
_seq = itertools.count(int(time.time() * 1000))


def beat(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "seq": next(_seq),
        "version": "3.2.1",
        "camera": "ok",
        "microphone": "ok",
        "screen": "ok",
        "rtt_ms": 24.5,
        "loss_pct": 0.2,
        "bandwidth_kbps": 8000,
    }
    return body | over


async def terminal_id(app: Any, code: str = "T-CHCA-1") -> int:
    async with app.state.sessions() as s:
        return int(await s.scalar(select(Terminal.id).where(Terminal.code == code)))


async def enrolled(
    app: Any, client: httpx.AsyncClient, world: World, code: str = "T-CHCA-1", who: str = "otto"
) -> str:
    """Enrol the terminal (as `who`) and exchange the code: the device credential."""
    tid = await terminal_id(app, code)
    res = await client.post(f"{API}/ops/terminals/{tid}/enrolment", headers=world.auth(who))
    assert res.status_code == 201, res.text
    one_time = res.json()["code"]
    res = await client.post(
        f"{API}/devices/enrol", json={"terminal_code": code, "enrolment_code": one_time}
    )
    assert res.status_code == 201, res.text
    return str(res.json()["credential"])


async def send(client: httpx.AsyncClient, credential: str, **over: Any) -> httpx.Response:
    return await client.post(
        f"{API}/devices/heartbeat",
        json=beat(**over),
        headers={"Authorization": f"Device {credential}"},
    )
