"""FHIR R4 read/search: valid resources, scoping, masking, audit, paging and errors."""

from __future__ import annotations

import json
from datetime import date
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.location import Location
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.organization import Organization
from fhir.resources.R4B.patient import Patient as FhirPatient
from fhir.resources.R4B.practitioner import Practitioner
from fhir.resources.R4B.practitionerrole import PractitionerRole
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import World
from yiyun.audit.models import AuditEvent
from yiyun.org.models import User
from yiyun.records import resident_id
from yiyun.records.enums import GuardianRelation
from yiyun.records.models import Patient
from yiyun.web.fhir import resources as res
from yiyun.web.fhir.search import PATIENT, TABLES

FHIR = "/fhir/r4"
BASE = f"http://testserver{FHIR}"
CLASSES: dict[str, Any] = {
    "Organization": Organization,
    "Location": Location,
    "Practitioner": Practitioner,
    "PractitionerRole": PractitionerRole,
    "Patient": FhirPatient,
}
Params = list[tuple[str, str]]


def numbers() -> dict[str, str]:
    """The resident ID numbers the factory gives pa and pb."""
    return {
        key: resident_id.make("440305", date(1970, 1, seq), 100 + seq)
        for key, seq in (("pa", 11), ("pb", 12))
    }


async def search(
    client: httpx.AsyncClient,
    world: World,
    rtype: str,
    params: Params | None = None,
    who: str = "hana",
) -> Bundle:
    res_ = await client.get(f"{FHIR}/{rtype}", params=params or [], headers=world.auth(who))
    assert res_.status_code == 200, res_.text
    assert res_.headers["content-type"].startswith("application/fhir+json")
    return Bundle.model_validate_json(res_.text)


def ids(bundle: Bundle) -> set[str]:
    return {e.resource.id for e in bundle.entry or []}


def link(bundle: Bundle, relation: str) -> str | None:
    return next((lk.url for lk in bundle.link or [] if lk.relation == relation), None)


def outcome(res_: httpx.Response, status: int) -> str:
    """Check an OperationOutcome error response; return its issue code."""
    assert res_.status_code == status, res_.text
    assert res_.headers["content-type"].startswith("application/fhir+json")
    body = OperationOutcome.model_validate_json(res_.text)
    assert body.issue[0].severity == "error"
    return str(body.issue[0].code)


async def test_metadata_is_a_capability_statement_without_sign_in(
    client: httpx.AsyncClient, world: World
) -> None:
    res_ = await client.get(f"{FHIR}/metadata")
    assert res_.status_code == 200
    statement = CapabilityStatement.model_validate_json(res_.text)
    assert (statement.status, statement.kind, statement.fhirVersion) == (
        "active",
        "instance",
        "4.0.1",
    )
    assert "json" in statement.format
    rest = statement.rest[0]
    assert rest.mode == "server"
    served = {r.type: r for r in rest.resource}
    assert set(served) == set(res.SEARCH_PARAMS) | {"ServiceRequest"}
    writable = {"Patient", "ServiceRequest"}  # created by clinicians and partner systems
    for rtype, resource in served.items():
        wanted = {"read", "search-type"} | ({"create"} if rtype in writable else set())
        assert {i.code for i in resource.interaction} == wanted
        if rtype in res.SEARCH_PARAMS:
            assert {p.name for p in resource.searchParam} == set(res.SEARCH_PARAMS[rtype])
    assert served["Patient"].conditionalCreate is True
    oauth = rest.security.extension[0].extension[0]
    assert (oauth.url, oauth.valueUri) == ("token", "http://testserver/oauth/token")


def test_every_search_parameter_has_a_filter() -> None:
    for rtype, (_action, tables) in TABLES.items():
        for table in tables:
            assert set(table.filters) == set(res.SEARCH_PARAMS[rtype]), rtype
    assert set(PATIENT) == set(res.SEARCH_PARAMS["Patient"])


