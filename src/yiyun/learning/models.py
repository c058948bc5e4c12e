"""Learning tables: quizzes and attempts, courses, enrolments and credit, the literature
shelf, and de-identification reviews of clinical recordings."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from yiyun.core.db import Base, IdMixin, TimestampMixin, stored_enum


class SubjectKind(StrEnum):
    LECTURE = "lecture"  # a meeting (a live lecture)
    VIDEO = "video"  # a video of the library


class Quiz(IdMixin, TimestampMixin, Base):
    """The short quiz at the end of a lecture or a video (one per subject).

    `questions` is a list of {"text", "choices": [str], "answer": [index], "multiple"}."""

    __tablename__ = "learning_quiz"
    __table_args__ = (UniqueConstraint("subject_kind", "subject_id"),)

    subject_kind: Mapped[SubjectKind] = mapped_column(stored_enum(SubjectKind, length=16))
    subject_id: Mapped[int]
    institution_id: Mapped[int] = mapped_column(ForeignKey("org_institution.id"), index=True)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("org_user.id"))
    title: Mapped[str] = mapped_column(String(200))
    pass_percent: Mapped[int] = mapped_column(Integer, default=80)
    questions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


class QuizAttempt(IdMixin, Base):
    __tablename__ = "learning_quiz_attempt"

    quiz_id: Mapped[int] = mapped_column(
        ForeignKey("learning_quiz.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("org_user.id"), index=True)
    answers: Mapped[list[list[int]]] = mapped_column(JSON, default=list)
    score_percent: Mapped[int] = mapped_column(Integer)
    passed: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime]


class Course(IdMixin, TimestampMixin, Base):
    """A set of lectures and videos that together earn continuing-education credit."""

    __tablename__ = "learning_course"

    institution_id: Mapped[int] = mapped_column(ForeignKey("org_institution.id"), index=True)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("org_user.id"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    credit_hours: Mapped[float] = mapped_column(Float, default=1.0)
    # A lecture counts as attended after this many minutes in it.
    min_minutes: Mapped[int] = mapped_column(Integer, default=30)


class CourseItem(IdMixin, Base):
    __tablename__ = "learning_course_item"
    __table_args__ = (UniqueConstraint("course_id", "kind", "ref_id"),)

    course_id: Mapped[int] = mapped_column(
        ForeignKey("learning_course.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[SubjectKind] = mapped_column(stored_enum(SubjectKind, length=16))
    ref_id: Mapped[int]
    position: Mapped[int] = mapped_column(Integer, default=0)


class Enrolment(IdMixin, Base):
    """A staff member on a course; credit is awarded once, when every item is done."""

    __tablename__ = "learning_enrolment"
    __table_args__ = (UniqueConstraint("course_id", "user_id"),)

    course_id: Mapped[int] = mapped_column(
        ForeignKey("learning_course.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("org_user.id"), index=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("org_institution.id"), index=True)
    enrolled_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]
    credit_hours: Mapped[float] = mapped_column(Float, default=0.0)
    credit_year: Mapped[int | None] = mapped_column(Integer, index=True)
    certificate_no: Mapped[str | None] = mapped_column(String(32), unique=True)


class Document(IdMixin, TimestampMixin, Base):
    """A PDF on the literature shelf (a guideline, a paper) of a course or a lecture."""

    __tablename__ = "learning_document"

    institution_id: Mapped[int] = mapped_column(ForeignKey("org_institution.id"), index=True)
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("org_user.id"))
    course_id: Mapped[int | None] = mapped_column(
        ForeignKey("learning_course.id", ondelete="CASCADE"), index=True
    )
    meeting_id: Mapped[int | None] = mapped_column(
        ForeignKey("meetings_meeting.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    search_text: Mapped[str] = mapped_column(Text, default="")
    storage_key: Mapped[str] = mapped_column(String(200))
    filename: Mapped[str] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(Integer)


class ReviewState(StrEnum):
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"


class DeidReview(IdMixin, TimestampMixin, Base):
    """A clinical meeting's recording proposed for teaching, and the reviewer's decision
    that identifiers are removed from it."""

    __tablename__ = "learning_deid_review"

    recording_id: Mapped[int] = mapped_column(
        ForeignKey("meetings_recording.id", ondelete="CASCADE"), index=True
    )
    institution_id: Mapped[int] = mapped_column(ForeignKey("org_institution.id"), index=True)
    submitted_by_id: Mapped[int] = mapped_column(ForeignKey("org_user.id"))
    state: Mapped[ReviewState] = mapped_column(
        stored_enum(ReviewState, length=16), default=ReviewState.SUBMITTED
    )
    note: Mapped[str] = mapped_column(Text, default="")  # what the submitter removed
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("org_user.id"))
    reason: Mapped[str] = mapped_column(Text, default="")
    decided_at: Mapped[datetime | None]
    video_id: Mapped[int | None] = mapped_column(ForeignKey("teaching_video.id"))
