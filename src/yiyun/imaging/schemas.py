"""Imaging request and response models."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MarkKind = Literal["arrow", "text", "length", "ellipse", "polygon"]


class InstanceRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    sop_uid: str
    sop_class_uid: str
    instance_number: int | None
    frames: int
    rows: int
    columns: int
    transfer_syntax: str


class SeriesRead(BaseModel):
    series_uid: str
    series_number: int | None
    description: str
    modality: str
    instances: list[InstanceRead]


class StudyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    study_uid: str
    patient_id: int | None
    institution_id: int
    match: str
    study_date: str
    description: str
    modalities: str
    source: str
    series_count: int = 0
    instance_count: int = 0


class StudyDetail(StudyRead):
    series: list[SeriesRead]


class MarkCreate(BaseModel):
    kind: MarkKind
    sop_uid: str = Field(min_length=1, max_length=64, pattern=r"^[0-9.]+$")
    frame: int = Field(default=1, ge=1, le=100000)
    points: list[tuple[float, float]] = Field(min_length=1, max_length=64)
    text: str = Field(default="", max_length=200)
    meeting_id: int | None = Field(default=None, gt=0)


class LinkCreate(BaseModel):
    patient_id: int = Field(gt=0)


class PullCreate(BaseModel):
    study_uid: str = Field(min_length=1, max_length=64, pattern=r"^[0-9.]+$")
    via: Literal["dicomweb", "dimse"] = "dicomweb"
    patient_id: int | None = Field(default=None, gt=0)


class ExportRead(BaseModel):
    presentation_state_uid: str
    report_uid: str | None
