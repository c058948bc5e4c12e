"""Remote clinic API models."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from yiyun.core.types import EntityId, NameStr

Specialty = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z.\-]{0,16}$")]
Reason = Annotated[
    str, StringConstraints(max_length=500, pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$")
]
Note = Annotated[
    str,
    StringConstraints(
        min_length=1, max_length=8000, pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
    ),
]


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("the time needs a time zone offset, e.g. 2026-12-01T14:00:00+08:00")
    if not 2000 <= value.year <= 2100:
        raise ValueError("the time is out of range")
    return value


class SessionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: NameStr
    specialty: Specialty = ""
    starts_at: datetime
    ends_at: datetime
    slot_minutes: Annotated[int, Field(ge=5, le=120)] = 15
    walk_in_capacity: Annotated[int, Field(ge=0, le=100)] = 0

    _check_starts = field_validator("starts_at", "ends_at")(_aware)


class SessionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    institution_id: int
    specialist_id: int
    specialty: str
    title: str
    starts_at: datetime
    ends_at: datetime
    slot_minutes: int
    walk_in_capacity: int
    state: str


class SlotRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    session_id: int
    starts_at: datetime
    ends_at: datetime
    free: bool


class BookingCreate(BaseModel):
    """A slot, or the walk-in queue when `slot_id` is left out."""

    model_config = ConfigDict(extra="forbid")
    patient_id: EntityId
    slot_id: EntityId | None = None
    reason: Reason = ""
    urgent: bool = False


class VisitRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    session_id: int
    slot_id: int | None
    patient_id: int
    institution_id: int
    specialist_id: int
    state: str
    urgent: bool
    walk_in: bool
    expected_at: datetime
    checked_in_at: datetime | None
    called_at: datetime | None
    finished_at: datetime | None
    meeting_id: int | None
    note: str


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: Note


class RxItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{1,16}$")]
    dose: Annotated[str, StringConstraints(min_length=1, max_length=60)]
    frequency: Annotated[str, StringConstraints(min_length=1, max_length=60)]
    days: Annotated[int, Field(ge=1, le=90)]


class PrescriptionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[RxItem] = Field(min_length=1, max_length=20)
    advice: Reason = ""


class SignIn(BaseModel):
    """A TOTP code for the step-up (optional when the session passed one within 10 minutes)."""

    model_config = ConfigDict(extra="forbid")
    code: Annotated[str, StringConstraints(pattern=r"^[0-9]{6}$")] | None = None


class PrescriptionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    visit_id: int
    state: str
    items: list[dict[str, object]]
    advice: str
    drafted_by_id: int
    drafted_at: datetime
    signed_at: datetime | None
