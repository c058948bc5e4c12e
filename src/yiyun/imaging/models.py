"""Imaging tables: studies (linked to a patient, or waiting for reconciliation), their
instances (the DICOM files, sealed in the blob store) and the co-reading marks."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from yiyun.core.clock import now
from yiyun.core.db import Base, IdMixin


class StudyMatch:
    LINKED = "linked"  # the study's patient identifiers name this patient
    UNMATCHED = "unmatched"  # no patient, or the identifiers disagree: staff reconcile


class Study(IdMixin, Base):
    """One DICOM study held by Yiyun."""

    __tablename__ = "imaging_study"

    study_uid: Mapped[str] = mapped_column(String(64), unique=True)
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("records_patient.id"), index=True)
    # The institution that brought the study in: its staff reconcile it while unmatched.
    institution_id: Mapped[int] = mapped_column(ForeignKey("org_institution.id"), index=True)
    match: Mapped[str] = mapped_column(String(16), default=StudyMatch.UNMATCHED)
    # The patient the uploader meant, when the file's identifiers named someone else.
    proposed_patient_id: Mapped[int | None] = mapped_column(ForeignKey("records_patient.id"))
    # The file's own identifiers, encrypted (shown to reconcile, never logged).
    dicom_patient_id_enc: Mapped[str] = mapped_column(String(300), default="")
    dicom_patient_name_enc: Mapped[str] = mapped_column(String(500), default="")
    study_date: Mapped[str] = mapped_column(String(8), default="")
    description: Mapped[str] = mapped_column(String(200), default="")
    modalities: Mapped[str] = mapped_column(String(64), default="")
    accession: Mapped[str] = mapped_column(String(32), default="")
    source: Mapped[str] = mapped_column(String(16), default="upload")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("org_user.id"))
    created_at: Mapped[datetime] = mapped_column(default=now)


class Instance(IdMixin, Base):
    """One DICOM object; the file itself is in the blob store."""

    __tablename__ = "imaging_instance"

    study_id: Mapped[int] = mapped_column(
        ForeignKey("imaging_study.id", ondelete="CASCADE"), index=True
    )
    series_uid: Mapped[str] = mapped_column(String(64), index=True)
    series_number: Mapped[int | None] = mapped_column(Integer)
    series_description: Mapped[str] = mapped_column(String(200), default="")
    modality: Mapped[str] = mapped_column(String(16), default="")
    sop_uid: Mapped[str] = mapped_column(String(64), unique=True)
    sop_class_uid: Mapped[str] = mapped_column(String(64))
    instance_number: Mapped[int | None] = mapped_column(Integer)
    frames: Mapped[int] = mapped_column(Integer, default=1)
    rows: Mapped[int] = mapped_column(Integer, default=0)
    columns: Mapped[int] = mapped_column(Integer, default=0)
    transfer_syntax: Mapped[str] = mapped_column(String(64), default="")
    blob_key: Mapped[str] = mapped_column(String(200))
    size_bytes: Mapped[int] = mapped_column(Integer)
    # DICOM JSON (PS3.18 F.2) of the attributes, without bulk data: QIDO and metadata.
    meta: Mapped[str] = mapped_column(Text)


class Mark(IdMixin, Base):
    """A co-reading annotation in image coordinates, until it is saved to the PACS."""

    __tablename__ = "imaging_mark"

    study_id: Mapped[int] = mapped_column(
        ForeignKey("imaging_study.id", ondelete="CASCADE"), index=True
    )
    sop_uid: Mapped[str] = mapped_column(String(64))
    frame: Mapped[int] = mapped_column(Integer, default=1)
    kind: Mapped[str] = mapped_column(String(16))
    points: Mapped[str] = mapped_column(Text)  # JSON [[x, y], ...]
    text: Mapped[str] = mapped_column(String(200), default="")
    measurement: Mapped[str] = mapped_column(Text, default="{}")  # JSON
    author_id: Mapped[int] = mapped_column(ForeignKey("org_user.id"))
    author_name: Mapped[str] = mapped_column(String(100))
    saved: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=now)
