"""Remote clinic tables: a specialist's session, its slots, the visits booked into it,
and the prescription advice written in a visit."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from yiyun.core.db import Base, IdMixin
from yiyun.core.statemachine import state_type


class SessionState(StrEnum):
    PUBLISHED = "published"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class VisitState(StrEnum):
    BOOKED = "booked"
    CHECKED_IN = "checked_in"
    IN_VISIT = "in_visit"
    COMPLETED = "completed"
    NO_SHOW = "no_show"
    CANCELLED = "cancelled"


class PrescriptionState(StrEnum):
    DRAFT = "draft"
    SIGNED = "signed"
    WITHDRAWN = "withdrawn"


class ClinicSession(IdMixin, Base):
    """A specialist's remote clinic: a time window on one day, cut into slots."""

    __tablename__ = "clinic_session"

    institution_id: Mapped[int] = mapped_column(ForeignKey("org_institution.id"), index=True)
    specialist_id: Mapped[int] = mapped_column(ForeignKey("org_user.id"), index=True)
    # A code of the shared specialty vocabulary (诊疗科目), e.g. "03.04" cardiology.
    specialty: Mapped[str] = mapped_column(String(16), default="")
    title: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[datetime] = mapped_column(index=True)
    ends_at: Mapped[datetime]
    slot_minutes: Mapped[int]
    walk_in_capacity: Mapped[int] = mapped_column(default=0)
    state: Mapped[SessionState] = mapped_column(
        state_type(SessionState), default=SessionState.PUBLISHED
    )
    created_at: Mapped[datetime]


class ClinicSlot(IdMixin, Base):
    """One bookable time in a session; `visit_id` is set by exactly one booking."""

    __tablename__ = "clinic_slot"

    session_id: Mapped[int] = mapped_column(
        ForeignKey("clinic_session.id", ondelete="CASCADE"), index=True
    )
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    # Claimed with a conditional UPDATE (`visit_id IS NULL`): two bookings, one winner.
    # (No foreign key: the visit also points at its slot, and one direction is enough.)
    visit_id: Mapped[int | None]


class ClinicVisit(IdMixin, Base):
    """A patient of a community centre booked into a session (a slot or the walk-in queue)."""

    __tablename__ = "clinic_visit"
    __table_args__ = (Index("ix_clinic_visit_session_state", "session_id", "state"),)

    session_id: Mapped[int] = mapped_column(ForeignKey("clinic_session.id"), index=True)
    slot_id: Mapped[int | None] = mapped_column(ForeignKey("clinic_slot.id"))
    patient_id: Mapped[int] = mapped_column(ForeignKey("records_patient.id"), index=True)
    # The session's specialist, kept on the visit so the rules and the queue need no join.
    specialist_id: Mapped[int] = mapped_column(ForeignKey("org_user.id"), index=True)
    # The booking community centre, where the patient checks in.
    institution_id: Mapped[int] = mapped_column(ForeignKey("org_institution.id"), index=True)
    booked_by_id: Mapped[int] = mapped_column(ForeignKey("org_user.id"))
    consent_id: Mapped[int] = mapped_column(ForeignKey("records_consent.id"))
    reason: Mapped[str] = mapped_column(String(500), default="")
    urgent: Mapped[bool] = mapped_column(default=False)
    walk_in: Mapped[bool] = mapped_column(default=False)
    state: Mapped[VisitState] = mapped_column(state_type(VisitState), default=VisitState.BOOKED)
    booked_at: Mapped[datetime]
    expected_at: Mapped[datetime]  # the slot's time, or the session's start for walk-ins
    checked_in_at: Mapped[datetime | None]
    called_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    reminded_at: Mapped[datetime | None]
    meeting_id: Mapped[int | None] = mapped_column(ForeignKey("meetings_meeting.id"))
    note: Mapped[str] = mapped_column(Text, default="")


class Prescription(IdMixin, Base):
    """Prescription advice drafted by the specialist in a visit, then signed (never edited)."""

    __tablename__ = "clinic_prescription"

    visit_id: Mapped[int] = mapped_column(
        ForeignKey("clinic_visit.id", ondelete="CASCADE"), index=True
    )
    state: Mapped[PrescriptionState] = mapped_column(
        state_type(PrescriptionState), default=PrescriptionState.DRAFT
    )
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    advice: Mapped[str] = mapped_column(String(2000), default="")
    drafted_by_id: Mapped[int] = mapped_column(ForeignKey("org_user.id"))
    drafted_at: Mapped[datetime]
    signed_at: Mapped[datetime | None]
