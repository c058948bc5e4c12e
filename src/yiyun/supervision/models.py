"""Supervision tables: a sample the authority drew, and one review row per sampled case.

The rule checks keep no table: they read the workflow tables as they are (see `rules`).
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from yiyun.core.db import Base, IdMixin, stored_enum


class CaseKind(StrEnum):
    """What a sample is drawn from: closed consultations or completed clinic visits."""

    CONSULT = "consult"
    VISIT = "visit"


class Verdict(StrEnum):
    """A reviewer's verdict on one sampled case (抽查结论)."""

    COMPLIANT = "compliant"
    MINOR = "minor"  # minor deficiencies: to be corrected
    MAJOR = "major"  # non-compliant: to be rectified and reported


class Sample(IdMixin, Base):
    """A random sample of closed cases of one institution in a period (抽查批次)."""

    __tablename__ = "supervision_sample"

    kind: Mapped[CaseKind] = mapped_column(stored_enum(CaseKind))
    institution_id: Mapped[int] = mapped_column(ForeignKey("org_institution.id"), index=True)
    first_day: Mapped[date]
    last_day: Mapped[date]
    size: Mapped[int]
    population: Mapped[int]  # how many closed cases the sample was drawn from
    seed: Mapped[int]
    drawn_by_id: Mapped[int] = mapped_column(ForeignKey("org_user.id"))
    drawn_at: Mapped[datetime]


class Review(IdMixin, Base):
    """One sampled case and, once the reviewer has scored it, the verdict and comment."""

    __tablename__ = "supervision_review"
    __table_args__ = (UniqueConstraint("sample_id", "case_id"),)

    sample_id: Mapped[int] = mapped_column(
        ForeignKey("supervision_sample.id", ondelete="CASCADE"), index=True
    )
    case_id: Mapped[int]
    case_closed_at: Mapped[datetime]
    verdict: Mapped[Verdict | None] = mapped_column(stored_enum(Verdict))
    score: Mapped[int | None]  # 0..100 against the checklist
    comment: Mapped[str] = mapped_column(String(1000), default="")
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("org_user.id"))
    reviewed_at: Mapped[datetime | None]
