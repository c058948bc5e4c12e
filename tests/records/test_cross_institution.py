"""Access across institutions: relationship grants, what the owner's audit log shows,
duplicate registrations that reveal nothing, and literal search text."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import httpx
import pytest
from sqlalchemy import Select, select

from tests.factories import PASSWORD, World
from yiyun.audit import queries as audit_queries
from yiyun.audit import service as audit_service
from yiyun.auth import policy
from yiyun.auth import service as auth_service
from yiyun.auth.policy import Action, Relationship
from yiyun.auth.principal import Principal
from yiyun.core.ratelimit import MemoryLimiter
from yiyun.org.enums import CLINICAL_ROLES, Role
from yiyun.records import resident_id
from yiyun.records.enums import ConsentPurpose
from yiyun.records.models import Consent
from yiyun.settings import Settings
from yiyun.web.deps import SESSION_COOKIE

API, FHIR = "/api/v1", "/fhir/r4"


def _shared_with_my_institution(principal: Principal) -> Select[Any]:
    """Patients whose unwithdrawn sharing consent names the principal's institution."""
    query = select(Consent.patient_id).where(
        Consent.purpose == ConsentPurpose.SHARING,
        Consent.target_institution_id == principal.institution_id,
        Consent.withdrawn_at.is_(None),
    )
    return query if principal.has(*CLINICAL_ROLES) else query.where(Consent.id < 0)


# A consult-like grant for this test only, backed by the consent table: while the patient's
# sharing consent names your institution you may read the record and add an opinion.
SHARED = Relationship(
    name="test.sharing_consent",
    grants=frozenset({Action.READ_PATIENT, Action.ADD_OPINION}),
    patients=_shared_with_my_institution,
)


@pytest.fixture
def shared() -> Iterator[Relationship]:
    policy.register_relationship(SHARED)
    yield SHARED
    policy.unregister_relationship(SHARED.name)


async def _page_cookie(app: Any, settings: Settings, name: str) -> dict[str, str]:
    async with app.state.sessions.begin() as s:
        issued = await auth_service.login_password(
            session=s,
            cfg=settings.security,
            username=name,
            password=PASSWORD,
            attempt=auth_service.Attempt(MemoryLimiter(), None),
        )
        issued.session.mfa_passed = True
    return {"Cookie": f"{SESSION_COOKIE}={issued.token}", "Accept": "text/html"}


async def _bob_sees(client: httpx.AsyncClient, world: World) -> dict[str, Any]:
    pa = world.patients["pa"]
    auth = world.auth("bob")
    read = await client.get(f"{API}/patients/{pa.id}", headers=auth)
    listed = await client.get(f"{API}/patients", headers=auth, params={"q": pa.name})
    found = await client.get(f"{FHIR}/Patient", headers=auth, params={"name": pa.name})
    assert listed.status_code == 200 and found.status_code == 200
    return {
        "read": read.status_code,
        "listed": pa.id in [p["id"] for p in listed.json()["items"]],
        "fhir": [e["resource"]["id"] for e in found.json().get("entry", [])] == [str(pa.id)],
    }


