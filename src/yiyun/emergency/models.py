"""Emergency command tables."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from yiyun.core.db import Base, IdMixin
from yiyun.core.statemachine import state_type


class IncidentState(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class TaskState(StrEnum):
    SENT = "sent"
    ACKNOWLEDGED = "acknowledged"
    DONE = "done"
    CANCELLED = "cancelled"


class Incident(IdMixin, Base):
    """A public-health event being managed (often opened from a surveillance alert)."""

    __tablename__ = "emergency_incident"

    title: Mapped[str] = mapped_column(String(200))
    state: Mapped[IncidentState] = mapped_column(
        state_type(IncidentState), default=IncidentState.OPEN
    )
    alert_id: Mapped[int | None] = mapped_column(index=True)
    meeting_id: Mapped[int | None] = mapped_column(ForeignKey("meetings_meeting.id"))
    site_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("org_user.id"))
    created_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]


class LogEntry(IdMixin, Base):
    """The incident log: who noted what, when (append-only)."""

    __tablename__ = "emergency_log_entry"

    incident_id: Mapped[int] = mapped_column(
        ForeignKey("emergency_incident.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime]
    author_id: Mapped[int | None] = mapped_column(ForeignKey("org_user.id"))
    kind: Mapped[str] = mapped_column(String(24), default="note")
    text: Mapped[str] = mapped_column(Text)


class Task(IdMixin, Base):
    """A task dispatched to one site; the site acknowledges it, then reports it done."""

    __tablename__ = "emergency_task"

    incident_id: Mapped[int] = mapped_column(
        ForeignKey("emergency_incident.id", ondelete="CASCADE"), index=True
    )
    site_id: Mapped[int] = mapped_column(ForeignKey("org_institution.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    detail: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[TaskState] = mapped_column(state_type(TaskState), default=TaskState.SENT)
    due_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("org_user.id"))
    done_at: Mapped[datetime | None]
    result: Mapped[str] = mapped_column(Text, default="")


class ResourceReport(IdMixin, Base):
    """A site's capacity at a moment: beds, fever clinic, supplies."""

    __tablename__ = "emergency_resource_report"

    site_id: Mapped[int] = mapped_column(ForeignKey("org_institution.id"), index=True)
    reported_at: Mapped[datetime]
    reported_by_id: Mapped[int] = mapped_column(ForeignKey("org_user.id"))
    beds_total: Mapped[int]
    beds_free: Mapped[int]
    fever_clinic_capacity: Mapped[int]
    fever_clinic_waiting: Mapped[int]
    supplies: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    note: Mapped[str] = mapped_column(String(500), default="")
