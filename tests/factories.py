"""A small consortium with one persona per role, seeded through the real models.

alice   community doctor, CHC A            mallory community doctor, CHC B (outsider)
nina    nurse, CHC A                       ines    institution admin, CHC A
bob     specialist, lead hospital          carol   dispatcher, lead hospital
otto    ops engineer, lead hospital        admin   consortium admin, lead hospital
hana    health authority (read-only everywhere)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import pyotp
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.auth import passwords
from yiyun.auth import service as auth_service
from yiyun.core.crypto import FieldCipher
from yiyun.org.enums import InstitutionKind, InstitutionLevel, Role, StaffTitle, TerminalKind
from yiyun.org.models import Department, Institution, Region, Terminal, User, UserRole
from yiyun.records import resident_id
from yiyun.records.enums import Sex
from yiyun.records.models import Patient, PatientRecordNo
from yiyun.records.service import ID_CONTEXT
from yiyun.settings import SecuritySettings

PASSWORD = "Correct-Horse-42"

PERSONAS: dict[str, tuple[str, Role]] = {
    "alice": ("chc_a", Role.COMMUNITY_DOCTOR),
    "nina": ("chc_a", Role.NURSE),
    "ines": ("chc_a", Role.INSTITUTION_ADMIN),
    "mallory": ("chc_b", Role.COMMUNITY_DOCTOR),
    "bob": ("lead", Role.SPECIALIST),
    "carol": ("lead", Role.DISPATCHER),
    "otto": ("lead", Role.OPS_ENGINEER),
    "admin": ("lead", Role.CONSORTIUM_ADMIN),
    "hana": ("authority", Role.AUTHORITY),
}


@dataclass
class World:
    region: Region
    inst: dict[str, Institution] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    totp: dict[str, str] = field(default_factory=dict)
    patients: dict[str, Patient] = field(default_factory=dict)
    departments: dict[str, Department] = field(default_factory=dict)

    def auth(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}

    def code(self, name: str) -> str:
        return pyotp.TOTP(self.totp[name]).now()


async def seed_world(session: AsyncSession, cfg: SecuritySettings, cipher: FieldCipher) -> World:
    region = Region(code="440300", name="示例区", name_en="Example District")
    session.add(region)
    await session.flush()
    world = World(region=region)
    specs = {
        "authority": (
            "AUTH",
            "示例区卫生健康局",
            "Example District Health Bureau",
            InstitutionKind.HEALTH_AUTHORITY,
            InstitutionLevel.UNGRADED,
        ),
        "lead": (
            "LEAD",
            "示例区人民医院",
            "Example District People's Hospital",
            InstitutionKind.LEAD_HOSPITAL,
            InstitutionLevel.TERTIARY_A,
        ),
        "chc_a": (
            "CHC-A",
            "甲社区健康服务中心",
            "CHC A",
            InstitutionKind.COMMUNITY_HEALTH_CENTRE,
            InstitutionLevel.PRIMARY,
        ),
        "chc_b": (
            "CHC-B",
            "乙社区健康服务中心",
            "CHC B",
            InstitutionKind.COMMUNITY_HEALTH_CENTRE,
            InstitutionLevel.PRIMARY,
        ),
    }
    positions = {
        "authority": (0.5, 0.1),
        "lead": (0.5, 0.5),
        "chc_a": (0.25, 0.7),
        "chc_b": (0.75, 0.7),
    }
    for key, (code, name, name_en, kind, level) in specs.items():
        x, y = positions[key]
        inst = Institution(
            code=code,
            name=name,
            name_en=name_en,
            kind=kind,
            level=level,
            region_id=region.id,
            map_x=x,
            map_y=y,
        )
        session.add(inst)
        world.inst[key] = inst
    await session.flush()
    for key in ("chc_a", "chc_b"):
        world.inst[key].parent_id = world.inst["lead"].id
    world.departments["gp"] = Department(
        institution_id=world.inst["chc_a"].id, code="GP", name="全科", name_en="General practice"
    )
    world.departments["cardio"] = Department(
        institution_id=world.inst["lead"].id, code="CARD", name="心内科", name_en="Cardiology"
    )
    session.add_all(world.departments.values())
    session.add(
        Terminal(
            institution_id=world.inst["chc_a"].id,
            code="T-CHCA-1",
            name="会诊室终端",
            kind=TerminalKind.ROOM_SYSTEM,
        )
    )
    pw_hash = passwords.hash_password(PASSWORD)
    for name, (inst_key, role) in PERSONAS.items():
        user = User(
            username=name,
            display_name=name.title(),
            institution_id=world.inst[inst_key].id,
            password_hash=pw_hash,
            title=StaffTitle.ATTENDING_PHYSICIAN
            if role in (Role.COMMUNITY_DOCTOR, Role.SPECIALIST)
            else None,
            licence_no=f"LIC{name.upper()}01"
            if role in (Role.COMMUNITY_DOCTOR, Role.SPECIALIST)
            else None,
            licence_valid_until=date(2030, 12, 31),
            roles=[UserRole(role=role)],
        )
        session.add(user)
        world.users[name] = user
    await session.flush()
    for name, user in world.users.items():
        secret_b32 = pyotp.random_base32()
        await auth_service.enrol_with_secret(
            session=session, cfg=cfg, user=user, secret_b32=secret_b32
        )
        world.totp[name] = secret_b32
        issued = await auth_service.create_api_token(session=session, username=name, name="test")
        world.tokens[name] = issued.token
    for key, inst_key, seq in (("pa", "chc_a", 11), ("pb", "chc_b", 12)):
        number = resident_id.make("440305", date(1970, 1, seq), 100 + seq)
        parsed = resident_id.parse(number)
        patient = Patient(
            mpi=f"PTEST{seq}",
            name=f"测试患者{key.upper()}",
            sex=Sex(parsed.sex),
            birth_on=parsed.birth_on,
            home_institution_id=world.inst[inst_key].id,
            id_number_hash=cipher.lookup_hash(number, context=ID_CONTEXT),
            id_number_enc=cipher.encrypt(number, context=ID_CONTEXT),
            id_number_masked=parsed.masked,
            record_numbers=[
                PatientRecordNo(institution_id=world.inst[inst_key].id, record_no=f"R{seq}")
            ],
        )
        session.add(patient)
        world.patients[key] = patient
    await session.flush()
    return world
