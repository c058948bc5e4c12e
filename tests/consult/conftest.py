"""Consultation fixtures: the personas plus a few lead-hospital specialists.

bob   cardiology, chief physician, 10 years    bea  cardiology, associate chief, 8 years
cleo  cardiology, licence expired               dan  cardiology, 2 years of practice
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pyotp
import pytest

from tests import db
from tests.factories import World
from yiyun.auth import service as auth_service
from yiyun.consult.models import Availability
from yiyun.core.clock import now
from yiyun.org.enums import Role, StaffTitle
from yiyun.org.models import User, UserRole
from yiyun.records.enums import ConsentPurpose, DocumentKind
from yiyun.records.models import Consent, Document


@dataclass
class CW:
    """The world, plus what the consultation tests added."""

    world: World
    documents: list[int] = field(default_factory=list)
    consent_id: int = 0

    def auth(self, name: str) -> dict[str, str]:
        return self.world.auth(name)

    def uid(self, name: str) -> int:
        return self.world.users[name].id


async def _add_specialist(
    s: Any, world: World, name: str, title: StaffTitle, years: int, valid: date
) -> None:
    user = User(
        username=name,
        display_name=name.title(),
        institution_id=world.inst["lead"].id,
        department_id=world.departments["cardio"].id,
        title=title,
        licence_no=f"LIC{name.upper()}01",
        licence_valid_until=valid,
        years_of_practice=years,
        roles=[UserRole(role=Role.SPECIALIST)],
    )
    s.add(user)
    await s.flush()
    secret_b32 = pyotp.random_base32()
    await auth_service.enrol_with_secret(
        session=s, cfg=db.SECURITY, user=user, secret_b32=secret_b32
    )
    issued = await auth_service.create_api_token(session=s, username=name, name="test")
    world.users[name] = user
    world.totp[name] = secret_b32
    world.tokens[name] = issued.token


@pytest.fixture
async def cw(app: Any, world: World) -> CW:
    # A copy: the personas' world is shared by the worker's tests; these specialists
    # exist only in this test's database.
    world = dataclasses.replace(
        world, users=dict(world.users), totp=dict(world.totp), tokens=dict(world.tokens)
    )
    async with app.state.sessions() as s, s.begin():
        bob = await s.get(User, world.users["bob"].id)
        bob.title, bob.years_of_practice = StaffTitle.CHIEF_PHYSICIAN, 10
        bob.department_id = world.departments["cardio"].id
        for name, title, years, valid in (
            ("bea", StaffTitle.ASSOCIATE_CHIEF_PHYSICIAN, 8, date(2030, 1, 1)),
            ("cleo", StaffTitle.CHIEF_PHYSICIAN, 20, date(2020, 1, 1)),
            ("dan", StaffTitle.ATTENDING_PHYSICIAN, 2, date(2030, 1, 1)),
        ):
            await _add_specialist(s, world, name, title, years, valid)
        pa = world.patients["pa"]
        consent = Consent(
            patient_id=pa.id,
            purpose=ConsentPurpose.TELEMEDICINE,
            granted_at=now(),
            granted_by_id=world.users["alice"].id,
        )
        doc = Document(
            patient_id=pa.id,
            institution_id=world.inst["chc_a"].id,
            kind=DocumentKind.SUMMARY,
            title="高血压随访小结",
            body="血压 168/102 mmHg，胸闷两周。",
            created_by_id=world.users["alice"].id,
        )
        s.add_all([consent, doc])
        # Every specialist's calendar is open for the tests' bookings (the calendar tests
        # set their own windows).
        for name in ("bob", "bea", "cleo", "dan"):
            s.add(
                Availability(
                    expert_id=world.users[name].id,
                    starts_at=now() - timedelta(days=1),
                    ends_at=now() + timedelta(days=30),
                    created_at=now(),
                )
            )
        await s.flush()
        out = CW(world, documents=[doc.id], consent_id=consent.id)
    return out


Step = Callable[..., Awaitable[httpx.Response]]


async def step_up(client: httpx.AsyncClient, cw: CW, name: str) -> None:
    """A fresh TOTP code for the caller's token (the next step, so never a replay)."""
    at = datetime.now(UTC) + timedelta(seconds=30)
    code = pyotp.TOTP(cw.world.totp[name]).at(at)
    res = await client.post("/api/v1/auth/step-up", headers=cw.auth(name), json={"totp_code": code})
    if res.status_code != 204:  # the current step, if the next was used already
        code = pyotp.TOTP(cw.world.totp[name]).now()
        res = await client.post(
            "/api/v1/auth/step-up", headers=cw.auth(name), json={"totp_code": code}
        )
    assert res.status_code == 204, res.text


def request_body(cw: CW, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "patient_id": cw.world.patients["pa"].id,
        "urgency": "urgent",
        "reason": "血压控制不佳伴胸闷",
        "purpose": "明确诊断并调整治疗方案",
        "summary": "男，56岁，高血压10年，近两周胸闷。",
        "specialty": "03.04",
        "min_title": "associate_chief_physician",
        "document_ids": cw.documents,
    }
    return body | over


async def requested(client: httpx.AsyncClient, cw: CW, **over: Any) -> dict[str, Any]:
    res = await client.post(
        "/api/v1/consults", headers=cw.auth("alice"), json=request_body(cw, **over)
    )
    assert res.status_code == 201, res.text
    return res.json()  # type: ignore[no-any-return]


def soon(minutes: int = 10) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat()


async def assigned(
    client: httpx.AsyncClient, cw: CW, *experts: str, minutes: int = 10, **over: Any
) -> dict[str, Any]:
    consult = await requested(client, cw, **over)
    res = await client.post(
        f"/api/v1/consults/{consult['id']}/assign",
        headers=cw.auth("carol"),
        json={"expert_ids": [cw.uid(e) for e in experts or ("bob",)], "starts_at": soon(minutes)},
    )
    assert res.status_code == 200, res.text
    return res.json()  # type: ignore[no-any-return]


async def accepted(client: httpx.AsyncClient, cw: CW, **over: Any) -> dict[str, Any]:
    consult = await assigned(client, cw, **over)
    res = await client.post(
        f"/api/v1/consults/{consult['id']}/answer", headers=cw.auth("bob"), json={"accept": True}
    )
    assert res.status_code == 200, res.text
    return res.json()  # type: ignore[no-any-return]


OPINION = {
    "findings": "血压控制不佳，心电图示ST-T改变。",
    "diagnoses": [{"code": "I10"}, {"code": "I20.9"}],
    "recommendations": "加用氨氯地平 5 mg qd；完善冠脉CTA。",
    "follow_up": "两周后社区复诊血压。",
}
