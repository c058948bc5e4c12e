"""Meeting API models."""

from __future__ import annotations

from datetime import datetime

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
