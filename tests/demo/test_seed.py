"""The demo consortium seed: shape, logins, residents, idempotence and the `demo` command."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from yiyun.audit import service as audit_service
from yiyun.audit.models import AuditEvent
from yiyun.auth import passwords
from yiyun.auth import service as auth_service
from yiyun.demo import data
from yiyun.demo.cli import demo
from yiyun.demo.people import demo_totp_secret
from yiyun.demo.seed import DemoSummary, seed
from yiyun.org import specialties
from yiyun.org.enums import InstitutionKind, InstitutionLevel, Role, TerminalStatus
from yiyun.org.models import Department, Institution, Region, Terminal, User, UserRole
from yiyun.records import resident_id
from yiyun.records.models import Consent, Document, Patient, PatientRecordNo
from yiyun.records.service import ID_CONTEXT, PHONE_CONTEXT, age_on
from yiyun.settings import SecuritySettings, Settings

NAMED = {login.username: login for login in data.NAMED_LOGINS}
TABLES = (Region, Institution, Department, Terminal, User, UserRole, Patient, PatientRecordNo,
          Consent, Document)  # fmt: skip


async def _seed(app: Any, settings: Settings, per_centre: int = 2) -> DemoSummary:
    return await seed(app.state.sessions, settings, patients_per_centre=per_centre)


async def _counts(app: Any) -> dict[str, int]:
    async with app.state.sessions() as s:
        return {
            t.__tablename__: int(await s.scalar(select(func.count()).select_from(t)) or 0)
            for t in TABLES
        }


async def test_it_seeds_94_care_sites_and_the_health_authority(
    app: Any, settings: Settings
) -> None:
    await _seed(app, settings)
    async with app.state.sessions() as s:
        region = await s.scalar(select(Region).where(Region.code == data.REGION_CODE))
        assert region is not None
        sites = list(await s.scalars(select(Institution).where(Institution.region_id == region.id)))
    kinds = [i.kind for i in sites]
    assert kinds.count(InstitutionKind.LEAD_HOSPITAL) == 1
    assert kinds.count(InstitutionKind.HOSPITAL) == 2
    assert kinds.count(InstitutionKind.COMMUNITY_HEALTH_CENTRE) == 91
    assert kinds.count(InstitutionKind.HEALTH_AUTHORITY) == 1
    by_id = {i.id: i for i in sites}
    lead = next(i for i in sites if i.kind is InstitutionKind.LEAD_HOSPITAL)
    assert lead.level is InstitutionLevel.TERTIARY_A
    hospitals = {i.id for i in sites if i.kind in (InstitutionKind.LEAD_HOSPITAL,
                                                   InstitutionKind.HOSPITAL)}  # fmt: skip
    for site in sites:
        assert "示例" in site.address
        assert site.map_x is not None and 0 <= site.map_x <= 1
        assert site.map_y is not None and 0 <= site.map_y <= 1
        if site.kind is InstitutionKind.COMMUNITY_HEALTH_CENTRE:
            assert site.parent_id in hospitals
            assert site.level is InstitutionLevel.PRIMARY
        if site.kind is InstitutionKind.HOSPITAL:
            assert site.level is InstitutionLevel.SECONDARY_A
    # the consortium really hangs together: every hospital has CHCs under it
    assert {by_id[i.parent_id].id for i in sites if i.parent_id} == hospitals


async def test_every_site_has_departments_terminals_and_staff(app: Any, settings: Settings) -> None:
    await _seed(app, settings)
    async with app.state.sessions() as s:
        sites = list(await s.scalars(select(Institution)))
        terminals = list(await s.scalars(select(Terminal)))
        staff = (await s.execute(select(User.institution_id, func.count()).group_by(
            User.institution_id))).all()  # fmt: skip
        lead_depts = set(await s.scalars(select(Department.name).join(
            Institution, Department.institution_id == Institution.id).where(
            Institution.kind == InstitutionKind.LEAD_HOSPITAL)))  # fmt: skip
    per_site: dict[int, int] = {}
    for t in terminals:
        per_site[t.institution_id] = per_site.get(t.institution_id, 0) + 1
        assert t.code.startswith("T-DEMO-")
    assert all(1 <= per_site.get(i.id, 0) <= 3 for i in sites)
    # Online and offline come from heartbeats (ops/simulate in the demo), never the seed.
    assert {t.status for t in terminals} == {TerminalStatus.OFFLINE}
    assert all(t.last_seen_at is None for t in terminals)
    staff_at = dict(staff)
    for site in sites:
        if site.kind is InstitutionKind.COMMUNITY_HEALTH_CENTRE:
            assert 2 <= staff_at[site.id] <= 7  # 2-4 generated plus named logins at CHC 1 and 2
    assert {"急诊科", "心血管内科", "儿科", "影像科", "检验科", "皮肤科"} <= lead_depts


async def test_every_role_has_at_least_one_user(app: Any, settings: Settings) -> None:
    await _seed(app, settings)
    async with app.state.sessions() as s:
        roles = set(await s.scalars(select(UserRole.role).distinct()))
        licences = (await s.execute(select(User.licence_no, User.licence_valid_until).where(
            User.licence_no.is_not(None)))).all()  # fmt: skip
    assert roles == set(Role)
    assert all(no is not None and no.startswith("DEMO") for no, _ in licences)
    expired = [until for _, until in licences if until is not None and until < data.ANCHOR]
    assert 0 < len(expired) < len(licences) * 0.15


async def test_staff_specialties_are_codes_of_the_national_list(
    app: Any, settings: Settings
) -> None:
    """So an administrator can edit any demo staff member through the API (which takes only
    the list's codes or names)."""
    await _seed(app, settings)
    async with app.state.sessions() as s:
        held = [c for row in await s.scalars(select(User.specialties)) for c in row or []]
    assert held, "no specialist holds a specialty"
    assert sorted({c for c in held if specialties.get(c) is None}) == []


async def test_named_logins_exist_with_the_demo_password_and_totp(
    app: Any, settings: Settings
) -> None:
    summary = await _seed(app, settings)
    assert [login.username for login in summary.logins] == list(NAMED)
    box = auth_service.cipher(settings.security)
    async with app.state.sessions() as s:
        users = {u.username: u for u in await s.scalars(select(User).where(
            User.username.in_(list(NAMED))))}  # fmt: skip
        institutions = {i.id: i for i in await s.scalars(select(Institution))}
    for login in summary.logins:
        user = users[login.username]
        assert user.role_set == {NAMED[login.username].role}
        assert institutions[user.institution_id].code == data.code_of(
            NAMED[login.username].site_key
        )
        assert user.totp_enrolled_at is not None and user.totp_secret_enc is not None
        stored = box.decrypt(user.totp_secret_enc, context=f"totp:{user.id}")
        assert stored == login.totp_secret == demo_totp_secret(settings.security, login.username)
        assert f"secret={login.totp_secret}" in login.totp_uri
        assert login.totp_uri.startswith("otpauth://totp/")
    assert passwords.verify_password(users["doctor"].password_hash, data.DEMO_PASSWORD)
    # one hash for everyone: argon2 ran once, not once per user
    assert len({u.password_hash for u in users.values()}) == 1


async def test_a_demo_login_signs_in_and_the_outsider_sees_nothing(
    app: Any, settings: Settings, client: httpx.AsyncClient
) -> None:
    summary = await _seed(app, settings)
    secrets = {login.username: login.totp_secret for login in summary.logins}

    async def token(username: str) -> str:
        res = await client.post("/api/v1/auth/token", json={
            "username": username, "password": data.DEMO_PASSWORD,
            "code": pyotp.TOTP(secrets[username]).now()})  # fmt: skip
        assert res.status_code == 200, res.text
        return str(res.json()["access_token"])

    async with app.state.sessions() as s:
        chc1 = await s.scalar(select(Institution.id).where(Institution.code == "DEMO-C001"))
        patient_id = await s.scalar(select(Patient.id).where(Patient.home_institution_id == chc1))
    doctor = {"Authorization": f"Bearer {await token('doctor')}"}
    outsider = {"Authorization": f"Bearer {await token('doctor2')}"}
    assert (await client.get(f"/api/v1/patients/{patient_id}", headers=doctor)).status_code == 200
    res = await client.get(f"/api/v1/patients/{patient_id}", headers=outsider)
    assert res.status_code == 404


async def test_resident_ids_decrypt_to_valid_numbers_that_match_the_masks(
    app: Any, settings: Settings
) -> None:
    await _seed(app, settings)
    box = auth_service.cipher(settings.security)
    async with app.state.sessions() as s:
        patients = list(await s.scalars(select(Patient)))
        numbers = (await s.execute(select(PatientRecordNo.patient_id, func.count()).group_by(
            PatientRecordNo.patient_id))).all()  # fmt: skip
    assert len(patients) == 91 * 2 + 2 * 20 + 2 * 2 * 7
    for patient in patients:
        assert patient.id_number_enc is not None
        number = box.decrypt(patient.id_number_enc, context=ID_CONTEXT)
        parsed = resident_id.parse(number)
        assert number.startswith(data.AREA_CODE)
        assert patient.id_number_masked == parsed.masked
        assert patient.id_number_hash == box.lookup_hash(number, context=ID_CONTEXT)
        assert patient.sex.value == parsed.sex and patient.birth_on == parsed.birth_on
        assert "示例" in patient.address
        if patient.phone_enc is not None:
            phone = box.decrypt(patient.phone_enc, context=PHONE_CONTEXT)
            assert phone.startswith("170") and len(phone) == 11
    assert len({p.id_number_hash for p in patients}) == len(patients)
    assert all(count >= 1 for _, count in numbers) and len(numbers) == len(patients)


async def test_minors_have_adult_guardians(app: Any, settings: Settings) -> None:
    await _seed(app, settings, per_centre=6)
    today = date.today()
    async with app.state.sessions() as s:
        patients = {p.id: p for p in await s.scalars(select(Patient))}
    minors = [p for p in patients.values() if age_on(p.birth_on, today) < 18]
    assert minors
    for minor in minors:
        assert minor.guardian_id is not None and minor.guardian_relation is not None
        guardian = patients[minor.guardian_id]
        assert age_on(guardian.birth_on, today) >= 18
        assert guardian.home_institution_id == minor.home_institution_id


async def test_consents_and_documents_are_on_file(app: Any, settings: Settings) -> None:
    await _seed(app, settings, per_centre=6)
    async with app.state.sessions() as s:
        consents = list(await s.scalars(select(Consent)))
        documents = list(await s.scalars(select(Document)))
        lead = await s.scalar(select(Institution.id).where(Institution.code == "DEMO-H01"))
    purposes = {c.purpose.value for c in consents}
    assert purposes == {"telemedicine", "recording", "sharing"}
    assert all(c.target_institution_id == lead for c in consents if c.purpose.value == "sharing")
    assert {d.kind.value for d in documents} == {"summary", "lab_result"}
    assert all("示例数据" in d.body for d in documents)


async def test_running_the_seed_twice_duplicates_nothing(app: Any, settings: Settings) -> None:
    first = await _seed(app, settings)
    before = await _counts(app)
    second = await _seed(app, settings)
    assert await _counts(app) == before
    assert sum(second.created.values()) == 0
    assert second.existing == first.created
    assert [login.totp_secret for login in second.logins] == [
        login.totp_secret for login in first.logins
    ]
    async with app.state.sessions() as s:
        runs = await s.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "demo.seed"))  # fmt: skip
        assert runs == 2
        assert (await audit_service.verify(session=s)).ok


