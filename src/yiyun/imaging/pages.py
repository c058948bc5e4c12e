"""Imaging pages: the study list with upload, the viewer, and reconciliation of studies
whose patient identifiers matched no one."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from yiyun.auth import policy
from yiyun.auth.policy import CLINICAL, Action
from yiyun.imaging import dicom, service
from yiyun.imaging.api import detail, study_reads
from yiyun.records import access as records_access
from yiyun.records.models import Patient
from yiyun.web.deps import AppSettings, DbSession, PatientCtx, Store
from yiyun.web.pagekit import page, see_other
from yiyun.web.params import Id

router = APIRouter()


@router.get("/imaging", response_class=HTMLResponse)
async def studies(
    request: Request,
    session: DbSession,
    ctx: PatientCtx,
    patient_id: Annotated[int | None, Query(gt=0, le=2**31 - 1)] = None,
    meeting: Annotated[int | None, Query(gt=0, le=2**31 - 1)] = None,
) -> Response:
    patient = None
    if patient_id is not None:
        patient = await records_access.load_patient(session=session, ctx=ctx, patient_id=patient_id)
        await records_access.record(session, ctx, "imaging.study.list", patient)
    rows = await service.list_studies(session=session, ctx=ctx, patient_id=patient_id)
    names = {
        p.id: p.name
        for p in (
            await session.scalars(
                records_access.visible_query(ctx.principal).where(
                    Patient.id.in_([s.patient_id for s in rows if s.patient_id])
                )
            )
        ).all()
    }
    can_upload = policy.allows(ctx.principal, Action.WRITE_PATIENT, policy.own(ctx.principal))
    return page(
        request,
        ctx.principal,
        "imaging/studies.html",
        {
            "studies": await study_reads(session, rows),
            "names": names,
            "patient": patient,
            "can_upload": can_upload,
            "meeting_id": meeting,
        },
    )


@router.post("/imaging/upload")
async def upload(
    session: DbSession,
    ctx: PatientCtx,
    store: Store,
    settings: AppSettings,
    file: Annotated[UploadFile, File()],
    patient_id: Annotated[int | None, Form(gt=0, le=2**31 - 1)] = None,
) -> Response:
    limit = settings.imaging.max_upload_bytes
    data = await file.read(limit + 1)
    files = service.unpack(
        file.filename or "upload",
        data,
        max_bytes=limit,
        max_files=settings.imaging.max_files_per_zip,
    )
    done = await service.ingest_many(
        session=session, ctx=ctx, store=store, files=files, patient_id=patient_id
    )
    if any(d.study.patient_id is None for d in done):
        return see_other("/imaging/unmatched?done=imaged")
    suffix = f"&patient_id={patient_id}" if patient_id else ""
    return see_other(f"/imaging?done=imaged{suffix}")


@router.get("/imaging/studies/{study_id}", response_class=HTMLResponse)
async def viewer(
    request: Request,
    study_id: Id,
    session: DbSession,
    ctx: PatientCtx,
    meeting: Annotated[int | None, Query(gt=0, le=2**31 - 1)] = None,
) -> Response:
    study, patient = await service.load_study(session=session, ctx=ctx, study_id=study_id)
    info = await detail(session, study)
    images = [s for s in info.series if any(i.rows > 0 for i in s.instances)]
    return page(
        request,
        ctx.principal,
        "imaging/viewer.html",
        {
            "study": info,
            "patient": patient,
            "series": images,
            "series_json": json.dumps(
                [
                    {
                        "series_uid": s.series_uid,
                        "instances": [
                            {
                                "sop_uid": i.sop_uid,
                                "frames": i.frames,
                                "rows": i.rows,
                                "columns": i.columns,
                            }
                            for i in s.instances
                            if i.rows > 0
                        ],
                    }
                    for s in images
                ]
            ),
            "presets": dicom.PRESETS,
            "meeting_id": meeting,
            "can_mark": ctx.principal.has(*CLINICAL),
            "pacs": request.app.state.settings.imaging.pacs_url is not None,
        },
    )


@router.get("/imaging/unmatched", response_class=HTMLResponse)
async def unmatched(request: Request, session: DbSession, ctx: PatientCtx) -> Response:
    rows = await service.unmatched(session=session, ctx=ctx)
    identities = {s.id: service.dicom_identity(ctx, s) for s in rows}
    await_reads = await study_reads(session, rows)
    for s in rows:
        await service.audit_study(session, ctx, "imaging.study.read", s)
    return page(
        request,
        ctx.principal,
        "imaging/unmatched.html",
        {"studies": await_reads, "identities": identities},
    )


@router.post("/imaging/studies/{study_id}/link")
async def link(
    study_id: Id,
    session: DbSession,
    ctx: PatientCtx,
    number: Annotated[str, Form(min_length=1, max_length=32)],
) -> Response:
    """Link by the patient's MPI or record number at the caller's institution."""
    await service.linkable(session=session, ctx=ctx, study_id=study_id)
    patient = await service.patient_by_number(session=session, ctx=ctx, number=number.strip())
    await service.link(session=session, ctx=ctx, study_id=study_id, patient_id=patient.id)
    return see_other("/imaging/unmatched?done=linked")
