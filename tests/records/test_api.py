"""Patient records over the API: registration, scope, documents, consents and audit."""

from __future__ import annotations

import hashlib
import struct
import zlib
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.factories import World
from yiyun.audit.models import AuditEvent
from yiyun.records import resident_id
from yiyun.records.models import Consent, Document, Patient, PatientRecordNo
from yiyun.records.service import ID_CONTEXT, PHONE_CONTEXT
from yiyun.settings import Settings

API = "/api/v1"
NEW_ID = resident_id.make("440305", date(1985, 6, 15), 123)  # male, born 15 June 1985
X_ID = "11010519491231002X"  # female, born 31 December 1949, check character X
PHONE = "13912345678"


def _pa_number() -> str:
    return resident_id.make("440305", date(1970, 1, 11), 111)


def _pb_number() -> str:
    return resident_id.make("440305", date(1970, 1, 12), 112)


def _child_birth() -> date:
    today = date.today()
    return date(today.year - 5, 6, 1)


def _png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


PNG = _png()
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 200


def _sessions(app: Any) -> async_sessionmaker[AsyncSession]:
    factory: async_sessionmaker[AsyncSession] = app.state.sessions
    return factory


async def _register(
    client: httpx.AsyncClient, world: World, who: str = "alice", **body: Any
) -> httpx.Response:
    payload: dict[str, Any] = {"name": "王小明"} | body
    return await client.post(f"{API}/patients", json=payload, headers=world.auth(who))


async def _counts(app: Any) -> dict[str, int]:
    async with _sessions(app)() as s:
        return {
            model.__name__: int(await s.scalar(select(func.count()).select_from(model)) or 0)
            for model in (Patient, PatientRecordNo, Document, Consent, AuditEvent)
        }


async def _audit(app: Any, **where: Any) -> list[AuditEvent]:
    async with _sessions(app)() as s:
        query = select(AuditEvent).order_by(AuditEvent.seq)
        for key, value in where.items():
            query = query.where(getattr(AuditEvent, key) == value)
        return list((await s.scalars(query)).all())


def _stored_files(settings: Settings) -> list[Path]:
    root = settings.storage.path
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


# --- registration ----------------------------------------------------------------------


async def test_it_registers_a_patient_from_the_id_number(
    client: httpx.AsyncClient, world: World, app: Any
) -> None:
    res = await _register(client, world, id_number=NEW_ID, phone=PHONE, address="示例路 1 号")
    assert res.status_code == 201, res.text
    body = res.json()
    assert body["sex"] == "male"
    assert body["birth_on"] == "1985-06-15"
    assert body["minor"] is False
    assert body["id_number_masked"] == "440305********123" + NEW_ID[-1]
    assert body["phone_masked"] == "139****5678"
    assert body["home_institution_id"] == world.inst["chc_a"].id
    assert [r["institution_id"] for r in body["record_numbers"]] == [world.inst["chc_a"].id]
    assert body["record_numbers"][0]["record_no"].startswith("HC-A-")
    assert body["mpi"].startswith("P")
    assert NEW_ID not in res.text
    assert NEW_ID[6:14] not in res.text  # not even the birth-date digits in a row
    assert PHONE not in res.text
    async with _sessions(app)() as s:
        row = await s.get(Patient, body["id"])
        assert row is not None
        assert row.id_number_enc is not None and NEW_ID not in row.id_number_enc
        assert app.state.cipher.decrypt(row.id_number_enc, context=ID_CONTEXT) == NEW_ID
        assert row.id_number_hash == app.state.cipher.lookup_hash(NEW_ID, context=ID_CONTEXT)
        assert row.phone_enc is not None
        assert app.state.cipher.decrypt(row.phone_enc, context=PHONE_CONTEXT) == PHONE
        assert row.created_by_id == world.users["alice"].id


async def test_an_x_check_character_registers_and_derives_female(
    client: httpx.AsyncClient, world: World
) -> None:
    res = await _register(client, world, id_number=X_ID.lower())
    assert res.status_code == 201, res.text
    assert res.json()["sex"] == "female"
    assert res.json()["birth_on"] == "1949-12-31"
    assert res.json()["id_number_masked"] == "110105********002X"


async def test_it_registers_without_an_id_number_given_sex_and_birth(
    client: httpx.AsyncClient, world: World
) -> None:
    res = await _register(client, world, sex="female", birth_on="1990-03-04", record_no="A-77")
    assert res.status_code == 201, res.text
    assert res.json()["id_number_masked"] is None
    assert res.json()["record_numbers"][0]["record_no"] == "A-77"
    missing = await _register(client, world, sex="female")
    assert missing.status_code == 422
    assert missing.json()["error"]["code"] == "patient.missing_demographics"