async def test_a_bigger_run_tops_up_the_same_residents(app: Any, settings: Settings) -> None:
    await _seed(app, settings, per_centre=1)
    async with app.state.sessions() as s:
        first = dict((await s.execute(select(Patient.mpi, Patient.id_number_hash))).all())
    summary = await _seed(app, settings, per_centre=2)
    async with app.state.sessions() as s:
        after = dict((await s.execute(select(Patient.mpi, Patient.id_number_hash))).all())
    assert summary.existing["patients"] == len(first)
    assert summary.created["patients"] == len(after) - len(first) > 0
    assert {mpi: after[mpi] for mpi in first} == first
    assert summary.created["users"] == 0


@pytest.mark.slow
async def test_the_full_district_seeds_about_2500_residents(app: Any, settings: Settings) -> None:
    summary = await _seed(app, settings, per_centre=20)
    counts = await _counts(app)
    assert counts["records_patient"] == 2500 == summary.created["patients"]
    assert counts["org_institution"] == 95
    again = await _seed(app, settings, per_centre=20)
    assert await _counts(app) == counts
    assert sum(again.created.values()) == 0


def _cli_env(tmp_path: Path) -> dict[str, str]:
    return {
        "YIYUN_DATA_DIR": str(tmp_path / "var"),
        "YIYUN_DB__URL": f"sqlite+aiosqlite:///{tmp_path / 'var' / 'demo.db'}",
        "YIYUN_ENV": "demo",
    }


