"""The consortium over the API: institutions, departments, terminals and staff."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.factories import PASSWORD, World
from yiyun.audit.models import AuditEvent
from yiyun.org.models import User

API = "/api/v1"
GOOD_PASSWORD = "Quiet-River-2031"


async def _audit(app: Any, **where: Any) -> list[AuditEvent]:
    factory: async_sessionmaker[AsyncSession] = app.state.sessions
    async with factory() as s:
        query = select(AuditEvent).order_by(AuditEvent.seq)
        for key, value in where.items():
            query = query.where(getattr(AuditEvent, key) == value)
        return list((await s.scalars(query)).all())


def _staff(world: World, inst: str = "chc_a", **over: Any) -> dict[str, Any]:
    return {
        "username": "dora",
        "display_name": "Dora",
        "institution_id": world.inst[inst].id,
        "roles": ["community_doctor"],
        "password": GOOD_PASSWORD,
    } | over


# --- institutions ----------------------------------------------------------------------


async def test_staff_list_the_institutions_of_the_consortium(
    client: httpx.AsyncClient, world: World
) -> None:
    res = await client.get(f"{API}/institutions", headers=world.auth("alice"))
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["total"] == 4
    assert {i["code"] for i in body["items"]} == {"AUTH", "LEAD", "CHC-A", "CHC-B"}
    chc_a = next(i for i in body["items"] if i["code"] == "CHC-A")
    assert chc_a["parent_id"] == world.inst["lead"].id
    assert chc_a["kind"] == "community_health_centre"
    assert chc_a["active"] is True


async def test_institutions_filter_by_kind_and_text(
    client: httpx.AsyncClient, world: World
) -> None:
    by_kind = await client.get(
        f"{API}/institutions",
        headers=world.auth("mallory"),
        params={"kind": "community_health_centre"},
    )
    assert sorted(i["code"] for i in by_kind.json()["items"]) == ["CHC-A", "CHC-B"]
    by_text = await client.get(
        f"{API}/institutions", headers=world.auth("mallory"), params={"q": "people"}
    )
    assert [i["code"] for i in by_text.json()["items"]] == ["LEAD"]
    bad_kind = await client.get(
        f"{API}/institutions", headers=world.auth("mallory"), params={"kind": "spaceport"}
    )
    assert bad_kind.status_code == 422


async def test_the_consortium_is_not_public(client: httpx.AsyncClient, world: World) -> None:
    assert (await client.get(f"{API}/institutions")).status_code == 401
    assert (await client.get(f"{API}/regions")).status_code == 401


async def test_regions_are_listed(client: httpx.AsyncClient, world: World) -> None:
    res = await client.get(f"{API}/regions", headers=world.auth("hana"))
    assert res.status_code == 200
    assert [(r["code"], r["name_en"]) for r in res.json()] == [("440300", "Example District")]


async def test_one_institution_by_id(client: httpx.AsyncClient, world: World) -> None:
    lead = world.inst["lead"]
    res = await client.get(f"{API}/institutions/{lead.id}", headers=world.auth("carol"))
    assert res.status_code == 200
    assert (res.json()["code"], res.json()["level"]) == ("LEAD", "tertiary_a")
    missing = await client.get(f"{API}/institutions/999999", headers=world.auth("carol"))
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "institution.not_found"


def _institution(world: World, **over: Any) -> dict[str, Any]:
    return {
        "code": "CHC-C",
        "name": "丙社区健康服务中心",
        "name_en": "CHC C",
        "kind": "community_health_centre",
        "level": "primary",
        "region_id": world.region.id,
        "parent_id": world.inst["lead"].id,
    } | over


async def test_the_consortium_admin_creates_an_institution(
    client: httpx.AsyncClient, world: World, app: Any
) -> None:
    res = await client.post(
        f"{API}/institutions", json=_institution(world), headers=world.auth("admin")
    )
    assert res.status_code == 201, res.text
    created = res.json()
    assert (created["code"], created["parent_id"]) == ("CHC-C", world.inst["lead"].id)
    listed = await client.get(f"{API}/institutions", headers=world.auth("alice"))
    assert listed.json()["total"] == 5
    entries = await _audit(app, action="institution.create")
    assert [e.entity_id for e in entries] == [str(created["id"])]


@pytest.mark.parametrize(
    ("over", "status", "code"),
    [
        ({"code": "CHC-A"}, 409, "institution.duplicate_code"),
        ({"region_id": 999999}, 422, "institution.bad_region"),
        ({"parent_id": 999999}, 404, "institution.not_found"),
        ({"kind": "castle"}, 422, "invalid_input"),
        ({"code": "bad code!"}, 422, "invalid_input"),
        ({"unexpected": 1}, 422, "invalid_input"),
    ],
)
async def test_an_invalid_institution_is_refused(
    client: httpx.AsyncClient, world: World, over: dict[str, Any], status: int, code: str
) -> None:
    res = await client.post(
        f"{API}/institutions", json=_institution(world, **over), headers=world.auth("admin")
    )
    assert res.status_code == status, res.text
    assert res.json()["error"]["code"] == code
    listed = await client.get(f"{API}/institutions", headers=world.auth("admin"))
    assert listed.json()["total"] == 4


@pytest.mark.parametrize("who", ["ines", "hana", "otto", "bob"])
async def test_only_the_consortium_admin_creates_institutions(
    client: httpx.AsyncClient, world: World, who: str
) -> None:
    res = await client.post(
        f"{API}/institutions", json=_institution(world), headers=world.auth(who)
    )
    assert res.status_code == 403
    assert res.json()["error"]["code"] == "access.denied"


# --- departments -----------------------------------------------------------------------


async def test_departments_of_an_institution(client: httpx.AsyncClient, world: World) -> None:
    chc_a = await client.get(
        f"{API}/institutions/{world.inst['chc_a'].id}/departments", headers=world.auth("mallory")
    )
    assert [d["code"] for d in chc_a.json()] == ["GP"]
    lead = await client.get(
        f"{API}/institutions/{world.inst['lead'].id}/departments", headers=world.auth("alice")
    )
    assert [d["name_en"] for d in lead.json()] == ["Cardiology"]
    missing = await client.get(
        f"{API}/institutions/999999/departments", headers=world.auth("alice")
    )
    assert missing.status_code == 404


async def test_an_institution_admin_adds_departments_at_home_only(
    client: httpx.AsyncClient, world: World
) -> None:
    body = {"code": "PED", "name": "儿科", "name_en": "Paediatrics"}
    url = f"{API}/institutions/{world.inst['chc_a'].id}/departments"
    res = await client.post(url, json=body, headers=world.auth("ines"))
    assert res.status_code == 201, res.text
    assert res.json()["institution_id"] == world.inst["chc_a"].id
    again = await client.post(url, json=body, headers=world.auth("ines"))
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "department.duplicate_code"
    elsewhere = await client.post(
        f"{API}/institutions/{world.inst['chc_b'].id}/departments",
        json=body,
        headers=world.auth("ines"),
    )
    assert elsewhere.status_code == 403
    by_doctor = await client.post(url, json=body | {"code": "ENT"}, headers=world.auth("alice"))
    assert by_doctor.status_code == 403
    listed = await client.get(url, headers=world.auth("alice"))
    assert [d["code"] for d in listed.json()] == ["GP", "PED"]


# --- terminals -------------------------------------------------------------------------


def _terminal(code: str = "T-CHCA-2") -> dict[str, str]:
    return {"code": code, "name": "第二诊室", "kind": "pc"}


async def test_an_institution_admin_creates_a_terminal_at_home(
    client: httpx.AsyncClient, world: World, app: Any
) -> None:
    url = f"{API}/institutions/{world.inst['chc_a'].id}/terminals"
    res = await client.post(url, json=_terminal(), headers=world.auth("ines"))
    assert res.status_code == 201, res.text
    terminal = res.json()
    assert (terminal["kind"], terminal["status"], terminal["active"]) == ("pc", "offline", True)
    assert terminal["institution_id"] == world.inst["chc_a"].id
    listed = await client.get(url, headers=world.auth("alice"))
    assert [t["code"] for t in listed.json()] == ["T-CHCA-1", "T-CHCA-2"]
    entries = await _audit(app, action="terminal.create")
    assert [(e.actor, e.institution_id) for e in entries] == [("ines", world.inst["chc_a"].id)]


async def test_an_outsider_cannot_create_or_list_terminals(
    client: httpx.AsyncClient, world: World
) -> None:
    url = f"{API}/institutions/{world.inst['chc_a'].id}/terminals"
    created = await client.post(url, json=_terminal(), headers=world.auth("mallory"))
    assert created.status_code == 403
    listed = await client.get(url, headers=world.auth("mallory"))
    assert listed.status_code == 403
    by_doctor = await client.post(url, json=_terminal(), headers=world.auth("alice"))
    assert by_doctor.status_code == 403
    abroad = await client.post(
        f"{API}/institutions/{world.inst['chc_b'].id}/terminals",
        json=_terminal("T-CHCB-9"),
        headers=world.auth("ines"),
    )
    assert abroad.status_code == 403
    still = await client.get(url, headers=world.auth("alice"))
    assert [t["code"] for t in still.json()] == ["T-CHCA-1"]


async def test_ops_engineers_manage_terminals_anywhere(
    client: httpx.AsyncClient, world: World
) -> None:
    url = f"{API}/institutions/{world.inst['chc_b'].id}/terminals"
    res = await client.post(url, json=_terminal("T-CHCB-1"), headers=world.auth("otto"))
    assert res.status_code == 201, res.text
    listed = await client.get(url, headers=world.auth("otto"))
    assert [t["code"] for t in listed.json()] == ["T-CHCB-1"]
    duplicate = await client.post(url, json=_terminal("T-CHCA-1"), headers=world.auth("otto"))
    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["code"] == "terminal.duplicate_code"
    missing = await client.post(
        f"{API}/institutions/999999/terminals", json=_terminal("T-X"), headers=world.auth("otto")
    )
    assert missing.status_code == 404


# --- staff -----------------------------------------------------------------------------


async def test_an_institution_admin_creates_staff_at_home(
    client: httpx.AsyncClient, world: World, app: Any
) -> None:
    res = await client.post(
        f"{API}/staff",
        headers=world.auth("ines"),
        json=_staff(
            world,
            username="Dora",
            department_id=world.departments["gp"].id,
            title="attending_physician",
            licence_no="LICDORA01",
            phone="13700001111",
            specialties=["全科医疗科", "02"],
            years_of_practice=6,
        ),
    )
    assert res.status_code == 201, res.text
    staff = res.json()
    assert staff["username"] == "dora"  # usernames are lower case
    assert staff["roles"] == ["community_doctor"]
    assert staff["department_id"] == world.departments["gp"].id
    assert staff["specialties"] == ["02"]  # the vocabulary's code, once
    assert staff["active"] is True
    assert staff["totp_enrolled"] is False
    assert staff["licence_valid"] is False  # no validity date given
    for leak in (GOOD_PASSWORD, "13700001111", "password", "phone"):
        assert leak not in res.text
    fetched = await client.get(f"{API}/staff/{staff['id']}", headers=world.auth("alice"))
    assert fetched.json() == staff
    factory: async_sessionmaker[AsyncSession] = app.state.sessions
    async with factory() as s:
        user = await s.get(User, staff["id"])
        assert user is not None
        assert user.password_hash is not None and GOOD_PASSWORD not in user.password_hash
        assert user.phone_enc is not None and "13700001111" not in user.phone_enc
    entries = await _audit(app, action="staff.create")
    assert [(e.actor, e.entity_id, e.details) for e in entries] == [
        ("ines", str(staff["id"]), {"roles": ["community_doctor"]})
    ]


@pytest.mark.parametrize(
    ("password", "broken"),
    [
        ("Short-1", ["at least 10 characters"]),
        ("alllowercaseletters", ["three of: lower case, upper case, digits, symbols"]),
        ("short", ["at least 10 characters", "three of: lower case, upper case, digits, symbols"]),
        ("Dora-Secret-123", ["not a common password and not containing the username"]),
        (
            "1234567890",
            [
                "three of: lower case, upper case, digits, symbols",
                "not a common password and not containing the username",
            ],
        ),
    ],
)
async def test_a_weak_password_is_refused_listing_the_requirements(
    client: httpx.AsyncClient, world: World, password: str, broken: list[str]
) -> None:
    res = await client.post(
        f"{API}/staff", headers=world.auth("ines"), json=_staff(world, password=password)
    )
    assert res.status_code == 422
    error = res.json()["error"]
    assert error["code"] == "auth.weak_password"
    assert error["details"]["requirements"] == broken
    assert password not in res.text
    listed = await client.get(f"{API}/staff", headers=world.auth("ines"), params={"q": "dora"})
    assert listed.json()["total"] == 0


@pytest.mark.parametrize("username", ["alice", "ALICE", "Mallory"])
async def test_a_taken_username_is_a_conflict(
    client: httpx.AsyncClient, world: World, username: str
) -> None:
    res = await client.post(
        f"{API}/staff", headers=world.auth("ines"), json=_staff(world, username=username)
    )
    assert res.status_code == 409
    assert res.json()["error"]["code"] == "staff.duplicate_username"


@pytest.mark.parametrize("role", ["consortium_admin", "authority"])
async def test_an_institution_admin_cannot_grant_consortium_roles(
    client: httpx.AsyncClient, world: World, role: str
) -> None:
    res = await client.post(
        f"{API}/staff",
        headers=world.auth("ines"),
        json=_staff(world, roles=["community_doctor", role]),
    )
    assert res.status_code == 403
    assert res.json()["error"]["code"] == "staff.role_not_grantable"
    assert res.json()["error"]["details"]["roles"] == [role]


async def test_the_authority_role_belongs_to_the_health_authority(
    client: httpx.AsyncClient, world: World
) -> None:
    outside = await client.post(
        f"{API}/staff", headers=world.auth("admin"), json=_staff(world, roles=["authority"])
    )
    assert outside.status_code == 422
    assert outside.json()["error"]["code"] == "staff.authority_outside_authority"
    inside = await client.post(
        f"{API}/staff",
        headers=world.auth("admin"),
        json=_staff(world, "authority", roles=["authority"]),
    )
    assert inside.status_code == 201, inside.text
    assert inside.json()["roles"] == ["authority"]


@pytest.mark.parametrize("who", ["mallory", "alice", "hana", "carol", "otto"])
async def test_only_administrators_create_staff(
    client: httpx.AsyncClient, world: World, who: str
) -> None:
    res = await client.post(f"{API}/staff", headers=world.auth(who), json=_staff(world))
    assert res.status_code == 403
    assert res.json()["error"]["code"] == "access.denied"


async def test_an_institution_admin_cannot_staff_another_institution(
    client: httpx.AsyncClient, world: World
) -> None:
    res = await client.post(f"{API}/staff", headers=world.auth("ines"), json=_staff(world, "chc_b"))
    assert res.status_code == 403
    by_admin = await client.post(
        f"{API}/staff", headers=world.auth("admin"), json=_staff(world, "chc_b")
    )
    assert by_admin.status_code == 201


async def test_a_department_must_belong_to_the_institution(
    client: httpx.AsyncClient, world: World
) -> None:
    res = await client.post(
        f"{API}/staff",
        headers=world.auth("ines"),
        json=_staff(world, department_id=world.departments["cardio"].id),
    )
    assert res.status_code == 422
    assert res.json()["error"]["code"] == "staff.bad_department"


async def test_new_staff_can_sign_in_once_enrolled(client: httpx.AsyncClient, world: World) -> None:
    created = await client.post(f"{API}/staff", headers=world.auth("ines"), json=_staff(world))
    assert created.status_code == 201
    res = await client.post(
        f"{API}/auth/token", json={"username": "dora", "password": GOOD_PASSWORD, "code": "123456"}
    )
    assert res.status_code == 403  # right password, but two-factor is not set up yet
    assert res.json()["error"]["code"] == "auth.not_enrolled"


async def test_staff_lists_are_scoped(client: httpx.AsyncClient, world: World) -> None:
    mine = await client.get(f"{API}/staff", headers=world.auth("alice"))
    assert sorted(u["username"] for u in mine.json()["items"]) == ["alice", "ines", "nina"]
    everyone = await client.get(f"{API}/staff", headers=world.auth("hana"))
    assert everyone.json()["total"] == 9
    theirs = await client.get(
        f"{API}/staff",
        headers=world.auth("alice"),
        params={"institution_id": world.inst["chc_b"].id},
    )
    assert theirs.status_code == 403
    one = await client.get(f"{API}/staff/{world.users['mallory'].id}", headers=world.auth("alice"))
    assert one.status_code == 403
    by_authority = await client.get(
        f"{API}/staff/{world.users['mallory'].id}", headers=world.auth("hana")
    )
    assert by_authority.json()["username"] == "mallory"
    missing = await client.get(f"{API}/staff/999999", headers=world.auth("hana"))
    assert missing.status_code == 404


async def test_an_institution_admin_updates_home_staff(
    client: httpx.AsyncClient, world: World
) -> None:
    nina = world.users["nina"].id
    res = await client.patch(
        f"{API}/staff/{nina}",
        headers=world.auth("ines"),
        json={
            "display_name": "Nina N.",
            "department_id": world.departments["gp"].id,
            "title": "nurse_in_charge",
        },
    )
    assert res.status_code == 200, res.text
    assert (res.json()["display_name"], res.json()["title"]) == ("Nina N.", "nurse_in_charge")
    wrong_dept = await client.patch(
        f"{API}/staff/{nina}",
        headers=world.auth("ines"),
        json={"department_id": world.departments["cardio"].id},
    )
    assert wrong_dept.status_code == 422
    outsider = await client.patch(
        f"{API}/staff/{world.users['mallory'].id}",
        headers=world.auth("ines"),
        json={"display_name": "X"},
    )
    assert outsider.status_code == 403
    by_peer = await client.patch(
        f"{API}/staff/{nina}", headers=world.auth("alice"), json={"display_name": "X"}
    )
    assert by_peer.status_code == 403


# --- roles -----------------------------------------------------------------------------


async def test_an_institution_admin_sets_home_staff_roles(
    client: httpx.AsyncClient, world: World, app: Any
) -> None:
    nina = world.users["nina"].id
    res = await client.put(
        f"{API}/staff/{nina}/roles",
        headers=world.auth("ines"),
        json={"roles": ["nurse", "community_doctor"]},
    )
    assert res.status_code == 200, res.text
    assert res.json()["roles"] == ["community_doctor", "nurse"]
    me = await client.get(f"{API}/auth/me", headers=world.auth("nina"))
    assert me.json()["roles"] == ["community_doctor", "nurse"]
    back = await client.put(
        f"{API}/staff/{nina}/roles", headers=world.auth("ines"), json={"roles": ["nurse"]}
    )
    assert back.json()["roles"] == ["nurse"]
    entries = await _audit(app, action="staff.roles")
    assert [e.details for e in entries] == [
        {"before": ["nurse"], "after": ["community_doctor", "nurse"]},
        {"before": ["community_doctor", "nurse"], "after": ["nurse"]},
    ]


async def test_roles_changes_are_bounded(client: httpx.AsyncClient, world: World) -> None:
    nina = world.users["nina"].id
    grant_admin = await client.put(
        f"{API}/staff/{nina}/roles",
        headers=world.auth("ines"),
        json={"roles": ["consortium_admin"]},
    )
    assert grant_admin.status_code == 403
    for wanted in (["nurse"], ["institution_admin", "specialist"]):
        own = await client.put(
            f"{API}/staff/{world.users['ines'].id}/roles",
            headers=world.auth("ines"),
            json={"roles": wanted},
        )
        assert own.status_code == 403  # an institution admin never changes its own roles
        assert own.json()["error"]["code"] == "staff.self_grant"
    self_demotion = await client.put(
        f"{API}/staff/{world.users['admin'].id}/roles",
        headers=world.auth("admin"),
        json={"roles": ["specialist"]},
    )
    assert self_demotion.status_code == 409
    assert self_demotion.json()["error"]["code"] == "staff.self_demotion"
    outsider = await client.put(
        f"{API}/staff/{world.users['alice'].id}/roles",
        headers=world.auth("mallory"),
        json={"roles": ["nurse"]},
    )
    assert outsider.status_code == 403
    empty = await client.put(
        f"{API}/staff/{nina}/roles", headers=world.auth("ines"), json={"roles": []}
    )
    assert empty.status_code == 422
    unchanged = await client.get(f"{API}/staff/{nina}", headers=world.auth("ines"))
    assert unchanged.json()["roles"] == ["nurse"]
    me = await client.get(f"{API}/auth/me", headers=world.auth("ines"))
    assert me.json()["roles"] == ["institution_admin"]


async def test_the_consortium_admin_grants_consortium_roles(
    client: httpx.AsyncClient, world: World
) -> None:
    res = await client.put(
        f"{API}/staff/{world.users['bob'].id}/roles",
        headers=world.auth("admin"),
        json={"roles": ["specialist", "consortium_admin"]},
    )
    assert res.status_code == 200, res.text
    assert res.json()["roles"] == ["consortium_admin", "specialist"]


# --- disable and enable ----------------------------------------------------------------


async def test_disable_and_enable_an_account(
    client: httpx.AsyncClient, world: World, app: Any
) -> None:
    nina = world.users["nina"].id
    off = await client.post(f"{API}/staff/{nina}/disable", headers=world.auth("ines"))
    assert off.status_code == 200, off.text
    assert off.json()["active"] is False
    assert (await client.get(f"{API}/auth/me", headers=world.auth("nina"))).status_code == 401
    login = await client.post(
        f"{API}/auth/token",
        json={"username": "nina", "password": PASSWORD, "code": world.code("nina")},
    )
    assert login.status_code == 401
    on = await client.post(f"{API}/staff/{nina}/enable", headers=world.auth("ines"))
    assert on.status_code == 200
    assert on.json()["active"] is True
    # the tokens ended by disabling stay ended; a fresh sign-in works again
    assert (await client.get(f"{API}/auth/me", headers=world.auth("nina"))).status_code == 401
    again = await client.post(
        f"{API}/auth/token",
        json={"username": "nina", "password": PASSWORD, "code": world.code("nina")},
    )
    assert again.status_code == 200, again.text
    entries = await _audit(app, entity_type="user", entity_id=str(nina))
    assert [e.action for e in entries if e.action.startswith("staff.")] == [
        "staff.disable",
        "staff.enable",
    ]


async def test_an_admin_cannot_disable_themself(client: httpx.AsyncClient, world: World) -> None:
    res = await client.post(
        f"{API}/staff/{world.users['ines'].id}/disable", headers=world.auth("ines")
    )
    assert res.status_code == 409
    assert res.json()["error"]["code"] == "staff.self_disable"
    assert (await client.get(f"{API}/auth/me", headers=world.auth("ines"))).status_code == 200
    admin = await client.post(
        f"{API}/staff/{world.users['admin'].id}/disable", headers=world.auth("admin")
    )
    assert admin.status_code == 409


@pytest.mark.parametrize(
    ("who", "target"),
    [("mallory", "alice"), ("ines", "mallory"), ("alice", "nina"), ("hana", "alice")],
)
async def test_only_the_right_admin_disables(
    client: httpx.AsyncClient, world: World, who: str, target: str
) -> None:
    res = await client.post(
        f"{API}/staff/{world.users[target].id}/disable", headers=world.auth(who)
    )
    assert res.status_code == 403
    assert (await client.get(f"{API}/auth/me", headers=world.auth(target))).status_code == 200


async def test_the_consortium_admin_disables_anyone(
    client: httpx.AsyncClient, world: World
) -> None:
    res = await client.post(
        f"{API}/staff/{world.users['mallory'].id}/disable", headers=world.auth("admin")
    )
    assert res.status_code == 200
    assert (await client.get(f"{API}/auth/me", headers=world.auth("mallory"))).status_code == 401


async def test_an_institution_admin_cannot_escalate_to_consortium_roles(
    client: httpx.AsyncClient, world: World, app: Any
) -> None:
    """The probe's request: an institution admin giving itself consortium-wide roles."""
    ines, nina = world.users["ines"].id, world.users["nina"].id
    escalate = await client.put(
        f"{API}/staff/{ines}/roles",
        headers=world.auth("ines"),
        json={"roles": ["institution_admin", "ops_engineer", "dispatcher"]},
    )
    assert escalate.status_code == 403
    for role in ("dispatcher", "ops_engineer", "authority", "consortium_admin"):
        res = await client.put(
            f"{API}/staff/{nina}/roles", headers=world.auth("ines"), json={"roles": [role]}
        )
        assert res.status_code == 403, role
        assert res.json()["error"]["code"] == "staff.role_not_grantable"
    made = await client.post(
        f"{API}/staff",
        headers=world.auth("ines"),
        json={
            "username": "newops",
            "display_name": "New Ops",
            "institution_id": world.inst["chc_a"].id,
            "roles": ["ops_engineer"],
            "password": PASSWORD,
        },
    )
    assert made.status_code == 403
    me = await client.get(f"{API}/auth/me", headers=world.auth("ines"))
    assert me.json()["roles"] == ["institution_admin"]
    # Institution-wide roles stay grantable, and the change is audited with before/after.
    ok = await client.put(
        f"{API}/staff/{nina}/roles",
        headers=world.auth("ines"),
        json={"roles": ["nurse", "specialist"]},
    )
    assert ok.status_code == 200, ok.text
    factory: async_sessionmaker[AsyncSession] = app.state.sessions
    async with factory() as s:
        entry = (
            await s.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == "staff.roles")
                .order_by(AuditEvent.seq)
            )
        ).all()[-1]
    assert entry.actor == "ines"
    assert entry.details == {"before": ["nurse"], "after": ["nurse", "specialist"]}