async def test_another_institution_reads_a_patient_only_while_the_relationship_holds(
    client: httpx.AsyncClient, world: World, app: Any, settings: Settings, shared: Relationship
) -> None:
    pa, lead = world.patients["pa"], world.inst["lead"]
    before = await _bob_sees(client, world)
    assert before == {"read": 404, "listed": False, "fhir": False}

    consent = await client.post(
        f"{API}/patients/{pa.id}/consents",
        headers=world.auth("alice"),
        json={"purpose": "sharing", "target_institution_id": lead.id},
    )
    assert consent.status_code == 201, consent.text
    during = await _bob_sees(client, world)
    assert during == {"read": 200, "listed": True, "fhir": True}
    # The grant names its writes: an opinion yes, anything else no (read-only: 403).
    opinion = await client.post(
        f"{API}/patients/{pa.id}/documents",
        headers=world.auth("bob"),
        json={"kind": "opinion", "title": "会诊意见", "body": "建议复查心电图。"},
    )
    assert opinion.status_code == 201, opinion.text
    summary = await client.post(
        f"{API}/patients/{pa.id}/documents",
        headers=world.auth("bob"),
        json={"kind": "summary", "title": "小结", "body": "…"},
    )
    assert summary.status_code == 403
    edit = await client.patch(
        f"{API}/patients/{pa.id}", headers=world.auth("bob"), json={"address": "别处"}
    )
    assert edit.status_code == 403
    # Only clinical staff of the named institution: its dispatcher and the other CHC get nothing.
    for outsider in ("carol", "mallory"):
        res = await client.get(f"{API}/patients/{pa.id}", headers=world.auth(outsider))
        assert res.status_code == 404, outsider

    withdrawn = await client.post(
        f"{API}/patients/{pa.id}/consents/{consent.json()['id']}/withdraw",
        headers=world.auth("alice"),
    )
    assert withdrawn.status_code == 200
    after = await _bob_sees(client, world)
    assert after == {"read": 404, "listed": False, "fhir": False}

    # Patient A's own institution sees the reads from the lead hospital in its audit log.
    events = await client.get(
        f"{API}/audit/events",
        headers=world.auth("ines"),
        params={"patient_id": pa.id, "action": "patient.read", "size": 100},
    )
    assert events.status_code == 200
    bobs = [e for e in events.json()["items"] if e["actor"] == "bob"]
    assert [e["outcome"] for e in reversed(bobs)] == ["denied", "success", "denied"]
    assert {e["institution_id"] for e in bobs} == {lead.id}
    assert all(world.inst["chc_a"].id in e["subject_institution_ids"] for e in bobs)
    page = await client.get(
        "/audit",
        headers=await _page_cookie(app, settings, "ines"),
        params={"patient_id": pa.id, "action": "patient.read"},
    )
    assert page.status_code == 200
    from_elsewhere = [
        e for e in events.json()["items"] if e["institution_id"] != world.inst["chc_a"].id
    ]
    assert len(from_elsewhere) == len(bobs) + 2  # carol's and mallory's refused tries too
    assert page.text.count('data-testid="other-institution"') == len(from_elsewhere)
    assert lead.name in page.text
    # Another institution's audit view does not show them: they are not about its data.
    async with app.state.sessions() as s:
        assert (await audit_service.verify(session=s)).ok


async def test_a_third_institutions_admin_does_not_see_the_read(
    client: httpx.AsyncClient, world: World, app: Any, shared: Relationship
) -> None:
    """The lead hospital's reads of CHC A's patient are not CHC B's business."""
    pa, lead = world.patients["pa"], world.inst["lead"]
    await client.post(
        f"{API}/patients/{pa.id}/consents",
        headers=world.auth("alice"),
        json={"purpose": "sharing", "target_institution_id": lead.id},
    )
    assert (
        await client.get(f"{API}/patients/{pa.id}", headers=world.auth("bob"))
    ).status_code == 200
    admin_of = {
        key: Principal(
            user_id=10**6,
            username=f"admin_{key}",
            display_name="",
            institution_id=world.inst[key].id,
            roles=frozenset({Role.INSTITUTION_ADMIN}),
        )
        for key in ("chc_a", "chc_b")
    }
    async with app.state.sessions() as s:
        seen = {
            key: [
                e.actor
                for e in (
                    await audit_queries.list_events(
                        session=s, principal=p, patient_id=pa.id, action="patient.read"
                    )
                )[0]
            ]
            for key, p in admin_of.items()
        }
    assert seen == {"chc_a": ["bob"], "chc_b": []}