@pytest.mark.parametrize(
    ("extra", "code"),
    [
        ({"birth_on": "1985-06-16"}, "patient.birth_mismatch"),
        ({"sex": "female"}, "patient.sex_mismatch"),
    ],
)
async def test_given_demographics_must_agree_with_the_id_number(
    client: httpx.AsyncClient, world: World, extra: dict[str, str], code: str
) -> None:
    res = await _register(client, world, id_number=NEW_ID, **extra)
    assert res.status_code == 422
    assert res.json()["error"]["code"] == code


async def test_a_duplicate_id_number_is_a_conflict_anywhere_in_the_consortium(
    client: httpx.AsyncClient, world: World
) -> None:
    assert (await _register(client, world, id_number=X_ID)).status_code == 201
    again = await _register(client, world, name="另一个名字", id_number=X_ID.lower())
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "patient.duplicate_id_number"
    elsewhere = await _register(client, world, "mallory", id_number=X_ID)
    assert elsewhere.status_code == 409
    seeded = await _register(client, world, id_number=_pa_number())
    assert seeded.status_code == 409


async def test_a_wrong_check_character_is_refused_with_the_reason(
    client: httpx.AsyncClient, world: World
) -> None:
    wrong = NEW_ID[:-1] + ("0" if NEW_ID[-1] != "0" else "2")
    res = await _register(client, world, id_number=wrong)
    assert res.status_code == 422
    error = res.json()["error"]
    assert error["code"] == "patient.bad_id_number"
    assert error["message"] == "居民身份证号校验位不符，请核对。"
    assert error["details"]["field"] == "id_number"
    assert error["details"]["errors"] == [
        {"field": "id_number", "code": "patient.bad_id_number", "message": error["message"]}
    ]
    assert wrong not in res.text
    english = await client.post(
        f"{API}/patients",
        params={"lang": "en"},
        json={"name": "王小明", "id_number": wrong},
        headers=world.auth("alice"),
    )
    assert "check character does not match" in english.json()["error"]["message"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("phone", "12345678901"),
        ("phone", "1391234567"),
        ("record_no", "R 1"),
        ("id_number", ""),
        ("sex", "other"),
        ("name", "  "),
    ],
)
async def test_malformed_fields_are_refused_without_echoing_them(
    client: httpx.AsyncClient, world: World, field: str, value: str
) -> None:
    res = await _register(client, world, **({"id_number": NEW_ID} | {field: value}))
    assert res.status_code == 422
    assert res.json()["error"]["code"] == "invalid_input"
    assert any(field in e["loc"] for e in res.json()["error"]["details"]["errors"])
    if value.strip():
        assert value not in res.text


async def test_a_minor_needs_a_guardian(client: httpx.AsyncClient, world: World) -> None:
    child = resident_id.make("440305", _child_birth(), 124)
    res = await _register(client, world, name="小朋友", id_number=child)
    assert res.status_code == 422
    assert res.json()["error"]["code"] == "patient.guardian_required"
    assert res.json()["error"]["details"]["field"] == "guardian_id"
    (beside,) = res.json()["error"]["details"]["errors"]  # shown beside the field
    assert beside["field"] == "guardian_id" and beside["code"] == "patient.guardian_required"


async def test_a_minor_with_an_adult_guardian_is_registered(
    client: httpx.AsyncClient, world: World
) -> None:
    pa = world.patients["pa"]
    child = resident_id.make("440305", _child_birth(), 124)
    res = await _register(
        client, world, name="小朋友", id_number=child, guardian_id=pa.id, guardian_relation="parent"
    )
    assert res.status_code == 201, res.text
    body = res.json()
    assert body["minor"] is True
    today = date.today()
    assert body["age"] == 5 - ((today.month, today.day) < (6, 1))  # birthday on 1 June
    assert body["guardian"] == {"id": pa.id, "name": pa.name, "relation": "parent"}


async def test_a_guardian_must_be_an_adult(client: httpx.AsyncClient, world: World) -> None:
    pa = world.patients["pa"]
    first = await _register(
        client,
        world,
        name="哥哥",
        sex="male",
        birth_on=_child_birth().isoformat(),
        guardian_id=pa.id,
    )
    assert first.status_code == 201, first.text
    res = await _register(
        client,
        world,
        name="弟弟",
        sex="male",
        birth_on=_child_birth().isoformat(),
        guardian_id=first.json()["id"],
    )
    assert res.status_code == 422
    assert res.json()["error"]["code"] == "patient.minor_guardian"


async def test_a_guardian_from_another_institution_is_not_found(
    client: httpx.AsyncClient, world: World, app: Any
) -> None:
    before = await _counts(app)
    res = await _register(
        client,
        world,
        name="小朋友",
        sex="male",
        birth_on=_child_birth().isoformat(),
        guardian_id=world.patients["pb"].id,
    )
    assert res.status_code == 404
    after = await _counts(app)
    assert after["Patient"] == before["Patient"]
    assert after["PatientRecordNo"] == before["PatientRecordNo"]


