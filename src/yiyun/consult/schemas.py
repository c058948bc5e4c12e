"""Consultation API models: requests, assignment, answers, opinions, reads."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from yiyun.consult.models import ConsultKind, Urgency
from yiyun.core.types import EntityId
from yiyun.org.enums import StaffTitle

_TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"  # multi-line text: no other control chars
Reason = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=2, max_length=500, pattern=_TEXT)
]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500, pattern=_TEXT)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=8000, pattern=_TEXT)]
SpecialtyCode = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=16)
]


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("give the time with its time zone")
    return value


class ConsultCreate(BaseModel):
    """A request; `submit` sends it to the telemedicine centre at once (needs consent)."""

    model_config = ConfigDict(extra="forbid")
    patient_id: EntityId
    kind: ConsultKind = ConsultKind.SINGLE
    urgency: Urgency = Urgency.ROUTINE
    reason: Reason
    purpose: ShortText = ""
    summary: LongText = ""
    specialty: SpecialtyCode
    # A hospital department invited directly: its specialists may accept the request.
    department_id: EntityId | None = None
    min_title: StaffTitle | None = None
    document_ids: list[EntityId] = Field(default_factory=list, max_length=30)
    submit: bool = True


class Assign(BaseModel):
    model_config = ConfigDict(extra="forbid")
    expert_ids: list[EntityId] = Field(min_length=1, max_length=8)
    starts_at: datetime
    duration_minutes: int = Field(default=30, ge=10, le=240)

    _check_start = field_validator("starts_at")(_aware)


class Take(BaseModel):
    """The invited department's specialist accepts directly, at a time of their calendar
    (with a zone, or Asia/Shanghai wall-clock time)."""

    model_config = ConfigDict(extra="forbid")
    starts_at: datetime
    duration_minutes: int = Field(default=30, ge=10, le=240)


class AvailabilityCreate(BaseModel):
    """A window of a specialist's calendar (with a zone, or Asia/Shanghai wall-clock)."""

    model_config = ConfigDict(extra="forbid")
    starts_at: datetime
    ends_at: datetime


class AvailabilityRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    expert_id: int
    starts_at: datetime
    ends_at: datetime


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    accept: bool
    reason: ShortText = ""


class StepUp(BaseModel):
    """A fresh TOTP code for acts that need recent strong authentication."""

    model_config = ConfigDict(extra="forbid")
    totp_code: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\d{6}$")]


class Diagnosis(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10)]
    name: str = ""  # filled from the ICD-10 list


class OpinionDraft(BaseModel):
    model_config = ConfigDict(extra="forbid")
    findings: LongText = ""
    diagnoses: list[Diagnosis] = Field(default_factory=list, max_length=10)
    recommendations: LongText = ""
    follow_up: LongText = ""


class Amend(OpinionDraft):
    amend_reason: Reason


class Decide(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=2, max_length=4000, pattern=_TEXT)
    ]


class Cancel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Reason


class ExpertRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    expert_id: int
    institution_id: int
    answer: str
    starts_at: datetime
    ends_at: datetime
    answered_at: datetime | None
    answer_reason: str


class OpinionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    version: int
    supersedes_id: int | None
    author_id: int
    findings: str
    diagnoses: list[dict[str, str]]
    recommendations: str
    follow_up: str
    amend_reason: str
    signed_at: datetime | None
    sha256: str | None
    document_ids: list[int]


class ConsultRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    state: str
    kind: str
    urgency: str
    patient_id: int
    institution_id: int
    requester_id: int
    reason: str
    purpose: str
    specialty: str
    department_id: int | None = None
    min_title: str | None
    document_ids: list[int]
    consent_id: int | None
    created_at: datetime
    submitted_at: datetime | None
    due_at: datetime | None
    scheduled_at: datetime | None
    duration_minutes: int
    meeting_id: int | None
    reported_at: datetime | None
    closed_at: datetime | None
    cancelled_at: datetime | None


class ConsultDetail(ConsultRead):
    summary: str
    decision: str
    allowed: list[str]
    experts: list[ExpertRead]
    opinions: list[OpinionRead]


class CandidateRead(BaseModel):
    user_id: int
    display_name: str
    institution_id: int
    title: str | None
    specialties: list[str]
    eligible: bool
    refusal: str | None
    busy: bool


class WorklistRead(BaseModel):
    counts: dict[str, int]
    items: list[ConsultRead]
    total: int