@pytest.mark.parametrize("rtype", sorted(CLASSES))
async def test_each_type_searches_and_reads_back_as_valid_fhir(
    client: httpx.AsyncClient, world: World, rtype: str
) -> None:
    bundle = await search(client, world, rtype)
    assert bundle.type == "searchset"
    assert bundle.total == len(bundle.entry) > 0
    for entry in bundle.entry:
        resource = entry.resource
        assert resource.get_resource_type() == rtype
        assert entry.fullUrl == f"{BASE}/{rtype}/{resource.id}"
        assert entry.search.mode == "match"
        read = await client.get(f"{FHIR}/{rtype}/{resource.id}", headers=world.auth("hana"))
        assert read.status_code == 200, read.text
        assert read.headers["cache-control"] == "no-store"
        model = CLASSES[rtype].model_validate_json(read.text)
        assert json.loads(model.model_dump_json()) == read.json()
        assert model.model_dump(mode="json") == resource.model_dump(mode="json")


async def test_organization_carries_code_kinds_parent_and_english_alias(
    client: httpx.AsyncClient, world: World
) -> None:
    chc_a, lead = world.inst["chc_a"], world.inst["lead"]
    res_ = await client.get(f"{FHIR}/Organization/{chc_a.id}", headers=world.auth("alice"))
    org = Organization.model_validate_json(res_.text)
    assert [(i.system, i.value) for i in org.identifier] == [(res.SYS_INSTITUTION, "CHC-A")]
    assert (org.name, org.alias, org.active) == ("甲社区健康服务中心", ["CHC A"], True)
    assert org.partOf.reference == f"Organization/{lead.id}"
    codings = {(c.system, c.code) for t in org.type for c in t.coding}
    assert (res.SYS_INSTITUTION_KIND, "community_health_centre") in codings
    assert (res.SYS_ORG_TYPE, "prov") in codings


async def test_organization_search_parameters_narrow_the_bundle(
    client: httpx.AsyncClient, world: World
) -> None:
    inst = {k: str(v.id) for k, v in world.inst.items()}
    cases: list[tuple[Params, set[str]]] = [
        ([("identifier", f"{res.SYS_INSTITUTION}|CHC-A")], {inst["chc_a"]}),
        ([("identifier", "CHC-B")], {inst["chc_b"]}),
        ([("identifier", "urn:other|CHC-B")], set()),
        ([("partof", f"Organization/{inst['lead']}")], {inst["chc_a"], inst["chc_b"]}),
        ([("name", "甲社区")], {inst["chc_a"]}),
        ([("name", "chc")], {inst["chc_a"], inst["chc_b"]}),
        ([("name:exact", "CHC")], set()),
        ([("name:contains", "人民")], {inst["lead"]}),
        ([("type", "community_health_centre")], {inst["chc_a"], inst["chc_b"]}),
        ([("type", f"{res.SYS_ORG_TYPE}|govt")], {inst["authority"]}),
        ([("_id", f"{inst['lead']},{inst['chc_b']}")], {inst["lead"], inst["chc_b"]}),
        ([("type", "community_health_centre"), ("name", "乙")], {inst["chc_b"]}),
        ([("active", "true")], set(inst.values())),
    ]
    for params, expected in cases:
        assert ids(await search(client, world, "Organization", params, "alice")) == expected, params