async def test_an_update_cannot_make_a_minor_the_guardian(
    client: httpx.AsyncClient, world: World
) -> None:
    pa = world.patients["pa"]
    child = await _register(
        client,
        world,
        name="小朋友",
        sex="male",
        birth_on=_child_birth().isoformat(),
        guardian_id=pa.id,
    )
    assert child.status_code == 201
    res = await client.patch(
        f"{API}/patients/{pa.id}",
        headers=world.auth("alice"),
        json={"guardian_id": child.json()["id"]},
    )
    assert res.status_code == 422


async def test_a_patient_cannot_be_their_own_guardian(
    client: httpx.AsyncClient, world: World
) -> None:
    pa = world.patients["pa"]
    res = await client.patch(
        f"{API}/patients/{pa.id}", headers=world.auth("alice"), json={"guardian_id": pa.id}
    )
    assert res.status_code == 422
    assert res.json()["error"]["code"] == "patient.self_guardian"


async def test_staff_register_only_at_their_own_institution(
    client: httpx.AsyncClient, world: World
) -> None:
    elsewhere = await _register(
        client, world, id_number=NEW_ID, institution_id=world.inst["chc_b"].id
    )
    assert elsewhere.status_code == 403
    assert elsewhere.json()["error"]["code"] == "access.denied"
    # The consortium administrator runs IT: it registers no patient anywhere.
    by_admin = await _register(
        client, world, "admin", id_number=NEW_ID, institution_id=world.inst["chc_b"].id
    )
    assert by_admin.status_code == 403
    by_mallory = await _register(
        client, world, "mallory", id_number=NEW_ID, institution_id=world.inst["chc_b"].id
    )
    assert by_mallory.status_code == 201, by_mallory.text
    assert by_mallory.json()["home_institution_id"] == world.inst["chc_b"].id
    assert (await _register(client, world, "nina", id_number=X_ID)).status_code == 201


@pytest.mark.parametrize("who", ["carol", "otto", "hana"])
async def test_non_clinical_roles_cannot_register(
    client: httpx.AsyncClient, world: World, who: str
) -> None:
    res = await _register(client, world, who, id_number=NEW_ID)
    assert res.status_code == 403


async def test_it_needs_a_signed_in_caller(client: httpx.AsyncClient, world: World) -> None:
    res = await client.get(f"{API}/patients/{world.patients['pa'].id}")
    assert res.status_code == 401
    assert world.patients["pa"].name not in res.text


# --- search and scope ------------------------------------------------------------------


async def _search(
    client: httpx.AsyncClient, world: World, who: str, q: str | None = None
) -> list[int]:
    params = {"q": q} if q is not None else {}
    res = await client.get(f"{API}/patients", params=params, headers=world.auth(who))
    assert res.status_code == 200, res.text
    assert res.json()["total"] == len(res.json()["items"])
    return [p["id"] for p in res.json()["items"]]


async def test_search_is_scoped_to_the_institution(client: httpx.AsyncClient, world: World) -> None:
    pa, pb = world.patients["pa"].id, world.patients["pb"].id
    assert await _search(client, world, "alice") == [pa]
    assert await _search(client, world, "mallory") == [pb]
    assert set(await _search(client, world, "hana")) == {pa, pb}
    listing = await client.get(f"{API}/patients", headers=world.auth("admin"))
    assert listing.status_code == 403  # IT administration lists no patients


@pytest.mark.parametrize("q", ["测试患者PA", "患者P", "PTEST11", "ptest11", "R11"])
async def test_search_finds_by_name_mpi_or_record_number(
    client: httpx.AsyncClient, world: World, q: str
) -> None:
    assert await _search(client, world, "alice", q) == [world.patients["pa"].id]


@pytest.mark.parametrize("q", ["测试患者PB", "PTEST12", "R12"])
async def test_search_does_not_reach_other_institutions(
    client: httpx.AsyncClient, world: World, q: str
) -> None:
    assert await _search(client, world, "alice", q) == []
    assert await _search(client, world, "hana", q) == [world.patients["pb"].id]


async def test_search_is_audited_with_the_patients_returned(
    client: httpx.AsyncClient, world: World, app: Any
) -> None:
    res = await client.get(f"{API}/patients", params={"q": "R11"}, headers=world.auth("alice"))
    assert res.status_code == 200
    entries = await _audit(app, action="patient.list", request_id=res.headers["x-request-id"])
    assert len(entries) == 1
    assert entries[0].details == {
        "query": True,
        "returned": 1,
        "patient_ids": [world.patients["pa"].id],
    }
    assert "R11" not in str(entries[0].details)


@pytest.mark.parametrize("who", ["carol", "otto"])
async def test_roles_without_patient_access_cannot_search(
    client: httpx.AsyncClient, world: World, who: str
) -> None:
    res = await client.get(f"{API}/patients", headers=world.auth(who))
    assert res.status_code == 403


