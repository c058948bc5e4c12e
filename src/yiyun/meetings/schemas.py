"""Meeting API models."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from yiyun.core.types import EntityId, NameStr, PhoneCN, ShortNameStr, UsernameStr

# Free text with line breaks but no other control characters.
Description = Annotated[
    str, StringConstraints(max_length=4000, pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$")
]
# A meeting passcode guests type in: 4-16 letters and digits (stored as an argon2 hash).
Passcode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]{4,16}$")]
Duration = Annotated[int, Field(ge=5, le=720, description="minutes")]
StaffRole = Literal["participant", "observer"]


def _aware(value: datetime | None) -> datetime | None:
    """A start time must say its offset (pages send Asia/Shanghai wall-clock times as +08:00)."""
    if value is None:
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("starts_at needs a time zone offset, e.g. 2026-12-01T14:00:00+08:00")
    if not 2000 <= value.year <= 2100:
        raise ValueError("starts_at is out of range")
    return value


class Subject(BaseModel):
    """What a meeting is for: a domain's record, e.g. `emergency.incident` 7."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    type: Annotated[str, StringConstraints(pattern=r"^[a-z]+(\.[a-z_]+)*$", max_length=32)]
    id: EntityId


class MeetingCreate(BaseModel):
    """An instant meeting, or a scheduled one when `starts_at` is given."""

    model_config = ConfigDict(extra="forbid")
    title: NameStr
    invitees: list[UsernameStr] = Field(default_factory=list, max_length=200)
    observers: list[UsernameStr] = Field(default_factory=list, max_length=200)
    starts_at: datetime | None = None
    duration_minutes: Duration = 60
    description: Description = ""
    patient_id: EntityId | None = None
    waiting_room: bool = True
    passcode: Passcode | None = None
    allow_unmute: bool = True

    _check_start = field_validator("starts_at")(_aware)


class MeetingUpdate(BaseModel):
    """Only the fields sent change; `passcode: null` and `patient_id: null` clear them."""

    model_config = ConfigDict(extra="forbid")
    title: NameStr | None = None
    description: Description | None = None
    starts_at: datetime | None = None
    duration_minutes: Duration | None = None
    patient_id: EntityId | None = None
    waiting_room: bool | None = None
    passcode: Passcode | None = None
    allow_unmute: bool | None = None

    _check_start = field_validator("starts_at")(_aware)


class InviteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    usernames: list[UsernameStr] = Field(min_length=1, max_length=200)
    role: StaffRole = "participant"


class MemberRoleUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["cohost", "participant", "observer"]


class MemberRead(BaseModel):
    user_id: int
    username: str
    display_name: str
    role: str


class MeetingRead(BaseModel):
    id: int
    code: str
    title: str
    kind: str
    state: str
    host_id: int
    room_id: str
    created_at: datetime
    ended_at: datetime | None
    members: list[MemberRead]
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    duration_minutes: int = 60
    description: str = ""
    patient_id: int | None = None
    waiting_room: bool = True
    allow_unmute: bool = True
    has_passcode: bool = False
    subject_type: str | None = None
    subject_id: int | None = None


class JoinToken(BaseModel):
    token: str
    room_id: str
    expires_in: int
    signal_url: str
    ice_servers: list[dict[str, object]]


class LiveParticipant(BaseModel):
    participant_id: str
    display_name: str
    user_id: int | None
    kinds: list[str]


class RingResult(BaseModel):
    rung: int


class QualitySummary(BaseModel):
    """One participant's call quality over a meeting (E-model MOS from client stats)."""

    identity: str
    name: str
    samples: int
    mos_mean: float
    mos_min: float
    rtt_ms_mean: float
    loss_pct_max: float
    jitter_ms_mean: float
    first_at: datetime
    last_at: datetime


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    purpose: Literal["call", "screen"] = "call"


class FileRead(BaseModel):
    id: int
    name: str
    size: int
    content_type: str


class RecordingRead(BaseModel):
    id: int
    meeting_id: int
    state: str
    engine: str
    started_at: datetime
    ended_at: datetime | None
    included: list[str]
    excluded: list[str]
    size: int | None
    sha256: str | None
    retention: str
    tracks: list[dict[str, object]]


class GuestCreate(BaseModel):
    """A guest without an account; name and phone default from the patient record."""

    model_config = ConfigDict(extra="forbid")
    display_name: ShortNameStr | None = None
    patient_id: EntityId | None = None
    phone: PhoneCN | None = None


class GuestRead(BaseModel):
    """A guest invitation, without its secrets (the link and code are shown once)."""

    id: int
    meeting_id: int
    display_name: str | None = Field(
        description="absent for members from another institution than the meeting's"
    )
    patient_id: int | None = Field(description="for the host and co-hosts only")
    phone_masked: str | None = Field(description="for the host and co-hosts only")
    state: Literal["invited", "verified", "blocked", "revoked", "expired"]
    expires_at: datetime
    verified_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime


class GuestIssued(BaseModel):
    """The new invitation with its link and verification code: returned this once only."""

    guest: GuestRead
    link: str
    code: str
    sms_sent: bool


class RemovalRead(BaseModel):
    """Someone kept out of a meeting until the host allows them back."""

    model_config = ConfigDict(from_attributes=True)

    identity: str = Field(description="`u<user id>` or `g<guest id>`")
    name: str
    reason: Literal["removed", "denied"]
    at: datetime
