"""Demo imaging: a generated chest CT linked to the patient of the demo joint clinic
(the meeting's invited specialist reads it there), with a mark, and one study whose
Patient ID matched nobody, for the reconciliation page. Idempotent."""

from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from yiyun.auth import service as auth_service
from yiyun.core.storage import LocalStore
from yiyun.imaging import service, synthetic
from yiyun.imaging.dicom import FrameCache
from yiyun.imaging.marks import frames_of, measured
from yiyun.imaging.models import Mark, Study
from yiyun.meetings.demo import SCHEDULED_TITLE
from yiyun.meetings.models import Meeting
from yiyun.org.models import User
from yiyun.records.access import Ctx
from yiyun.records.models import Patient
from yiyun.settings import Settings, blob_keys

DESCRIPTION = "胸部 CT 平扫（示例）"
UNMATCHED = "外院胸部 CT（待匹配，示例）"


async def _has(db: AsyncSession, description: str) -> bool:
    return await db.scalar(select(Study.id).where(Study.description == description)) is not None


async def seed_imaging(factory: async_sessionmaker[AsyncSession], settings: Settings) -> int:
    """Create the demo studies that are missing; returns how many were created."""
    store = LocalStore(settings.storage.path, blob_keys(settings.security))
    cipher = auth_service.cipher(settings.security)
    created = 0
    async with factory.begin() as db:
        doctor = await db.scalar(select(User).where(User.username == "doctor"))
        meeting = await db.scalar(select(Meeting).where(Meeting.title == SCHEDULED_TITLE))
        if doctor is None or meeting is None or meeting.patient_id is None:
            return 0
        principal = auth_service.principal_of(doctor)
        ctx = Ctx(principal=principal, actor=principal.actor(), cipher=cipher)
        patient = await db.get(Patient, meeting.patient_id)
        if patient is None:
            return 0
        if not await _has(db, DESCRIPTION):
            files = synthetic.ct_series(
                patient_id=patient.mpi,
                patient_name="Demo^Patient",
                slices=16,
                description=DESCRIPTION,
            )
            done = await service.ingest_many(
                session=db, ctx=ctx, store=store, files=files, patient_id=patient.id
            )
            study, instance = done[0].study, done[len(done) // 2].instance
            frames = await frames_of(store, FrameCache(), instance)
            points = [(120.0, 200.0), (190.0, 260.0)]
            db.add(
                Mark(
                    study_id=study.id,
                    sop_uid=instance.sop_uid,
                    frame=1,
                    kind="ellipse",
                    points=json.dumps(points),
                    text="",
                    measurement=json.dumps(measured("ellipse", points, frames, 1)),
                    author_id=doctor.id,
                    author_name=doctor.display_name,
                )
            )
            created += 1
        if not await _has(db, UNMATCHED):
            files = synthetic.ct_series(
                patient_id="EXT-20261130-07",
                patient_name="Wang^Fang",
                slices=4,
                size=256,
                description=UNMATCHED,
            )
            await service.ingest_many(session=db, ctx=ctx, store=store, files=files)
            created += 1
    return created
