"""Pydantic models of the consortium, next to their tables."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field, field_validator

from yiyun.core.types import (
    CodeStr,
    EmailStr,
    EntityId,
    NameStr,
    PhoneCN,
    ShortNameStr,
    UsernameStr,
)
from yiyun.org.enums import (
    InstitutionKind,
    InstitutionLevel,
    Role,
    StaffTitle,
    TerminalKind,
    TerminalStatus,
)


class _Read(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class RegionRead(_Read):
    id: int
    code: str
    name: str
    name_en: str


class InstitutionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: CodeStr
    name: NameStr
    name_en: NameStr
    kind: InstitutionKind
    level: InstitutionLevel
    region_id: EntityId
    parent_id: EntityId | None = None
    address: str = Field(default="", max_length=300)
    phone: str = Field(default="", max_length=32)


class InstitutionRead(_Read):
    id: int
    code: str
    name: str
    name_en: str
    kind: InstitutionKind
    level: InstitutionLevel
    region_id: int
    parent_id: int | None
    address: str
    phone: str
    active: bool


class DepartmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: CodeStr
    name: ShortNameStr
    name_en: ShortNameStr


class DepartmentRead(_Read):
    id: int
    institution_id: int
    code: str
    name: str
    name_en: str
    active: bool


class StaffCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: UsernameStr
    display_name: ShortNameStr
    institution_id: EntityId
    department_id: EntityId | None = None
    roles: list[Role] = Field(min_length=1, max_length=8)
    password: str = Field(
        min_length=1,
        max_length=256,
        description=(
            "at least 10 characters (the default policy), three of: lower case, upper case, "
            "digits, symbols; not a common password and not containing the username"
        ),
        json_schema_extra={"minLength": 10, "format": "password"},
    )
    title: StaffTitle | None = None
    licence_no: str | None = Field(default=None, pattern=r"^[A-Za-z0-9]{6,32}$")
    licence_valid_until: date | None = None
    specialties: list[ShortNameStr] = Field(default_factory=list, max_length=20)
    years_of_practice: int | None = Field(default=None, ge=0, le=70)
    phone: PhoneCN | None = None
    email: EmailStr | None = None

    @field_validator("username", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value


class StaffUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    display_name: ShortNameStr | None = None
    department_id: EntityId | None = None
    title: StaffTitle | None = None
    licence_no: str | None = Field(default=None, pattern=r"^[A-Za-z0-9]{6,32}$")
    licence_valid_until: date | None = None
    specialties: list[ShortNameStr] | None = Field(default=None, max_length=20)
    years_of_practice: int | None = Field(default=None, ge=0, le=70)
    email: EmailStr | None = None


class RolesUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    roles: list[Role] = Field(min_length=1, max_length=8)


class StaffRead(_Read):
    id: int
    username: str
    display_name: str
    institution_id: int
    department_id: int | None
    roles: list[Role]
    title: StaffTitle | None
    licence_no: str | None
    licence_valid_until: date | None
    licence_valid: bool
    specialties: list[str]
    years_of_practice: int | None
    email: str | None = None
    active: bool
    totp_enrolled: bool


class TerminalCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: CodeStr
    name: ShortNameStr
    kind: TerminalKind


class TerminalRead(_Read):
    id: int
    institution_id: int
    code: str
    name: str
    kind: TerminalKind
    status: TerminalStatus
    active: bool
