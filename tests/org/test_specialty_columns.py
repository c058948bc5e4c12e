"""Every specialty column is written from the shared vocabulary (`org.specialties`): a
code or a name from the list is stored as its code; anything else is a 422 naming the
field, and nothing is stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.clinics.helpers import consent
from tests.factories import World
from tests.org.test_api import GOOD_PASSWORD

API = "/api/v1"


def _at(minutes: int) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).replace(microsecond=0).isoformat()


def _refused(res: httpx.Response, field: str) -> None:
    assert res.status_code == 422, res.text
    error = res.json()["error"]
    # The vocabulary check, or the schema's pattern before it: either names the field.
    assert error["code"] in {"specialty.unknown", "invalid_input"}
    assert [e["field"] for e in error["details"]["errors"]] == [field]


@pytest.mark.parametrize("bad", ["99.99", "心脏病学会", "cardio"])
async def test_a_clinic_session_names_a_specialty_of_the_list(
    client: httpx.AsyncClient, world: World, bad: str
) -> None:
    body = {
        "title": "心内科远程门诊",
        "starts_at": _at(60),
        "ends_at": _at(120),
        "slot_minutes": 15,
    }
    res = await client.post(
        f"{API}/clinics/sessions", headers=world.auth("bob"), json=body | {"specialty": bad}
    )
    _refused(res, "specialty")
    listed = await client.get(f"{API}/clinics/sessions?mine=true", headers=world.auth("bob"))
    assert listed.json() == []
    named = await client.post(
        f"{API}/clinics/sessions",
        headers=world.auth("bob"),
        json=body | {"specialty": "Cardiology"},
    )
    assert named.status_code == 201, named.text
    assert named.json()["specialty"] == "03.04"


async def test_a_referral_and_a_consultation_name_a_specialty_of_the_list(
    client: httpx.AsyncClient, world: World
) -> None:
    await consent(client, world)
    referral = {
        "patient_id": world.patients["pa"].id,
        "to_institution_id": world.inst["lead"].id,
        "reason": "胸痛待查",
        "summary": "反复胸闷 2 周。",
        "appointment_at": _at(60 * 48),
        "specialty": "心脏科",
    }
    _refused(
        await client.post(f"{API}/referrals/up", headers=world.auth("alice"), json=referral),
        "specialty",
    )
    consult = {
        "patient_id": world.patients["pa"].id,
        "urgency": "routine",
        "reason": "血压控制不佳",
        "specialty": "00",
    }
    _refused(
        await client.post(f"{API}/consults", headers=world.auth("alice"), json=consult),
        "specialty",
    )
    ok = await client.post(
        f"{API}/referrals/up",
        headers=world.auth("alice"),
        json=referral | {"specialty": "Cardiology"},
    )
    assert ok.status_code == 201, ok.text
    assert ok.json()["specialty"] == "03.04"


async def test_staff_specialties_come_from_the_list(
    client: httpx.AsyncClient, world: World
) -> None:
    body = {
        "username": "dora",
        "display_name": "Dora",
        "institution_id": world.inst["chc_a"].id,
        "roles": ["community_doctor"],
        "password": GOOD_PASSWORD,
        "specialties": ["全科医疗科", "爱好摄影"],
    }
    _refused(
        await client.post(f"{API}/staff", headers=world.auth("ines"), json=body), "specialties"
    )
    nina = world.users["nina"].id
    _refused(
        await client.patch(
            f"{API}/staff/{nina}", headers=world.auth("ines"), json={"specialties": ["?"]}
        ),
        "specialties",
    )
    ok = await client.patch(
        f"{API}/staff/{nina}", headers=world.auth("ines"), json={"specialties": ["Geriatrics"]}
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["specialties"] == ["03.10"]
