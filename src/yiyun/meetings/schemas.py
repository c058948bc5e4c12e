"""Meeting API models."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from yiyun.core.types import NameStr, UsernameStr


class MeetingCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: NameStr
    invitees: list[UsernameStr] = Field(default_factory=list, max_length=200)


class InviteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    usernames: list[UsernameStr] = Field(min_length=1, max_length=200)


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
