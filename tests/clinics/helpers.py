"""Shared steps for clinic tests: consent, a session starting now, a booking."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.factories import World

API = "/api/v1"


def soon(minutes: int = 0) -> datetime:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).replace(second=0, microsecond=0)


async def consent(client: httpx.AsyncClient, world: World, patient: str = "pa") -> None:
    who = "alice" if patient == "pa" else "mallory"
    res = await client.post(
        f"{API}/patients/{world.patients[patient].id}/consents",
        headers=world.auth(who),
        json={"purpose": "telemedicine"},
    )
    assert res.status_code == 201, res.text


async def publish(
    client: httpx.AsyncClient, world: World, *, walk_in: int = 2, start: int = 1
) -> dict[str, Any]:
    body = {
        "title": "心内科远程门诊",
        "specialty": "03.04",
        "starts_at": soon(start).isoformat(),
        "ends_at": soon(start + 60).isoformat(),
        "slot_minutes": 15,
        "walk_in_capacity": walk_in,
    }
    res = await client.post(f"{API}/clinics/sessions", headers=world.auth("bob"), json=body)
    assert res.status_code == 201, res.text
    made: dict[str, Any] = (
        await client.get(f"{API}/clinics/sessions/{res.json()['id']}", headers=world.auth("bob"))
    ).json()
    return made


async def book(
    client: httpx.AsyncClient,
    world: World,
    session_id: int,
    *,
    slot_id: int | None = None,
    who: str = "alice",
    patient: str = "pa",
    urgent: bool = False,
) -> httpx.Response:
    body: dict[str, Any] = {"patient_id": world.patients[patient].id, "urgent": urgent}
    if slot_id is not None:
        body["slot_id"] = slot_id
    return await client.post(
        f"{API}/clinics/sessions/{session_id}/bookings", headers=world.auth(who), json=body
    )


async def step(
    client: httpx.AsyncClient, world: World, visit_id: int, action: str, who: str = "alice"
) -> httpx.Response:
    return await client.post(f"{API}/clinics/visits/{visit_id}/{action}", headers=world.auth(who))