async def test_members_of_a_meeting_about_a_patient_read_it_until_the_meeting_ends(
    client: httpx.AsyncClient, world: World
) -> None:
    pa = world.patients["pa"]
    bob = world.auth("bob")
    assert (await client.get(f"{API}/patients/{pa.id}", headers=bob)).status_code == 404
    made = await client.post(
        f"{API}/meetings",
        headers=world.auth("alice"),
        json={"title": "病例讨论", "invitees": ["bob", "carol"], "patient_id": pa.id},
    )
    assert made.status_code == 201, made.text
    assert (await client.get(f"{API}/patients/{pa.id}", headers=bob)).status_code == 200
    # Read only: the meeting grants no writes, and a dispatcher gains nothing clinical.
    edit = await client.patch(f"{API}/patients/{pa.id}", headers=bob, json={"address": "别处"})
    assert edit.status_code == 403
    carol = await client.get(f"{API}/patients/{pa.id}", headers=world.auth("carol"))
    assert carol.status_code == 404
    ended = await client.post(
        f"{API}/meetings/{made.json()['id']}/end", headers=world.auth("alice")
    )
    assert ended.status_code == 200, ended.text
    assert (await client.get(f"{API}/patients/{pa.id}", headers=bob)).status_code == 404


async def test_the_read_only_authority_acts_on_no_patients_behalf(
    client: httpx.AsyncClient, world: World
) -> None:
    """Reading every patient is not writing for them: no meeting about one, no invitation."""
    pa = world.patients["pa"]
    hana = world.auth("hana")
    assert (await client.get(f"{API}/patients/{pa.id}", headers=hana)).status_code == 200
    about = await client.post(
        f"{API}/meetings", headers=hana, json={"title": "督查", "patient_id": pa.id}
    )
    assert about.status_code == 403
    assert about.json()["error"]["code"] == "access.read_only"
    plain = await client.post(f"{API}/meetings", headers=hana, json={"title": "督查例会"})
    assert plain.status_code == 201
    guest = await client.post(
        f"{API}/meetings/{plain.json()['id']}/guests",
        headers=hana,
        json={"patient_id": pa.id},
    )
    assert guest.status_code == 403
    assert guest.json()["error"]["code"] == "access.read_only"
    mine = await client.post(
        f"{API}/meetings", headers=world.auth("alice"), json={"title": "随访", "patient_id": pa.id}
    )
    assert mine.status_code == 201


# --- a known ID number elsewhere -------------------------------------------------------


async def test_registering_an_id_number_known_elsewhere_reveals_nothing_and_is_audited(
    client: httpx.AsyncClient, world: World
) -> None:
    pa = world.patients["pa"]
    number = resident_id.make("440305", date(1970, 1, 11), 111)  # pa's
    res = await client.post(
        f"{API}/patients",
        headers=world.auth("mallory"),
        json={"name": "试探", "id_number": number},
    )
    assert res.status_code == 409
    error = res.json()["error"]
    assert error["code"] == "patient.registered_in_consortium"
    assert error.get("details") in (None, {})
    for secret in (str(pa.id), pa.name, pa.mpi, world.inst["chc_a"].name):
        assert secret not in res.text
    # The owner sees who tried, from where.
    events = await client.get(
        f"{API}/audit/events",
        headers=world.auth("ines"),
        params={"action": "patient.register", "outcome": "duplicate"},
    )
    tries = events.json()["items"]
    assert [(e["actor"], e["patient_id"], e["institution_id"]) for e in tries] == [
        ("mallory", pa.id, world.inst["chc_b"].id)
    ]
    # At the patient's own institution the answer names the record the caller may see.
    own = await client.post(
        f"{API}/patients", headers=world.auth("alice"), json={"name": "重复", "id_number": number}
    )
    assert own.status_code == 409
    assert own.json()["error"]["code"] == "patient.duplicate_id_number"
    assert own.json()["error"]["details"] == {"patient_id": pa.id}


# --- search text is literal ----------------------------------------------------------------


@pytest.mark.parametrize(("typed", "expected"), [("%", ["百分%之百"]), ("_", ["下划_线"])])
async def test_percent_and_underscore_in_a_search_match_only_themselves(
    client: httpx.AsyncClient, world: World, typed: str, expected: list[str]
) -> None:
    for name in ("百分%之百", "下划_线", "普通"):
        made = await client.post(
            f"{API}/patients",
            headers=world.auth("alice"),
            json={"name": name, "sex": "female", "birth_on": "1980-05-01"},
        )
        assert made.status_code == 201, made.text
    res = await client.get(f"{API}/patients", headers=world.auth("alice"), params={"q": typed})
    assert [p["name"] for p in res.json()["items"]] == expected