async def test_locations_are_departments_and_scoped_terminals(
    client: httpx.AsyncClient, world: World
) -> None:
    chc_a = world.inst["chc_a"]
    gp, cardio = world.departments["gp"], world.departments["cardio"]
    own = await search(
        client, world, "Location", [("organization", f"Organization/{chc_a.id}")], "alice"
    )
    by_id = {e.resource.id: e.resource for e in own.entry}
    term_id = next(i for i in by_id if i.startswith("term-"))
    assert set(by_id) == {f"dept-{gp.id}", term_id}
    assert by_id[f"dept-{gp.id}"].physicalType.coding[0].code == "wa"
    assert by_id[term_id].physicalType.coding[0].code == "ro"
    assert by_id[term_id].managingOrganization.reference == f"Organization/{chc_a.id}"
    # another institution's doctor sees the departments but not CHC A's terminal
    outside = await search(client, world, "Location", who="mallory")
    assert ids(outside) == {f"dept-{gp.id}", f"dept-{cardio.id}"}
    denied = await client.get(f"{FHIR}/Location/{term_id}", headers=world.auth("mallory"))
    assert outcome(denied, 403) == "forbidden"
    cases: list[tuple[Params, set[str]]] = [
        ([("identifier", f"{res.SYS_DEPARTMENT}CHC-A|GP")], {f"dept-{gp.id}"}),
        ([("identifier", f"{res.SYS_DEPARTMENT}LEAD|GP")], set()),
        ([("identifier", f"{res.SYS_TERMINAL}|T-CHCA-1")], {term_id}),
        ([("_id", f"dept-{cardio.id},{term_id}")], {f"dept-{cardio.id}", term_id}),
        ([("_id", str(cardio.id))], set()),
        ([("name", "cardio")], {f"dept-{cardio.id}"}),
        ([("status", "inactive")], set()),
    ]
    for params, expected in cases:
        assert ids(await search(client, world, "Location", params, "alice")) == expected, params
    for bad in (f"dept-{gp.id}x", str(gp.id), "term-99999"):
        missing = await client.get(f"{FHIR}/Location/{bad}", headers=world.auth("alice"))
        assert outcome(missing, 404) == "not-found"


async def test_practitioner_shows_licence_only_when_present_and_is_scoped(
    client: httpx.AsyncClient, world: World
) -> None:
    alice, nina = world.users["alice"], world.users["nina"]
    found = await search(
        client, world, "Practitioner", [("identifier", f"{res.SYS_LICENCE}|LICALICE01")], "alice"
    )
    assert ids(found) == {str(alice.id)}
    doc = found.entry[0].resource
    assert doc.name[0].text == "Alice"
    assert doc.qualification[0].period.end.isoformat() == "2030-12-31"
    nurse = await client.get(f"{FHIR}/Practitioner/{nina.id}", headers=world.auth("alice"))
    body = Practitioner.model_validate_json(nurse.text)
    assert body.identifier is None and body.qualification is None
    assert ids(await search(client, world, "Practitioner", who="mallory")) == {
        str(world.users["mallory"].id)
    }
    assert len(ids(await search(client, world, "Practitioner", who="hana"))) == len(world.users)
    denied = await client.get(f"{FHIR}/Practitioner/{alice.id}", headers=world.auth("mallory"))
    outcome(denied, 403)