def test_the_demo_command_prints_the_logins_with_their_totp_secrets(tmp_path: Path) -> None:
    result = CliRunner().invoke(demo, ["--patients-per-centre", "1"], env=_cli_env(tmp_path))
    assert result.exit_code == 0, result.output
    stored = json.loads((tmp_path / "var" / "secrets.json").read_text())
    security = SecuritySettings(secret_key=stored["secret_key"])
    for username in NAMED:
        assert username in result.output
        secret_b32 = demo_totp_secret(security, username)
        assert f"otpauth://totp/Yiyun:{username}?secret={secret_b32}" in result.output
    assert data.DEMO_PASSWORD in result.output
    quiet = CliRunner().invoke(demo, ["--quiet", "--patients-per-centre", "1"],
                               env=_cli_env(tmp_path))  # fmt: skip
    assert quiet.exit_code == 0, quiet.output
    assert quiet.output.startswith("demo consortium ready: 0 items created")
    assert "otpauth" not in quiet.output


def test_the_demo_command_refuses_a_production_deployment(tmp_path: Path) -> None:
    env = _cli_env(tmp_path) | {"YIYUN_ENV": "production"}
    result = CliRunner().invoke(demo, [], env=env)
    assert result.exit_code != 0
    assert "production" in result.output
    assert not (tmp_path / "var" / "demo.db").exists()