async def test_the_authority_reads_everywhere_but_writes_nowhere(
    client: httpx.AsyncClient, world: World, app: Any
) -> None:
    pb = world.patients["pb"]
    read = await client.get(f"{API}/patients/{pb.id}", headers=world.auth("hana"))
    assert read.status_code == 200
    assert read.json()["name"] == pb.name
    patch = await client.patch(
        f"{API}/patients/{pb.id}", headers=world.auth("hana"), json={"name": "改名"}
    )
    assert patch.status_code == 403
    assert patch.json()["error"]["code"] == "access.read_only"
    doc = await client.post(
        f"{API}/patients/{pb.id}/documents",
        headers=world.auth("hana"),
        json={"kind": "summary", "title": "t", "body": "b"},
    )
    assert doc.status_code == 403
    consent = await client.post(
        f"{API}/patients/{pb.id}/consents",
        headers=world.auth("hana"),
        json={"purpose": "telemedicine"},
    )
    assert consent.status_code == 403
    again = await client.get(f"{API}/patients/{pb.id}", headers=world.auth("hana"))
    assert again.json()["name"] == pb.name
    denied = await _audit(app, actor="hana", outcome="denied")
    assert [(e.action, e.patient_id) for e in denied] == [("patient.write", pb.id)] * 3


async def test_an_outsider_gets_not_found_and_no_patient_data(
    client: httpx.AsyncClient, world: World
) -> None:
    pa = world.patients["pa"]
    res = await client.get(f"{API}/patients/{pa.id}", headers=world.auth("mallory"))
    assert res.status_code == 404
    for secret in (pa.name, pa.mpi, "R11", str(pa.birth_on), pa.id_number_masked or "?"):
        assert secret not in res.text
    nowhere = await client.get(f"{API}/patients/999999", headers=world.auth("mallory"))
    assert nowhere.status_code == 404
    assert res.json() == nowhere.json()  # indistinguishable from a patient that does not exist


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/patients/{id}", None),
        ("PATCH", "/patients/{id}", {"name": "改名"}),
        ("GET", "/patients/{id}/documents", None),
        ("POST", "/patients/{id}/documents", {"kind": "summary", "title": "t", "body": "b"}),
        ("GET", "/patients/{id}/consents", None),
        ("POST", "/patients/{id}/consents", {"purpose": "telemedicine"}),
    ],
)
async def test_every_patient_route_hides_the_patient_from_an_outsider(
    client: httpx.AsyncClient,
    world: World,
    app: Any,
    method: str,
    path: str,
    body: dict[str, str] | None,
) -> None:
    pa = world.patients["pa"]
    before = await _counts(app)
    res = await client.request(
        method, API + path.format(id=pa.id), json=body, headers=world.auth("mallory")
    )
    assert res.status_code == 404
    assert res.json()["error"]["code"] == "patient.not_found"
    assert pa.name not in res.text
    denied = await _audit(
        app, actor="mallory", outcome="denied", request_id=res.headers["x-request-id"]
    )
    assert len(denied) == 1
    assert denied[0].patient_id == pa.id
    after = await _counts(app)
    assert after == before | {"AuditEvent": before["AuditEvent"] + 1}
    async with _sessions(app)() as s:
        row = await s.get(Patient, pa.id)
        assert row is not None and row.name == pa.name


# --- lookup by resident ID number ------------------------------------------------------


async def test_lookup_by_full_id_number_in_the_body(
    client: httpx.AsyncClient, world: World
) -> None:
    pa = world.patients["pa"]
    res = await client.post(
        f"{API}/patients/lookup", data={"id_number": _pa_number()}, headers=world.auth("alice")
    )
    assert res.status_code == 200, res.text
    assert res.json()["id"] == pa.id
    assert _pa_number() not in res.text
    lower = await client.post(
        f"{API}/patients/lookup",
        data={"id_number": f" {_pa_number().lower()} "},
        headers=world.auth("alice"),
    )
    assert lower.status_code == 200
    by_authority = await client.post(
        f"{API}/patients/lookup", data={"id_number": _pb_number()}, headers=world.auth("hana")
    )
    assert by_authority.json()["id"] == world.patients["pb"].id


