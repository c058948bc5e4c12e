"""What the teaching API takes and returns."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from yiyun.core.types import NameStr, UsernameStr
from yiyun.meetings.schemas import Description
from yiyun.teaching.models import VideoState


class VideoMeta(BaseModel):
    """The describing fields of an upload (the file comes beside them)."""

    model_config = ConfigDict(str_strip_whitespace=True)

    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=5000)
    specialty: str = Field(default="", max_length=64)
    tags: list[str] = Field(default_factory=list, max_length=20)


class VideoRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    institution_id: int
    uploaded_by_id: int
    title: str
    description: str
    specialty: str
    tags: list[str]
    state: VideoState
    progress: float
    duration_s: float | None
    width: int | None
    height: int | None
    attempts: int
    error: str | None
    created_at: datetime
    playlist_url: str | None = None
    thumbnail_url: str | None = None


class WatchUpdate(BaseModel):
    """Where the player is, and the spans it has played since the last report (seconds
    from the start; the browser's `video.played` ranges)."""

    position_s: float = Field(ge=0, le=24 * 3600)
    played: list[tuple[float, float]] = Field(default_factory=list, max_length=200)

    @field_validator("played")
    @classmethod
    def _ordered(cls, spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
        for start, end in spans:
            if not 0 <= start <= end <= 24 * 3600:
                raise ValueError("each played span must run forwards from 0")
        return spans


class WatchRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    video_id: int
    position_s: float
    watched_s: float
    completed_at: datetime | None


class LectureCreate(BaseModel):
    """A live lecture: when, who presents, who speaks, who is invited to watch."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    # The lecture's meeting is created from these: the same constraints as a meeting's
    # (title, description, at most 200 invitees in all; the audience may also be "all
    # staff", `open_to_staff`).
    title: NameStr
    description: Description = ""
    starts_at: datetime | None = None
    duration_minutes: int = Field(default=60, ge=5, le=720)
    presenters: list[UsernameStr] = Field(default_factory=list, max_length=20)
    panelists: list[UsernameStr] = Field(default_factory=list, max_length=50)
    audience: list[UsernameStr] = Field(default_factory=list, max_length=130)
    open_to_staff: bool = True
    webrtc_audience_limit: int | None = Field(default=None, ge=0, le=100_000)


class LectureRead(BaseModel):
    id: int
    meeting_id: int
    title: str
    description: str
    state: str
    starts_at: datetime | None
    role: str
    open_to_staff: bool
    webrtc_audience_limit: int
    page_url: str


class DeckRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    filename: str
    state: str
    pages: int
    error: str | None


class LectureJoin(BaseModel):
    """How to receive the lecture: a room token for WebRTC, or the live HLS playlist."""

    delivery: str
    role: str
    token: str | None = None
    hls_url: str | None = None
    slide: dict[str, Any] | None = None
