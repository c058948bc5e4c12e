"""Referral table: one row per referral, upward (community centre → hospital) or downward
(hospital → community centre, with the discharge summary and the care plan)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from yiyun.core.db import Base, IdMixin
from yiyun.core.statemachine import state_type


class Direction(StrEnum):
    UP = "up"
    DOWN = "down"


class ReferralState(StrEnum):
    REQUESTED = "requested"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    ARRIVED = "arrived"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class Referral(IdMixin, Base):
    __tablename__ = "referral_referral"

    direction: Mapped[Direction] = mapped_column(state_type(Direction))
    patient_id: Mapped[int] = mapped_column(ForeignKey("records_patient.id"), index=True)
    from_institution_id: Mapped[int] = mapped_column(ForeignKey("org_institution.id"), index=True)
    to_institution_id: Mapped[int] = mapped_column(ForeignKey("org_institution.id"), index=True)
    to_department_id: Mapped[int | None] = mapped_column(ForeignKey("org_department.id"))
    specialty: Mapped[str] = mapped_column(String(16), default="")
    # The upward referral this downward one answers (the patient goes back).
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("referral_referral.id"))
    reason: Mapped[str] = mapped_column(String(500))
    summary: Mapped[str] = mapped_column(Text)  # clinical summary (up) or discharge summary
    care_plan: Mapped[str] = mapped_column(Text, default="")  # downward: the plan to follow
    appointment_at: Mapped[datetime | None]
    state: Mapped[ReferralState] = mapped_column(
        state_type(ReferralState), default=ReferralState.REQUESTED
    )
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("org_user.id"))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("org_user.id"))
    decision_reason: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(index=True)
    decided_at: Mapped[datetime | None]
    arrived_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
