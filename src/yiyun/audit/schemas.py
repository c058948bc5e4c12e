"""Audit read models."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class AuditEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    seq: int
    at: datetime
    actor_id: int | None
    actor: str
    action: str
    entity_type: str | None
    entity_id: str | None
    patient_id: int | None
    institution_id: int | None
    subject_institution_ids: list[int]
    outcome: str
    ip: str | None
    request_id: str | None
    details: dict[str, Any]
    hash: str


class VerifyRead(BaseModel):
    ok: bool
    checked: int
    first_bad_seq: int | None
    reason: str | None
