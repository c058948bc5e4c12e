"""Emergency command API models."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from yiyun.core.types import EntityId, NameStr


class IncidentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: NameStr
    site_ids: list[EntityId] = Field(min_length=1, max_length=500)
    alert_id: EntityId | None = None


class ConveneAll(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: NameStr


class LogCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=4000)


class TaskCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    site_ids: list[EntityId] = Field(min_length=1, max_length=500)
    title: NameStr
    detail: str = Field(default="", max_length=4000)
    due_at: datetime | None = None


class TaskStep(BaseModel):
    model_config = ConfigDict(extra="forbid")
    result: str = Field(default="", max_length=4000)


class ResourceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    site_id: EntityId | None = None
    beds_total: int = Field(ge=0, le=100_000)
    beds_free: int = Field(ge=0, le=100_000)
    fever_clinic_capacity: int = Field(ge=0, le=100_000)
    fever_clinic_waiting: int = Field(ge=0, le=100_000)
    supplies: dict[str, Annotated[int, Field(ge=0, le=10_000_000)]] = Field(
        default_factory=dict, max_length=50
    )
    note: str = Field(default="", max_length=500)


class LogRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    at: datetime
    author_id: int | None
    kind: str
    text: str


class TaskRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    incident_id: int
    site_id: int
    title: str
    detail: str
    state: str
    due_at: datetime | None
    created_at: datetime
    acknowledged_at: datetime | None
    done_at: datetime | None
    result: str


class IncidentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    title: str
    state: str
    alert_id: int | None
    meeting_id: int | None
    site_ids: list[int]
    created_at: datetime
    closed_at: datetime | None


class IncidentDetail(IncidentRead):
    log: list[LogRead]
    tasks: list[TaskRead]


class ConvenedRead(BaseModel):
    incident_id: int
    meeting_id: int
    rung: int
    sites: int


class ResourceRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    site_id: int
    reported_at: datetime
    beds_total: int
    beds_free: int
    fever_clinic_capacity: int
    fever_clinic_waiting: int
    supplies: dict[str, Any]
    note: str
