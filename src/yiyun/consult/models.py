"""Remote consultation tables (远程会诊): the request, its experts, opinions, signing keys."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from yiyun.core.db import Base, IdMixin, stored_enum
from yiyun.core.statemachine import state_type
from yiyun.org.enums import StaffTitle


class ConsultState(StrEnum):
    DRAFT = "draft"
    REQUESTED = "requested"
    ASSIGNED = "assigned"
    ACCEPTED = "accepted"
    IN_SESSION = "in_session"
    REPORTED = "reported"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class Urgency(StrEnum):
    EMERGENCY = "emergency"
    URGENT = "urgent"
    ROUTINE = "routine"


class ConsultKind(StrEnum):
    SINGLE = "single"  # one expert
    MDT = "mdt"  # multidisciplinary: several experts, all must accept


class Answer(StrEnum):
    """An invited expert's answer (a row of `ConsultExpert`, not a workflow state)."""

    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"  # a single-expert request another candidate accepted first


class Consult(IdMixin, Base):
    """A consultation request from a doctor of the inviting institution about one patient."""

    __tablename__ = "consult_consult"
    __table_args__ = (Index("ix_consult_consult_state_due", "state", "due_at"),)
    __allow_unmapped__ = True

    # Loaded by the service with the experts (not columns): who the workflow rules see.
    expert_ids: frozenset[int] = frozenset()
    accepted_ids: frozenset[int] = frozenset()
    # The invited department's specialists (who may accept the request directly).
    department_staff_ids: frozenset[int] = frozenset()

    state: Mapped[ConsultState] = mapped_column(
        state_type(ConsultState), default=ConsultState.DRAFT
    )
    kind: Mapped[ConsultKind] = mapped_column(stored_enum(ConsultKind), default=ConsultKind.SINGLE)
    urgency: Mapped[Urgency] = mapped_column(stored_enum(Urgency), default=Urgency.ROUTINE)
    patient_id: Mapped[int] = mapped_column(ForeignKey("records_patient.id"), index=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("org_institution.id"), index=True)
    requester_id: Mapped[int] = mapped_column(ForeignKey("org_user.id"), index=True)
    reason: Mapped[str] = mapped_column(String(500))
    purpose: Mapped[str] = mapped_column(String(500), default="")
    summary: Mapped[str] = mapped_column(Text, default="")
    specialty: Mapped[str] = mapped_column(String(16))
    # The invited department (optional): its specialists may accept the request directly.
    department_id: Mapped[int | None] = mapped_column(ForeignKey("org_department.id"))
    min_title: Mapped[StaffTitle | None] = mapped_column(stored_enum(StaffTitle))
    document_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    consent_id: Mapped[int | None] = mapped_column(ForeignKey("records_consent.id"))
    created_at: Mapped[datetime]
    submitted_at: Mapped[datetime | None]
    # The SLA of the current stage (answer to the request); reminder and escalation stamps.
    due_at: Mapped[datetime | None]
    reminded_at: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]
    dispatcher_id: Mapped[int | None] = mapped_column(ForeignKey("org_user.id"))
    scheduled_at: Mapped[datetime | None]
    duration_minutes: Mapped[int] = mapped_column(default=30)
    # The single-expert request's accepting expert: set by a conditional UPDATE (one wins).
    accepted_by_id: Mapped[int | None] = mapped_column(ForeignKey("org_user.id"))
    meeting_id: Mapped[int | None] = mapped_column(ForeignKey("meetings_meeting.id"))
    started_at: Mapped[datetime | None]
    reported_at: Mapped[datetime | None]
    decision: Mapped[str] = mapped_column(Text, default="")
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("org_user.id"))
    closed_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    cancel_reason: Mapped[str] = mapped_column(String(500), default="")


class ConsultExpert(IdMixin, Base):
    """An expert the dispatcher assigned, with their answer and the booked time."""

    __tablename__ = "consult_expert"
    __table_args__ = (
        UniqueConstraint("consult_id", "expert_id"),
        Index("ix_consult_expert_expert_time", "expert_id", "starts_at"),
    )

    consult_id: Mapped[int] = mapped_column(
        ForeignKey("consult_consult.id", ondelete="CASCADE"), index=True
    )
    expert_id: Mapped[int] = mapped_column(ForeignKey("org_user.id"))
    institution_id: Mapped[int] = mapped_column(ForeignKey("org_institution.id"))
    answer: Mapped[Answer] = mapped_column(stored_enum(Answer), default=Answer.PENDING)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    assigned_by_id: Mapped[int] = mapped_column(ForeignKey("org_user.id"))
    assigned_at: Mapped[datetime]
    answered_at: Mapped[datetime | None]
    answer_reason: Mapped[str] = mapped_column(String(500), default="")


class Opinion(IdMixin, Base):
    """A structured consultation opinion; once signed it is never changed. An amendment
    is a new version that names the one it replaces (`supersedes_id`)."""

    __tablename__ = "consult_opinion"
    __table_args__ = (UniqueConstraint("consult_id", "version"),)

    consult_id: Mapped[int] = mapped_column(
        ForeignKey("consult_consult.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(default=1)
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("consult_opinion.id"))
    author_id: Mapped[int] = mapped_column(ForeignKey("org_user.id"))
    findings: Mapped[str] = mapped_column(Text, default="")
    # [{"code": "I10", "name": "特发性（原发性）高血压"}, …]
    diagnoses: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    recommendations: Mapped[str] = mapped_column(Text, default="")
    follow_up: Mapped[str] = mapped_column(Text, default="")
    amend_reason: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime]
    signed_at: Mapped[datetime | None]
    pdf_key: Mapped[str | None] = mapped_column(String(200))
    sha256: Mapped[str | None] = mapped_column(String(64))
    # The two archived copies on the patient's record (inviting and expert institution).
    document_ids: Mapped[list[int]] = mapped_column(JSON, default=list)


class SigningIdentity(IdMixin, Base):
    """The consortium CA (user_id NULL) or an expert's signing key and certificate.

    The private key is stored encrypted with the field cipher (`context="signing:<id>"`).
    """

    __tablename__ = "consult_signing_identity"

    user_id: Mapped[int | None] = mapped_column(ForeignKey("org_user.id"), unique=True)
    kind: Mapped[str] = mapped_column(String(8))  # "ca" | "signer"
    subject: Mapped[str] = mapped_column(String(300))
    serial: Mapped[str] = mapped_column(String(64))
    cert_pem: Mapped[str] = mapped_column(Text)
    key_enc: Mapped[str] = mapped_column(Text)
    not_after: Mapped[datetime]
    created_at: Mapped[datetime]


class Availability(IdMixin, Base):
    """A window in which an expert can hold consultations (their calendar). A booking must
    lie inside one; an expert's windows never overlap."""

    __tablename__ = "consult_availability"
    __table_args__ = (Index("ix_consult_availability_expert_time", "expert_id", "starts_at"),)

    expert_id: Mapped[int] = mapped_column(ForeignKey("org_user.id"))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    created_at: Mapped[datetime]
