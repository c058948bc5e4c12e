"""Operations tables: device credentials, terminal health, app/media nodes, alarms."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from yiyun.core.db import Base, IdMixin, TimestampMixin, stored_enum
from yiyun.core.statemachine import state_type


class DeviceCredential(IdMixin, TimestampMixin, Base):
    """A terminal's credential: first a one-time enrolment code (hashed), then the device
    secret it was exchanged for (hashed). Enrolling again revokes the previous one."""

    __tablename__ = "ops_device_credential"

    terminal_id: Mapped[int] = mapped_column(ForeignKey("org_terminal.id"), index=True)
    enrol_code_hash: Mapped[str | None] = mapped_column(String(64))
    enrol_expires_at: Mapped[datetime]
    secret_hash: Mapped[str | None] = mapped_column(String(64))
    enrolled_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    issued_by: Mapped[int | None] = mapped_column(ForeignKey("org_user.id"))
    # Heartbeats carry a strictly increasing sequence number: one already seen is a replay.
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)


class Component(StrEnum):
    """A device part's state as the terminal reports it."""

    OK = "ok"
    FAULT = "fault"
    ABSENT = "absent"


class TerminalHealth(Base):
    """The latest heartbeat of a terminal (one row per terminal, updated in place)."""

    __tablename__ = "ops_terminal_health"

    terminal_id: Mapped[int] = mapped_column(ForeignKey("org_terminal.id"), primary_key=True)
    seen_at: Mapped[datetime]
    version: Mapped[str] = mapped_column(String(32))
    camera: Mapped[Component] = mapped_column(stored_enum(Component, length=8))
    microphone: Mapped[Component] = mapped_column(stored_enum(Component, length=8))
    screen: Mapped[Component] = mapped_column(stored_enum(Component, length=8))
    rtt_ms: Mapped[float]
    loss_pct: Mapped[float]
    bandwidth_kbps: Mapped[float]
    heartbeats: Mapped[int] = mapped_column(BigInteger, default=0)
    node: Mapped[str] = mapped_column(String(200), default="")  # app node of the last beat


class NodeKind(StrEnum):
    APP = "app"
    JANUS = "janus"
    TURN = "turn"


class Node(Base):
    """An app node (it reports itself) or a media/TURN server (the evaluation job probes it)."""

    __tablename__ = "ops_node"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[NodeKind] = mapped_column(stored_enum(NodeKind, length=8))
    seen_at: Mapped[datetime]
    up: Mapped[bool] = mapped_column(default=True)
    disk_used_pct: Mapped[float | None]
    version: Mapped[str] = mapped_column(String(32), default="")
    figures: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class AlarmKind(StrEnum):
    TERMINAL_OFFLINE = "terminal_offline"
    CALL_MOS_LOW = "call_mos_low"
    MEDIA_NODE_DOWN = "media_node_down"
    TURN_DOWN = "turn_down"
    APP_NOT_READY = "app_not_ready"
    DISK_FULL = "disk_full"
    JOB_LATE = "job_late"


class AlarmState(StrEnum):
    RAISED = "raised"
    ACKNOWLEDGED = "acknowledged"
    CLEARED = "cleared"


class Alarm(IdMixin, Base):
    """One fault from raise to clear. While it is not cleared `open_key` ("kind:source")
    is set and unique, so a fault still present raises no second alarm."""

    __tablename__ = "ops_alarm"
    __table_args__ = (Index("ix_ops_alarm_state_raised", "state", "raised_at"),)

    kind: Mapped[AlarmKind] = mapped_column(stored_enum(AlarmKind, length=24))
    source: Mapped[str] = mapped_column(String(200))
    open_key: Mapped[str | None] = mapped_column(String(230), unique=True)
    institution_id: Mapped[int | None] = mapped_column(ForeignKey("org_institution.id"), index=True)
    severity: Mapped[str] = mapped_column(String(8))
    state: Mapped[AlarmState] = mapped_column(state_type(AlarmState), default=AlarmState.RAISED)
    raised_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    occurrences: Mapped[int] = mapped_column(default=1)
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[int | None] = mapped_column(ForeignKey("org_user.id"))
    cleared_at: Mapped[datetime | None]
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
