"""What the operations API answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from yiyun.ops.models import AlarmKind, AlarmState, Component
from yiyun.org.enums import TerminalKind, TerminalStatus


class EnrolmentRead(BaseModel):
    terminal_id: int
    code: str  # shown once
    expires_at: datetime


class RevokedRead(BaseModel):
    terminal_id: int
    ended: int


class CredentialRead(BaseModel):
    terminal_id: int
    terminal_code: str
    credential: str  # shown once


class BeatRead(BaseModel):
    status: TerminalStatus


class HealthRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    seen_at: datetime
    version: str
    camera: Component
    microphone: Component
    screen: Component
    rtt_ms: float
    loss_pct: float
    bandwidth_kbps: float
    node: str


class FleetTerminalRead(BaseModel):
    id: int
    code: str
    name: str
    kind: TerminalKind
    status: TerminalStatus
    institution_id: int
    site: str
    enrolled: bool
    pending_enrolment: bool
    health: HealthRead | None


class AlarmRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    kind: AlarmKind
    source: str
    institution_id: int | None
    severity: str
    state: AlarmState
    raised_at: datetime
    last_seen_at: datetime
    occurrences: int
    acknowledged_at: datetime | None
    cleared_at: datetime | None
    details: dict[str, Any]


class TopologyRead(BaseModel):
    nodes: list[dict[str, Any]]
    links: list[dict[str, str]]
