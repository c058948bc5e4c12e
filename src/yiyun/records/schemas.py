"""Pydantic models of patient records."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from yiyun.core.types import EntityId, NameStr, PhoneCN, ShortNameStr
from yiyun.records import resident_id
from yiyun.records.enums import ConsentPurpose, DocumentKind, GuardianRelation, Sex

ADULT_AGE = 18


ID_NUMBER_DOC = (
    "18-character resident ID number (GB 11643): the birth date must exist and the last "
    "character is the MOD 11-2 check character."
)


class PatientCreate(BaseModel):
    """Register a patient. With an ID number, sex and birth date come from it."""

    model_config = ConfigDict(
        extra="forbid",
        # Without an ID number, sex and birth date are required (published for clients).
        json_schema_extra={
            "anyOf": [
                {"required": ["id_number"], "properties": {"id_number": {"type": "string"}}},
                {
                    "required": ["sex", "birth_on"],
                    "properties": {
                        "sex": {"type": "string", "enum": [s.value for s in Sex]},
                        "birth_on": {"type": "string", "format": "date"},
                    },
                },
            ]
        },
    )
    name: ShortNameStr
    id_number: str | None = Field(
        default=None,
        min_length=1,
        max_length=32,
        description=ID_NUMBER_DOC,
        json_schema_extra={"pattern": resident_id.SHAPE_PATTERN, "format": resident_id.FORMAT},
    )
    sex: Sex | None = None
    birth_on: date | None = Field(
        default=None, ge=date(1900, 1, 1), description="from 1900-01-01, not in the future"
    )
    phone: PhoneCN | None = None
    address: str = Field(default="", max_length=300, pattern=r"^[^\x00-\x1f\x7f]*$")
    institution_id: EntityId | None = None
    record_no: str | None = Field(default=None, pattern=r"^[A-Za-z0-9-]{1,32}$")
    guardian_id: EntityId | None = None
    guardian_relation: GuardianRelation | None = None


class PatientUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: ShortNameStr | None = None
    phone: PhoneCN | None = None
    address: str | None = Field(default=None, max_length=300)
    guardian_id: EntityId | None = None
    guardian_relation: GuardianRelation | None = None


class RecordNoRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    institution_id: int
    record_no: str


class GuardianRead(BaseModel):
    id: int
    name: str
    relation: GuardianRelation | None


class PatientRead(BaseModel):
    id: int
    mpi: str
    name: str
    sex: Sex
    birth_on: date
    age: int
    id_number_masked: str | None
    phone_masked: str | None
    address: str
    home_institution_id: int
    record_numbers: list[RecordNoRead]
    guardian: GuardianRead | None
    minor: bool


class DocumentCreate(BaseModel):
    """A written document (summary or lab result); files go through the upload route."""

    model_config = ConfigDict(extra="forbid")
    kind: DocumentKind
    title: NameStr
    body: str = Field(min_length=1, max_length=100_000)


class DocumentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    patient_id: int
    institution_id: int
    kind: DocumentKind
    title: str
    body: str
    filename: str | None
    content_type: str | None
    size_bytes: int | None
    sha256: str | None
    created_by_id: int
    created_at: datetime


class ConsentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    purpose: ConsentPurpose
    target_institution_id: EntityId | None = None
    note: str = Field(default="", max_length=500)


class ConsentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    patient_id: int
    purpose: ConsentPurpose
    target_institution_id: int | None
    granted_at: datetime
    granted_by_id: int
    note: str
    withdrawn_at: datetime | None
    active: bool


class BreakGlassCreate(BaseModel):
    """Emergency access: why, and for how long (5 to 120 minutes)."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=10, max_length=500)
    minutes: int = Field(default=30, ge=5, le=120)


class BreakGlassRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    patient_id: int
    reason: str
    started_at: datetime
    expires_at: datetime
    ended_at: datetime | None
