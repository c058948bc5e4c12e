"""Light consultation tables: the question, its thread and the files in it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from yiyun.core.db import Base, IdMixin
from yiyun.core.statemachine import state_type


class InquiryState(StrEnum):
    OPEN = "open"  # in the pool, nobody has it
    CLAIMED = "claimed"  # a doctor has it; a reply is owed
    ANSWERED = "answered"  # the doctor replied; the resident may ask more or close
    CLOSED = "closed"  # the resident closed (and rated) it
    WITHDRAWN = "withdrawn"  # the resident withdrew it before anyone claimed it


class Inquiry(IdMixin, Base):
    __tablename__ = "inquiry_inquiry"

    resident_id: Mapped[int] = mapped_column(ForeignKey("resident_account.id"), index=True)
    # the pool: an institution (the resident's centre or the lead hospital) and a department
    institution_id: Mapped[int] = mapped_column(ForeignKey("org_institution.id"), index=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("org_department.id"), index=True)
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("records_patient.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    state: Mapped[InquiryState] = mapped_column(state_type(InquiryState), index=True)
    claimed_by_id: Mapped[int | None] = mapped_column(ForeignKey("org_user.id"), index=True)
    claimed_at: Mapped[datetime | None]
    reply_due_at: Mapped[datetime]
    escalated_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    rating: Mapped[int | None]
    rating_comment: Mapped[str] = mapped_column(String(500), default="")
    meeting_id: Mapped[int | None] = mapped_column(ForeignKey("meetings_meeting.id"))
    guest_link_enc: Mapped[str | None] = mapped_column(String(200))
    guest_code_enc: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class InquiryMessage(IdMixin, Base):
    """One message of the thread, from the resident or a doctor (append-only)."""

    __tablename__ = "inquiry_message"

    inquiry_id: Mapped[int] = mapped_column(
        ForeignKey("inquiry_inquiry.id", ondelete="CASCADE"), index=True
    )
    from_resident: Mapped[bool]
    author_id: Mapped[int | None] = mapped_column(ForeignKey("org_user.id"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class InquiryFile(IdMixin, Base):
    """A photo or document attached to a message, stored encrypted in the blob store."""

    __tablename__ = "inquiry_file"

    inquiry_id: Mapped[int] = mapped_column(
        ForeignKey("inquiry_inquiry.id", ondelete="CASCADE"), index=True
    )
    message_id: Mapped[int] = mapped_column(
        ForeignKey("inquiry_message.id", ondelete="CASCADE"), index=True
    )
    blob_key: Mapped[str] = mapped_column(String(200))
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