async def test_practitioner_role_search_by_role_organization_and_specialty(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    users, lead = world.users, world.inst["lead"]
    bob = await session.get(User, users["bob"].id)
    assert bob is not None
    bob.specialties = ["心内科", "Cardiology"]
    bob.department_id = world.departments["cardio"].id
    await session.commit()
    uid = {k: str(v.id) for k, v in users.items()}
    cases: list[tuple[Params, set[str]]] = [
        ([("role", "specialist")], {uid["bob"]}),
        (
            [("role", f"{res.SYS_PRACTITIONER_ROLE}|doctor")],
            {uid["alice"], uid["mallory"], uid["bob"]},
        ),
        ([("role", f"{res.SYS_ROLE}|doctor")], set()),
        (
            [("organization", f"Organization/{lead.id}")],
            {uid["bob"], uid["carol"], uid["otto"], uid["admin"]},
        ),
        ([("practitioner", f"Practitioner/{uid['bob']}")], {uid["bob"]}),
        ([("practitioner", f"Patient/{uid['bob']}")], set()),
        ([("specialty", "心内科")], {uid["bob"]}),
        ([("specialty", "Neurology")], set()),
    ]
    for params, expected in cases:
        assert ids(await search(client, world, "PractitionerRole", params)) == expected, params
    role = PractitionerRole.model_validate_json(
        (
            await client.get(f"{FHIR}/PractitionerRole/{uid['bob']}", headers=world.auth("admin"))
        ).text
    )
    assert role.practitioner.reference == f"Practitioner/{uid['bob']}"
    assert role.location[0].reference == f"Location/dept-{world.departments['cardio'].id}"
    assert [s.text for s in role.specialty] == ["心内科", "Cardiology"]
    assert {(c.system, c.code) for c in role.code[0].coding} == {
        (res.SYS_ROLE, "specialist"),
        (res.SYS_PRACTITIONER_ROLE, "doctor"),
    }


async def test_patients_are_scoped_like_the_rest_api(
    client: httpx.AsyncClient, world: World
) -> None:
    pa, pb = world.patients["pa"], world.patients["pb"]
    own = await client.get(f"{FHIR}/Patient/{pa.id}", headers=world.auth("alice"))
    assert own.status_code == 200
    hidden = await client.get(f"{FHIR}/Patient/{pb.id}", headers=world.auth("alice"))
    assert outcome(hidden, 404) == "not-found"
    assert pb.name not in hidden.text and pb.mpi not in hidden.text
    assert ids(await search(client, world, "Patient", who="alice")) == {str(pa.id)}
    assert ids(await search(client, world, "Patient", who="mallory")) == {str(pb.id)}
    assert ids(await search(client, world, "Patient", who="hana")) == {str(pa.id), str(pb.id)}
    hana = await client.get(f"{FHIR}/Patient/{pb.id}", headers=world.auth("hana"))
    assert hana.status_code == 200
    dispatcher = await client.get(f"{FHIR}/Patient", headers=world.auth("carol"))
    assert outcome(dispatcher, 403) == "forbidden"


async def test_patient_carries_mpi_record_number_masked_id_and_guardian(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    pa, pb = world.patients["pa"], world.patients["pb"]
    row = await session.get(Patient, pb.id)
    assert row is not None
    row.guardian_id, row.guardian_relation = pa.id, GuardianRelation.PARENT
    await session.commit()
    res_ = await client.get(f"{FHIR}/Patient/{pb.id}", headers=world.auth("hana"))
    body = FhirPatient.model_validate_json(res_.text)
    by_system = {i.system: i for i in body.identifier}
    assert by_system[res.SYS_MPI].value == "PTEST12"
    assert by_system[f"{res.SYS_MRN}CHC-B"].value == "R12"
    masked = by_system[res.SYS_RESIDENT_ID]
    assert masked.value == resident_id.mask(numbers()["pb"])
    assert masked.type.text == "masked"
    assert body.meta.security[0].code == "MASKED"
    assert (body.gender, body.birthDate.isoformat()) == ("female", "1970-01-12")
    assert body.managingOrganization.reference == f"Organization/{world.inst['chc_b'].id}"
    assert body.name[0].text == pb.name
    contact = body.contact[0]
    assert contact.name.text == pa.name
    assert {c.coding[0].code for c in contact.relationship} == {"GUARD", "PRN"}


async def test_identifier_search_by_resident_id_never_echoes_the_number(
    client: httpx.AsyncClient, world: World
) -> None:
    pa, pb = world.patients["pa"], world.patients["pb"]
    full = numbers()
    bodies = []
    found = await client.get(
        f"{FHIR}/Patient",
        headers=world.auth("alice"),
        params={"identifier": f"{res.SYS_RESIDENT_ID}|{full['pa']}"},
    )
    bodies.append(found.text)
    bundle = Bundle.model_validate_json(found.text)
    assert ids(bundle) == {str(pa.id)}
    self_link = parse_qs(urlsplit(link(bundle, "self") or "").query)
    assert self_link["identifier"] == [f"{res.SYS_MPI}|PTEST11"]
    outsider = await client.get(
        f"{FHIR}/Patient",
        headers=world.auth("alice"),
        params={"identifier": f"{res.SYS_RESIDENT_ID}|{full['pb']}"},
    )
    bodies.append(outsider.text)
    assert Bundle.model_validate_json(outsider.text).total == 0
    posted = await client.post(
        f"{FHIR}/Patient/_search",
        headers=world.auth("hana"),
        data={"identifier": f"{full['pa'].lower()},{full['pb']}"},
    )
    bodies.append(posted.text)
    assert ids(Bundle.model_validate_json(posted.text)) == {str(pa.id), str(pb.id)}
    for who in ("alice", "hana"):
        for path in (f"{FHIR}/Patient", f"{FHIR}/Patient/{pa.id}"):
            bodies.append((await client.get(path, headers=world.auth(who))).text)
    for body in bodies:
        for number in full.values():
            assert number not in body and number[:-4] not in body


async def test_patient_search_by_name_identifier_birthdate_gender_and_organization(
    client: httpx.AsyncClient, world: World
) -> None:
    pa, pb = str(world.patients["pa"].id), str(world.patients["pb"].id)
    cases: list[tuple[Params, set[str]]] = [
        ([("name", "测试患者")], {pa, pb}),
        ([("name:exact", "测试患者PA")], {pa}),
        ([("name:contains", "者PB")], {pb}),
        ([("name", "%")], set()),
        ([("identifier", "R11")], {pa}),
        ([("identifier", f"{res.SYS_MRN}CHC-A|R11")], {pa}),
        ([("identifier", f"{res.SYS_MRN}CHC-B|R11")], set()),
        ([("identifier", f"{res.SYS_MPI}|ptest12")], {pb}),
        ([("identifier", f"{res.SYS_RESIDENT_ID}|")], {pa, pb}),
        ([("birthdate", "1970-01-11")], {pa}),
        ([("birthdate", "1970")], {pa, pb}),
        ([("birthdate", "ge1970-01-12")], {pb}),
        ([("birthdate", "lt1970-01-12")], {pa}),
        ([("birthdate", "ne1970-01-11")], {pb}),
        ([("birthdate", "ge1970-01"), ("birthdate", "le1970-01-11")], {pa}),
        ([("gender", "male")], {pa}),
        ([("gender", f"{res.SYS_GENDER}|female")], {pb}),
        ([("gender", "other")], set()),
        ([("organization", f"Organization/{world.inst['chc_b'].id}")], {pb}),
        ([("_id", f"{pa},999999")], {pa}),
    ]
    for params, expected in cases:
        assert ids(await search(client, world, "Patient", params, "hana")) == expected, params


async def test_fhir_reads_and_searches_are_on_the_audit_chain(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    pa = world.patients["pa"]
    assert (
        await client.get(f"{FHIR}/Patient/{pa.id}", headers=world.auth("alice"))
    ).status_code == 200
    assert (
        await client.get(f"{FHIR}/Patient/{pa.id}", headers=world.auth("mallory"))
    ).status_code == 404
    await search(client, world, "Patient", who="alice")
    rows = (
        await session.scalars(
            select(AuditEvent).where(AuditEvent.patient_id == pa.id).order_by(AuditEvent.seq)
        )
    ).all()
    assert [(r.action, r.actor, r.outcome) for r in rows] == [
        ("patient.read", "alice", "success"),
        ("patient.read", "mallory", "denied"),
    ]
    listing = (
        await session.scalars(select(AuditEvent).where(AuditEvent.action == "patient.list"))
    ).one()
    assert listing.actor == "alice"
    assert listing.details["interface"] == "fhir"
    assert listing.details["patient_ids"] == [pa.id]


async def test_paging_follows_next_links_across_pages_and_tables(
    client: httpx.AsyncClient, world: World
) -> None:
    everyone = ids(await search(client, world, "Practitioner"))
    seen: list[str] = []
    url: str | None = f"{FHIR}/Practitioner?_count=4"
    pages = 0
    while url:
        res_ = await client.get(url.removeprefix("http://testserver"), headers=world.auth("admin"))
        bundle = Bundle.model_validate_json(res_.text)
        assert bundle.total == len(everyone)
        seen += [e.resource.id for e in bundle.entry]
        url, pages = link(bundle, "next"), pages + 1
    assert pages == 3 and len(seen) == len(set(seen)) and set(seen) == everyone
    locations = [
        ids(await search(client, world, "Location", [("_count", "1"), ("_offset", str(i))]))
        for i in range(4)
    ]
    assert [len(p) for p in locations] == [1, 1, 1, 0]
    assert next(iter(locations[2])).startswith("term-")
    only_total = await search(client, world, "Patient", [("_count", "0")])
    assert only_total.total == 2 and only_total.entry is None
    clamped = await search(client, world, "Organization", [("_count", "500")])
    assert parse_qs(urlsplit(link(clamped, "self") or "").query)["_count"] == ["100"]


async def test_unknown_parameters_are_ignored_unless_strict(
    client: httpx.AsyncClient, world: World
) -> None:
    lenient = await search(
        client, world, "Organization", [("colour", "blue"), ("name", ""), ("_count", "")]
    )
    assert lenient.total == len(world.inst)
    assert "colour" not in (link(lenient, "self") or "")
    strict = await client.get(
        f"{FHIR}/Organization",
        params={"colour": "blue"},
        headers=world.auth("admin") | {"Prefer": "handling=strict"},
    )
    assert outcome(strict, 400) == "not-supported"


@pytest.mark.parametrize(
    "params",
    [
        {"_count": "abc"},
        {"_count": "-1"},
        {"_offset": "x"},
        {"birthdate": "1970-13"},
        {"birthdate": "1970-02-30"},
        {"birthdate": "ap1970"},
        {"name:fuzzy": "x"},
        {"identifier": "a|b|c"},
        {"identifier": f"{res.SYS_RESIDENT_ID}|123"},
        {"gender": "x\x00y"},
        {"name": "x" * 500},
    ],
)
async def test_bad_search_values_get_a_400_operation_outcome(
    client: httpx.AsyncClient, world: World, params: dict[str, str]
) -> None:
    res_ = await client.get(f"{FHIR}/Patient", params=params, headers=world.auth("alice"))
    assert outcome(res_, 400) in ("invalid", "not-supported")


async def test_errors_under_fhir_are_operation_outcomes(
    client: httpx.AsyncClient, world: World
) -> None:
    unauthenticated = await client.get(f"{FHIR}/Patient")
    assert outcome(unauthenticated, 401) == "login"
    assert unauthenticated.headers["www-authenticate"] == "Bearer"
    alice = world.auth("alice")
    assert outcome(await client.get(f"{FHIR}/Observation", headers=alice), 404) == "not-supported"
    assert outcome(await client.get(f"{FHIR}/Observation/1", headers=alice), 404) == "not-supported"
    assert outcome(await client.get(f"{FHIR}/Patient/abc", headers=alice), 404) == "not-found"
    assert (
        outcome(await client.get(f"{FHIR}/Patient/99999999999", headers=alice), 404) == "not-found"
    )
    assert outcome(await client.get(f"{FHIR}/Patient/1/_history", headers=alice), 404)
    assert outcome(await client.put(f"{FHIR}/Patient/1", headers=alice), 405)
    assert (
        outcome(await client.get(f"{FHIR}/Patient", params={"_format": "xml"}, headers=alice), 406)
        == "not-supported"
    )
    # the rest of the API keeps its own error shape
    rest = await client.get("/api/v1/patients/999999", headers=alice)
    assert rest.status_code == 404 and "error" in rest.json()
