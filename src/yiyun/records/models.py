"""Patient record tables. Resident ID numbers are stored encrypted plus a keyed hash."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from yiyun.core.db import Base, IdMixin, TimestampMixin, stored_enum
from yiyun.records.enums import ConsentPurpose, DocumentKind, GuardianRelation, Sex


class Patient(IdMixin, TimestampMixin, Base):
    """Master patient index entry: one row per person across the consortium."""

    __tablename__ = "records_patient"

    mpi: Mapped[str] = mapped_column(String(20), unique=True)
    id_number_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    id_number_enc: Mapped[str | None] = mapped_column(String(200))
    id_number_masked: Mapped[str | None] = mapped_column(String(18))
    name: Mapped[str] = mapped_column(String(100))
    sex: Mapped[Sex] = mapped_column(stored_enum(Sex))
    birth_on: Mapped[date]
    phone_enc: Mapped[str | None] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(300), default="")
    home_institution_id: Mapped[int] = mapped_column(ForeignKey("org_institution.id"), index=True)
    guardian_id: Mapped[int | None] = mapped_column(ForeignKey("records_patient.id"))
    guardian_relation: Mapped[GuardianRelation | None] = mapped_column(
        stored_enum(GuardianRelation)
    )
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("org_user.id"))

    record_numbers: Mapped[list[PatientRecordNo]] = relationship(
        lazy="selectin", cascade="all, delete-orphan"
    )


class PatientRecordNo(IdMixin, Base):
    """A patient's record number (病历号) at one institution."""

    __tablename__ = "records_patient_record_no"
    __table_args__ = (
        UniqueConstraint("institution_id", "record_no"),
        UniqueConstraint("patient_id", "institution_id"),
    )

    patient_id: Mapped[int] = mapped_column(
        ForeignKey("records_patient.id", ondelete="CASCADE"), index=True
    )
    institution_id: Mapped[int] = mapped_column(ForeignKey("org_institution.id"), index=True)
    record_no: Mapped[str] = mapped_column(String(32))


class Document(IdMixin, TimestampMixin, Base):
    """A clinical document: a written summary, a lab result, or an uploaded file."""

    __tablename__ = "records_document"

    patient_id: Mapped[int] = mapped_column(ForeignKey("records_patient.id"), index=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("org_institution.id"))
    kind: Mapped[DocumentKind] = mapped_column(stored_enum(DocumentKind))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    blob_key: Mapped[str | None] = mapped_column(String(200))
    filename: Mapped[str | None] = mapped_column(String(200))
    content_type: Mapped[str | None] = mapped_column(String(100))
    size_bytes: Mapped[int | None]
    sha256: Mapped[str | None] = mapped_column(String(64))
    created_by_id: Mapped[int] = mapped_column(ForeignKey("org_user.id"))


class Consent(IdMixin, TimestampMixin, Base):
    """Informed consent for one purpose; withdrawal keeps the row and stamps it."""

    __tablename__ = "records_consent"

    patient_id: Mapped[int] = mapped_column(ForeignKey("records_patient.id"), index=True)
    purpose: Mapped[ConsentPurpose] = mapped_column(stored_enum(ConsentPurpose))
    target_institution_id: Mapped[int | None] = mapped_column(ForeignKey("org_institution.id"))
    granted_at: Mapped[datetime]
    granted_by_id: Mapped[int] = mapped_column(ForeignKey("org_user.id"))
    note: Mapped[str] = mapped_column(String(500), default="")
    withdrawn_at: Mapped[datetime | None]
    withdrawn_by_id: Mapped[int | None] = mapped_column(ForeignKey("org_user.id"))

    @property
    def active(self) -> bool:
        return self.withdrawn_at is None


class BreakGlass(IdMixin, Base):
    """Emergency access to one patient outside the normal scope: explicit, reasoned,
    time-limited and audited ("break the glass"). It grants reading only, until
    `expires_at` or until ended early."""

    __tablename__ = "records_break_glass"

    user_id: Mapped[int] = mapped_column(ForeignKey("org_user.id"), index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("records_patient.id"), index=True)
    reason: Mapped[str] = mapped_column(String(500))
    started_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