async def test_demo_meetings_are_seeded_once_with_consent_and_quality(
    app: Any, settings: Settings
) -> None:
    from sqlalchemy import func, select

    from yiyun.meetings import quality
    from yiyun.meetings.demo import PAST_TITLE, SCHEDULED_TITLE, seed_meetings
    from yiyun.meetings.models import Meeting
    from yiyun.records.enums import ConsentPurpose
    from yiyun.records.service import has_consent

    await _seed(app, settings)
    assert await seed_meetings(app.state.sessions) == 2
    assert await seed_meetings(app.state.sessions) == 0
    async with app.state.sessions() as db:
        meetings = {m.title: m for m in (await db.scalars(select(Meeting))).all()}
        scheduled, past = meetings[SCHEDULED_TITLE], meetings[PAST_TITLE]
        assert scheduled.state == "scheduled" and scheduled.patient_id is not None
        assert await has_consent(
            session=db, patient_id=scheduled.patient_id, purpose=ConsentPurpose.RECORDING
        )
        people = await quality.summary(db, past.id)
        assert len(people) == 3 and all(p.samples == 60 for p in people)
        worst = min(people, key=lambda p: p.mos_min)
        assert worst.mos_min < 3.6 < max(p.mos_mean for p in people)
        assert await db.scalar(select(func.count()).select_from(Meeting)) == 2
