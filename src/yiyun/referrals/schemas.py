"""Referral API models."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints, field_validator

from yiyun.core.types import EntityId

_TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
Reason = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500, pattern=_TEXT)
]
LongText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=8000, pattern=_TEXT)
]
Specialty = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z.\-]{0,16}$")]


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("the time needs a time zone offset, e.g. 2026-12-01T14:00:00+08:00")
    if not 2000 <= value.year <= 2100:
        raise ValueError("the time is out of range")
    return value


class ReferralUp(BaseModel):
    """Upward: to a hospital department, with the clinical summary and an appointment."""

    model_config = ConfigDict(extra="forbid")
    patient_id: EntityId
    to_institution_id: EntityId
    to_department_id: EntityId | None = None
    specialty: Specialty = ""
    reason: Reason
    summary: LongText
    appointment_at: datetime

    _check = field_validator("appointment_at")(_aware)


class ReferralDown(BaseModel):
    """Downward: back to a community centre with the discharge summary and a care plan."""

    model_config = ConfigDict(extra="forbid")
    patient_id: EntityId
    to_institution_id: EntityId
    parent_id: EntityId | None = None
    reason: Reason
    summary: LongText
    care_plan: LongText
    appointment_at: datetime | None = None

    _check = field_validator("appointment_at")(_aware)


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = ""
    appointment_at: datetime | None = None

    _check = field_validator("appointment_at")(_aware)


class ReferralRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    direction: str
    patient_id: int
    from_institution_id: int
    to_institution_id: int
    to_department_id: int | None
    specialty: str
    parent_id: int | None
    reason: str
    summary: str
    care_plan: str
    appointment_at: datetime | None
    state: str
    decision_reason: str
    created_at: datetime
    decided_at: datetime | None
    arrived_at: datetime | None
    completed_at: datetime | None