async def test_lookup_of_an_unknown_or_malformed_number(
    client: httpx.AsyncClient, world: World
) -> None:
    unknown = await client.post(
        f"{API}/patients/lookup", data={"id_number": NEW_ID}, headers=world.auth("alice")
    )
    assert unknown.status_code == 404
    bad = await client.post(
        f"{API}/patients/lookup", data={"id_number": NEW_ID[:17]}, headers=world.auth("alice")
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "patient.bad_id_number"


async def test_lookup_hides_another_institutions_patient(
    client: httpx.AsyncClient, world: World, app: Any
) -> None:
    res = await client.post(
        f"{API}/patients/lookup", data={"id_number": _pa_number()}, headers=world.auth("mallory")
    )
    assert res.status_code == 404
    assert world.patients["pa"].name not in res.text
    unknown = await client.post(
        f"{API}/patients/lookup", data={"id_number": NEW_ID}, headers=world.auth("mallory")
    )
    assert res.json() == unknown.json()
    denied = await _audit(app, actor="mallory", outcome="denied")
    assert [e.patient_id for e in denied] == [world.patients["pa"].id]


async def test_a_successful_lookup_is_audited_as_a_read(
    client: httpx.AsyncClient, world: World, app: Any
) -> None:
    res = await client.post(
        f"{API}/patients/lookup", data={"id_number": _pa_number()}, headers=world.auth("alice")
    )
    assert res.status_code == 200
    entries = await _audit(app, request_id=res.headers["x-request-id"])
    assert [(e.action, e.patient_id, e.outcome) for e in entries] == [
        ("patient.read", world.patients["pa"].id, "success")
    ]


# --- update ----------------------------------------------------------------------------


async def test_it_updates_name_phone_and_address(
    client: httpx.AsyncClient, world: World, app: Any
) -> None:
    pa = world.patients["pa"]
    res = await client.patch(
        f"{API}/patients/{pa.id}",
        headers=world.auth("nina"),
        json={"name": "新名字", "phone": "13800001111", "address": "新地址"},
    )
    assert res.status_code == 200, res.text
    assert res.json()["name"] == "新名字"
    assert res.json()["phone_masked"] == "138****1111"
    assert res.json()["address"] == "新地址"
    cleared = await client.patch(
        f"{API}/patients/{pa.id}", headers=world.auth("nina"), json={"phone": None}
    )
    assert cleared.json()["phone_masked"] is None
    assert cleared.json()["name"] == "新名字"
    entries = await _audit(app, action="patient.update", patient_id=pa.id)
    assert [e.details for e in entries] == [
        {"fields": ["address", "name", "phone"]},
        {"fields": ["phone"]},
    ]


# --- documents -------------------------------------------------------------------------


async def test_it_adds_and_lists_a_written_summary(client: httpx.AsyncClient, world: World) -> None:
    pa = world.patients["pa"]
    res = await client.post(
        f"{API}/patients/{pa.id}/documents",
        headers=world.auth("alice"),
        json={"kind": "summary", "title": "门诊小结", "body": "血压 150/95"},
    )
    assert res.status_code == 201, res.text
    doc = res.json()
    assert (doc["kind"], doc["title"], doc["body"]) == ("summary", "门诊小结", "血压 150/95")
    assert doc["patient_id"] == pa.id
    assert doc["institution_id"] == world.inst["chc_a"].id
    assert doc["filename"] is None
    listed = await client.get(f"{API}/patients/{pa.id}/documents", headers=world.auth("alice"))
    assert [d["id"] for d in listed.json()] == [doc["id"]]
    by_authority = await client.get(f"{API}/patients/{pa.id}/documents", headers=world.auth("hana"))
    assert [d["id"] for d in by_authority.json()] == [doc["id"]]


async def test_attachments_cannot_be_posted_as_json(
    client: httpx.AsyncClient, world: World
) -> None:
    pa = world.patients["pa"]
    res = await client.post(
        f"{API}/patients/{pa.id}/documents",
        headers=world.auth("alice"),
        json={"kind": "attachment", "title": "x", "body": "y"},
    )
    assert res.status_code == 422
    assert res.json()["error"]["code"] == "document.use_upload"


async def _upload(
    client: httpx.AsyncClient,
    world: World,
    patient_id: int,
    filename: str,
    data: bytes,
    who: str = "alice",
    title: str = "",
) -> httpx.Response:
    return await client.post(
        f"{API}/patients/{patient_id}/attachments",
        headers=world.auth(who),
        data={"title": title},
        files={"file": (filename, data, "application/octet-stream")},
    )


async def test_an_uploaded_image_downloads_byte_for_byte(
    client: httpx.AsyncClient, world: World, settings: Settings
) -> None:
    pa = world.patients["pa"]
    res = await _upload(client, world, pa.id, "../../ecg.PNG", PNG, title="心电图")
    assert res.status_code == 201, res.text
    doc = res.json()
    assert doc["kind"] == "attachment"
    assert doc["title"] == "心电图"
    assert doc["filename"] == "ecg.PNG"  # no path parts survive
    assert doc["content_type"] == "image/png"
    assert doc["size_bytes"] == len(PNG)
    assert doc["sha256"] == hashlib.sha256(PNG).hexdigest()
    files = _stored_files(settings)
    assert len(files) == 1
    raw = files[0].read_bytes()  # sealed at rest: no PNG signature, no pixel bytes
    assert PNG[:16] not in raw and PNG[16:48] not in raw and len(raw) > len(PNG)
    assert settings.storage.path.resolve() in files[0].resolve().parents
    down = await client.get(
        f"{API}/patients/{pa.id}/documents/{doc['id']}/file", headers=world.auth("nina")
    )
    assert down.status_code == 200
    assert down.content == PNG
    assert down.headers["content-type"] == "image/png"
    assert down.headers["cache-control"] == "no-store"
    assert down.headers["content-disposition"].startswith("attachment;")
    assert "ecg" not in down.headers["content-disposition"]


async def test_a_pdf_upload_is_accepted(
    client: httpx.AsyncClient, world: World, settings: Settings
) -> None:
    res = await _upload(client, world, world.patients["pa"].id, "report.pdf", PDF)
    assert res.status_code == 201, res.text
    (stored,) = _stored_files(settings)
    assert PDF[:16] not in stored.read_bytes() and PDF[16:48] not in stored.read_bytes()
    assert res.json()["content_type"] == "application/pdf"
    assert res.json()["title"] == "report.pdf"


@pytest.mark.parametrize(
    ("filename", "data", "code"),
    [
        ("scan.pdf", PNG, "upload.disguised"),
        ("report.png", PDF, "upload.disguised"),
        ("notes.pdf", b"plain text pretending\n", "upload.disguised"),
        ("photo.png.exe", PNG, "upload.disguised"),
        ("photo.png", EXE, "upload.type_not_allowed"),
        ("setup.exe", EXE, "upload.type_not_allowed"),
        ("blob.png", b"\x00\x01\x02\x03" * 64, "upload.type_not_allowed"),
        ("empty.png", b"", "upload.empty"),
        ("huge.png", PNG + b"\x00" * (256 * 1024), "upload.too_large"),
    ],
)
async def test_a_refused_upload_stores_nothing(
    client: httpx.AsyncClient,
    world: World,
    app: Any,
    settings: Settings,
    filename: str,
    data: bytes,
    code: str,
) -> None:
    before = await _counts(app)
    res = await _upload(client, world, world.patients["pa"].id, filename, data)
    assert res.status_code == 422, res.text
    assert res.json()["error"]["code"] == code
    assert await _counts(app) == before
    assert _stored_files(settings) == []


async def test_the_size_limit_is_exact(
    client: httpx.AsyncClient, world: World, settings: Settings
) -> None:
    limit = settings.storage.max_upload_bytes
    exact = b"a" * limit
    ok = await _upload(client, world, world.patients["pa"].id, "big.txt", exact)
    assert ok.status_code == 201, ok.text
    over = await _upload(client, world, world.patients["pa"].id, "big.txt", exact + b"a")
    assert over.status_code == 422
    assert over.json()["error"]["details"]["max_bytes"] == limit


async def test_an_outsider_cannot_upload_or_download(
    client: httpx.AsyncClient, world: World, app: Any, settings: Settings
) -> None:
    pa = world.patients["pa"]
    up = await _upload(client, world, pa.id, "x.png", PNG)
    assert up.status_code == 201
    doc_id = up.json()["id"]
    files = _stored_files(settings)
    theirs = await _upload(client, world, pa.id, "y.png", PNG, who="mallory")
    assert theirs.status_code == 404
    assert _stored_files(settings) == files
    down = await client.get(
        f"{API}/patients/{pa.id}/documents/{doc_id}/file", headers=world.auth("mallory")
    )
    assert down.status_code == 404
    assert PNG not in down.content
    denied = await _audit(app, actor="mallory", outcome="denied")
    assert [e.patient_id for e in denied] == [pa.id, pa.id]


async def test_a_document_is_reached_only_through_its_own_patient(
    client: httpx.AsyncClient, world: World
) -> None:
    pa = world.patients["pa"]
    other = await _register(client, world, id_number=NEW_ID)
    up = await _upload(client, world, pa.id, "x.png", PNG)
    res = await client.get(
        f"{API}/patients/{other.json()['id']}/documents/{up.json()['id']}/file",
        headers=world.auth("alice"),
    )
    assert res.status_code == 404
    assert res.json()["error"]["code"] == "document.not_found"
    missing = await client.get(
        f"{API}/patients/{pa.id}/documents/999999/file", headers=world.auth("alice")
    )
    assert missing.status_code == 404


# --- consents --------------------------------------------------------------------------


async def _consent(
    client: httpx.AsyncClient, world: World, patient_id: int, who: str = "alice", **body: Any
) -> httpx.Response:
    return await client.post(
        f"{API}/patients/{patient_id}/consents", json=body, headers=world.auth(who)
    )


async def test_consent_is_granted_withdrawn_once_and_granted_again(
    client: httpx.AsyncClient, world: World
) -> None:
    pa = world.patients["pa"]
    res = await _consent(client, world, pa.id, purpose="telemedicine", note="口头同意，见证人护士")
    assert res.status_code == 201, res.text
    consent = res.json()
    assert consent["active"] is True
    assert consent["withdrawn_at"] is None
    assert consent["granted_by_id"] == world.users["alice"].id
    duplicate = await _consent(client, world, pa.id, purpose="telemedicine")
    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["code"] == "consent.duplicate"

    url = f"{API}/patients/{pa.id}/consents/{consent['id']}/withdraw"
    withdrawn = await client.post(url, headers=world.auth("nina"))
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["active"] is False
    assert withdrawn.json()["withdrawn_at"] is not None
    twice = await client.post(url, headers=world.auth("nina"))
    assert twice.status_code == 409
    assert twice.json()["error"]["code"] == "consent.already_withdrawn"

    again = await _consent(client, world, pa.id, purpose="telemedicine")
    assert again.status_code == 201
    listed = await client.get(f"{API}/patients/{pa.id}/consents", headers=world.auth("alice"))
    assert sorted((c["id"], c["active"]) for c in listed.json()) == [
        (consent["id"], False),
        (again.json()["id"], True),
    ]


async def test_sharing_consent_names_its_target(client: httpx.AsyncClient, world: World) -> None:
    pa = world.patients["pa"]
    lead = world.inst["lead"].id
    missing = await _consent(client, world, pa.id, purpose="sharing")
    assert missing.status_code == 422
    assert missing.json()["error"]["code"] == "consent.target_required"
    unknown = await _consent(client, world, pa.id, purpose="sharing", target_institution_id=999999)
    assert unknown.status_code == 422
    assert unknown.json()["error"]["code"] == "consent.bad_target"
    unexpected = await _consent(
        client, world, pa.id, purpose="recording", target_institution_id=lead
    )
    assert unexpected.status_code == 422
    assert unexpected.json()["error"]["code"] == "consent.unexpected_target"
    ok = await _consent(client, world, pa.id, purpose="sharing", target_institution_id=lead)
    assert ok.status_code == 201, ok.text
    assert ok.json()["target_institution_id"] == lead
    other = await _consent(
        client, world, pa.id, purpose="sharing", target_institution_id=world.inst["chc_b"].id
    )
    assert other.status_code == 201


async def test_a_consent_is_withdrawn_only_through_its_own_patient(
    client: httpx.AsyncClient, world: World
) -> None:
    pa = world.patients["pa"]
    other = await _register(client, world, id_number=NEW_ID)
    consent = await _consent(client, world, pa.id, purpose="recording")
    res = await client.post(
        f"{API}/patients/{other.json()['id']}/consents/{consent.json()['id']}/withdraw",
        headers=world.auth("alice"),
    )
    assert res.status_code == 404
    assert res.json()["error"]["code"] == "consent.not_found"
    outsider = await client.post(
        f"{API}/patients/{pa.id}/consents/{consent.json()['id']}/withdraw",
        headers=world.auth("mallory"),
    )
    assert outsider.status_code == 404
    listed = await client.get(f"{API}/patients/{pa.id}/consents", headers=world.auth("alice"))
    assert [c["active"] for c in listed.json()] == [True]


# --- audit of every read and write -----------------------------------------------------


async def test_every_read_and_write_leaves_an_audit_entry(
    client: httpx.AsyncClient, world: World, app: Any
) -> None:
    auth = world.auth("alice")
    alice = world.users["alice"]
    pa = world.patients["pa"].id
    calls: list[tuple[str, httpx.Response, int | None]] = []

    created = await _register(client, world, id_number=NEW_ID)
    new = created.json()["id"]
    calls.append(("patient.register", created, new))
    calls.append(("patient.read", await client.get(f"{API}/patients/{pa}", headers=auth), pa))
    calls.append(
        (
            "patient.update",
            await client.patch(f"{API}/patients/{pa}", headers=auth, json={"address": "新地址"}),
            pa,
        )
    )
    calls.append(("patient.list", await client.get(f"{API}/patients", headers=auth), None))
    calls.append(
        (
            "document.create",
            await client.post(
                f"{API}/patients/{pa}/documents",
                headers=auth,
                json={"kind": "lab_result", "title": "血常规", "body": "WBC 6.1"},
            ),
            pa,
        )
    )
    calls.append(
        ("document.list", await client.get(f"{API}/patients/{pa}/documents", headers=auth), pa)
    )
    upload = await _upload(client, world, pa, "ecg.png", PNG)
    calls.append(("document.upload", upload, pa))
    calls.append(
        (
            "document.download",
            await client.get(
                f"{API}/patients/{pa}/documents/{upload.json()['id']}/file", headers=auth
            ),
            pa,
        )
    )
    consent = await _consent(client, world, pa, purpose="telemedicine")
    calls.append(("consent.grant", consent, pa))
    calls.append(
        ("consent.list", await client.get(f"{API}/patients/{pa}/consents", headers=auth), pa)
    )
    calls.append(
        (
            "consent.withdraw",
            await client.post(
                f"{API}/patients/{pa}/consents/{consent.json()['id']}/withdraw", headers=auth
            ),
            pa,
        )
    )

    for action, res, patient_id in calls:
        assert res.status_code < 300, (action, res.text)
        entries = await _audit(app, request_id=res.headers["x-request-id"])
        assert [(e.action, e.patient_id, e.outcome) for e in entries] == [
            (action, patient_id, "success")
        ], action
        assert entries[0].actor_id == alice.id
        assert entries[0].actor == "alice"
        assert entries[0].institution_id == world.inst["chc_a"].id
        assert NEW_ID not in str(entries[0].details)

    async with _sessions(app)() as s:
        from yiyun.audit import service as audit_service

        assert (await audit_service.verify(session=s)).ok


async def test_an_outsiders_attempt_leaves_a_denied_entry(
    client: httpx.AsyncClient, world: World, app: Any
) -> None:
    pa = world.patients["pa"]
    res = await client.get(f"{API}/patients/{pa.id}", headers=world.auth("mallory"))
    assert res.status_code == 404
    entries = await _audit(app, request_id=res.headers["x-request-id"])
    assert len(entries) == 1
    entry = entries[0]
    assert (entry.action, entry.outcome, entry.patient_id) == ("patient.read", "denied", pa.id)
    assert entry.actor_id == world.users["mallory"].id
    assert entry.institution_id == world.inst["chc_b"].id
    assert entry.entity_type == "patient"
    assert entry.entity_id == str(pa.id)


# --- a failed write changes nothing ----------------------------------------------------


async def test_failed_writes_leave_the_database_as_it_was(
    client: httpx.AsyncClient, world: World, app: Any, settings: Settings
) -> None:
    pa = world.patients["pa"]
    consent = await _consent(client, world, pa.id, purpose="telemedicine")
    withdraw = f"{API}/patients/{pa.id}/consents/{consent.json()['id']}/withdraw"
    assert (await client.post(withdraw, headers=world.auth("alice"))).status_code == 200
    before = await _counts(app)
    child = resident_id.make("440305", _child_birth(), 124)

    failures = [
        (await _register(client, world, id_number=NEW_ID, record_no="R11"), 409),
        (await _register(client, world, id_number=_pa_number()), 409),
        (await _register(client, world, id_number=NEW_ID[:-1] + "Y"), 422),
        (await _register(client, world, id_number=child), 422),
        (await _register(client, world, id_number=NEW_ID, birth_on="1990-01-01"), 422),
        (await _upload(client, world, pa.id, "x.pdf", PNG), 422),
        (await _consent(client, world, pa.id, purpose="sharing"), 422),
        (await client.post(withdraw, headers=world.auth("alice")), 409),
        (
            await client.patch(
                f"{API}/patients/{pa.id}",
                headers=world.auth("alice"),
                json={"name": "半途改名", "guardian_id": pa.id},
            ),
            422,
        ),
        (
            await client.patch(
                f"{API}/patients/{pa.id}",
                headers=world.auth("alice"),
                json={"name": "半途改名", "guardian_id": 999999},
            ),
            404,
        ),
    ]
    for res, status in failures:
        assert res.status_code == status, res.text
    # Only the audit log grows: registering a known ID number is an audited attempt.
    assert await _counts(app) == before | {"AuditEvent": before["AuditEvent"] + 1}
    assert _stored_files(settings) == []
    read = await client.get(f"{API}/patients/{pa.id}", headers=world.auth("alice"))
    assert read.json()["name"] == pa.name
    assert [r["record_no"] for r in read.json()["record_numbers"]] == ["R11"]


async def test_an_update_cannot_leave_a_minor_without_a_guardian(
    client: httpx.AsyncClient, world: World
) -> None:
    pa = world.patients["pa"]
    child = await _register(
        client,
        world,
        name="小朋友",
        sex="male",
        birth_on=_child_birth().isoformat(),
        guardian_id=pa.id,
        guardian_relation="parent",
    )
    assert child.status_code == 201
    url = f"{API}/patients/{child.json()['id']}"
    res = await client.patch(url, headers=world.auth("alice"), json={"guardian_id": None})
    assert res.status_code == 422
    assert res.json()["error"]["code"] == "patient.guardian_required"
    still = await client.get(url, headers=world.auth("alice"))
    assert still.json()["guardian"]["id"] == pa.id
    # an adult may drop a guardian
    adult = await client.patch(
        f"{API}/patients/{pa.id}", headers=world.auth("alice"), json={"guardian_id": None}
    )
    assert adult.status_code == 200
