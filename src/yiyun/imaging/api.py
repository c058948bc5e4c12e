"""Imaging JSON API (/api/v1/imaging): studies, upload, reconciliation, rendering for the
viewer, co-reading marks, saving to the PACS and pulling from it; and the viewer's
co-reading socket (/ws/imaging/{study_id})."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Path, Query, Request, UploadFile, WebSocket
from fastapi.responses import Response
from starlette.websockets import WebSocketDisconnect

from yiyun.core.errors import InvalidInput, YiyunError
from yiyun.imaging import dicom, marks, pacs, service
from yiyun.imaging.live import CLIENT_TYPES, BusCoReading, clean_viewport, room_name
from yiyun.imaging.models import Study
from yiyun.imaging.schemas import (
    ExportRead,
    InstanceRead,
    LinkCreate,
    MarkCreate,
    PullCreate,
    SeriesRead,
    StudyDetail,
    StudyRead,
)
from yiyun.org.models import Institution
from yiyun.records.access import Ctx
from yiyun.web import openapi
from yiyun.web.deps import SESSION_COOKIE, AppSettings, DbSession, PatientCtx, Store
from yiyun.web.params import Id

logger = logging.getLogger(__name__)
router = APIRouter()
ws_router = APIRouter()
Uid = Annotated[str, Path(max_length=64, pattern=r"^[0-9.]+$")]
FORMATS = {"png": "image/png", "jpeg": "image/jpeg"}


def frames_cache(request: Request) -> dicom.FrameCache:
    cache: dicom.FrameCache = request.app.state.frames
    return cache


async def study_reads(session: DbSession, studies: list[Study]) -> list[StudyRead]:
    counts = await service.counts(session, [s.id for s in studies])
    out = []
    for s in studies:
        series, instances = counts.get(s.id, (0, 0))
        read = StudyRead.model_validate(s)
        read.series_count, read.instance_count = series, instances
        out.append(read)
    return out


async def detail(session: DbSession, study: Study) -> StudyDetail:
    rows = await service.instances(session, study)
    series: dict[str, SeriesRead] = {}
    for i in rows:
        entry = series.setdefault(
            i.series_uid,
            SeriesRead(
                series_uid=i.series_uid,
                series_number=i.series_number,
                description=i.series_description,
                modality=i.modality,
                instances=[],
            ),
        )
        entry.instances.append(InstanceRead.model_validate(i))
    base = (await study_reads(session, [study]))[0]
    return StudyDetail(**base.model_dump(), series=list(series.values()))


@router.get("/imaging/studies", response_model=list[StudyRead])
async def list_studies(
    session: DbSession,
    ctx: PatientCtx,
    patient_id: Annotated[int | None, Query(gt=0, le=2**31 - 1)] = None,
) -> list[StudyRead]:
    """Studies the caller may read (of a patient, when given)."""
    if patient_id is not None:  # the patient's own access check and audit entry
        from yiyun.records import access as records_access

        patient = await records_access.load_patient(session=session, ctx=ctx, patient_id=patient_id)
        await records_access.record(session, ctx, "imaging.study.list", patient)
    rows = await service.list_studies(session=session, ctx=ctx, patient_id=patient_id)
    return await study_reads(session, rows)


@router.post("/imaging/studies", response_model=list[StudyRead], status_code=201)
async def upload(
    session: DbSession,
    ctx: PatientCtx,
    store: Store,
    settings: AppSettings,
    file: Annotated[
        UploadFile,
        File(
            description="a DICOM file or a zip of a folder of them",
            json_schema_extra={"minLength": 1},
        ),
    ],
    patient_id: Annotated[int | None, Form(gt=0, le=2**31 - 1)] = None,
) -> list[StudyRead]:
    """Upload DICOM (one file or a zip); studies are linked or wait for reconciliation."""
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
    studies = list({d.study.id: d.study for d in done}.values())
    return await study_reads(session, studies)


@router.get("/imaging/studies/{study_id}", response_model=StudyDetail)
async def read_study(study_id: Id, session: DbSession, ctx: PatientCtx) -> StudyDetail:
    study, _ = await service.load_study(session=session, ctx=ctx, study_id=study_id)
    return await detail(session, study)


@router.get("/imaging/unmatched", response_model=list[StudyRead])
async def unmatched(session: DbSession, ctx: PatientCtx) -> list[StudyRead]:
    """Studies of the caller's institution whose patient identifiers matched no one."""
    return await study_reads(session, await service.unmatched(session=session, ctx=ctx))


@router.post("/imaging/studies/{study_id}/link", response_model=StudyRead)
async def link(study_id: Id, data: LinkCreate, session: DbSession, ctx: PatientCtx) -> StudyRead:
    study = await service.link(
        session=session, ctx=ctx, study_id=study_id, patient_id=data.patient_id
    )
    return (await study_reads(session, [study]))[0]


@router.get(
    "/imaging/studies/{study_id}/instances/{sop_uid}/render",
    response_class=Response,
    responses={200: {"content": {"image/png": {}, "image/jpeg": {}}}},
)
async def render(
    request: Request,
    study_id: Id,
    sop_uid: Uid,
    session: DbSession,
    ctx: PatientCtx,
    store: Store,
    frame: Annotated[int, Query(ge=1, le=100000)] = 1,
    window: Annotated[str | None, Query(max_length=40)] = None,
    format: Annotated[str, Query(pattern="^(png|jpeg)$")] = "png",
) -> Response:
    """One frame rendered with a window (preset name or centre,width), PNG or JPEG."""
    study, _ = await service.load_study(
        session=session, ctx=ctx, study_id=study_id, audit_as="imaging.frame.read"
    )
    instance = await service.instance_of(session, study, sop_uid)
    return await rendered(request, store, instance, frame, window, format)


async def rendered(
    request: Request, store: Store, instance: Any, frame: int, window: str | None, fmt: str
) -> Response:
    centre, width = dicom.parse_window(window)
    frames = await marks.frames_of(store, frames_cache(request), instance)
    body = await asyncio.to_thread(dicom.render, frames, frame - 1, centre, width, fmt)
    return Response(
        body, media_type=FORMATS[fmt], headers={"Cache-Control": "private, max-age=600"}
    )


@router.get("/imaging/studies/{study_id}/marks")
async def list_marks(
    request: Request, study_id: Id, session: DbSession, ctx: PatientCtx, store: Store
) -> list[dict[str, Any]]:
    """The marks to show: read back from the PACS's presentation state, then unsaved ones."""
    study, _ = await service.load_study(
        session=session, ctx=ctx, study_id=study_id, audit_as="imaging.mark.list"
    )
    return await marks.view_marks(
        session=session, ctx=ctx, store=store, cache=frames_cache(request), study=study
    )


@router.post("/imaging/studies/{study_id}/marks", status_code=201, response_model=openapi.Created)
async def add_mark(
    request: Request,
    study_id: Id,
    data: MarkCreate,
    session: DbSession,
    ctx: PatientCtx,
    store: Store,
) -> dict[str, Any]:
    mark = await marks.add_mark(
        session=session,
        ctx=ctx,
        store=store,
        cache=frames_cache(request),
        bus=request.app.state.bus,
        study_id=study_id,
        meeting_id=data.meeting_id,
        kind=data.kind,
        sop_uid=data.sop_uid,
        frame=data.frame,
        points=list(data.points),
        text=data.text,
    )
    return marks.to_dict(mark)


@router.delete("/imaging/studies/{study_id}/marks/{mark_id}", status_code=204)
async def remove_mark(
    request: Request,
    study_id: Id,
    mark_id: Id,
    session: DbSession,
    ctx: PatientCtx,
    meeting_id: Annotated[int | None, Query(gt=0, le=2**31 - 1)] = None,
) -> Response:
    await marks.remove_mark(
        session=session,
        ctx=ctx,
        bus=request.app.state.bus,
        study_id=study_id,
        mark_id=mark_id,
        meeting_id=meeting_id,
    )
    return Response(status_code=204)


@router.post("/imaging/studies/{study_id}/save-to-pacs", response_model=ExportRead)
async def save_to_pacs(
    request: Request,
    study_id: Id,
    session: DbSession,
    ctx: PatientCtx,
    store: Store,
    settings: AppSettings,
) -> ExportRead:
    """Save the marks to the PACS as a GSPS and a TID 1500 SR, and read them back."""
    site = await session.get(Institution, ctx.principal.institution_id)
    pr, sr = await marks.save_to_pacs(
        session=session,
        ctx=ctx,
        store=store,
        cache=frames_cache(request),
        settings=settings.imaging,
        study_id=study_id,
        institution_name=site.name if site else "",
    )
    return ExportRead(presentation_state_uid=pr, report_uid=sr)


@router.get("/imaging/pacs/studies")
async def search_pacs(
    session: DbSession,
    ctx: PatientCtx,
    settings: AppSettings,
    patient_id: Annotated[str, Query(min_length=1, max_length=64)],
    via: Annotated[str, Query(pattern="^(dicomweb|dimse)$")] = "dicomweb",
) -> list[dict[str, str]]:
    """Studies the hospital PACS holds for a Patient ID (QIDO-RS or C-FIND)."""
    from yiyun.auth import policy
    from yiyun.auth.policy import Action

    policy.require(ctx.principal, Action.WRITE_PATIENT, policy.own(ctx.principal))
    if via == "dimse":
        found = await pacs.c_find_studies(
            pacs.DimsePeer.from_settings(settings.imaging), patient_id
        )
        return [
            {
                "study_uid": str(d.get("StudyInstanceUID", "")),
                "study_date": str(d.get("StudyDate", "")),
                "description": str(d.get("StudyDescription", "")),
            }
            for d in found
        ]
    rows = await pacs.DicomWebPeer.from_settings(settings.imaging).search_studies(
        {"PatientID": patient_id}
    )
    return [
        {
            "study_uid": _first(r, "0020000D"),
            "study_date": _first(r, "00080020"),
            "description": _first(r, "00081030"),
        }
        for r in rows
    ]


def _first(attrs: dict[str, Any], tag: str) -> str:
    values = attrs.get(tag, {}).get("Value", [])
    return str(values[0]) if values else ""


@router.post("/imaging/pacs/pull", response_model=list[StudyRead], status_code=201)
async def pull(
    data: PullCreate, session: DbSession, ctx: PatientCtx, store: Store, settings: AppSettings
) -> list[StudyRead]:
    """Bring a study in from the hospital PACS (WADO-RS, or C-MOVE to our receiver)."""
    from yiyun.auth import policy
    from yiyun.auth.policy import Action

    policy.require(ctx.principal, Action.WRITE_PATIENT, policy.own(ctx.principal))
    if data.via == "dimse":
        files = await pacs.c_move_study(
            pacs.DimsePeer.from_settings(settings.imaging),
            data.study_uid,
            settings.imaging.our_dicom_port,
        )
    else:
        files = await pacs.DicomWebPeer.from_settings(settings.imaging).retrieve_study(
            data.study_uid
        )
    if not files:
        raise InvalidInput("the PACS has no such study", code="imaging.pacs_no_study")
    done = await service.ingest_many(
        session=session,
        ctx=ctx,
        store=store,
        files=files,
        patient_id=data.patient_id,
        source="pacs",
    )
    return await study_reads(session, list({d.study.id: d.study for d in done}.values()))


# --- the co-reading socket ---------------------------------------------------------------


@ws_router.websocket("/ws/imaging/{study_id}")
async def co_reading(ws: WebSocket, study_id: int) -> None:
    """Viewport and presenter messages among the study's readers (session cookie or
    `?token=`); marks arrive here too, published once stored."""
    token = ws.cookies.get(SESSION_COOKIE) or ws.query_params.get("token")
    meeting_raw = ws.query_params.get("meeting") or "0"
    await ws.accept()
    if not token or not meeting_raw.isdecimal():
        await ws.close(code=1008, reason="auth.required")
        return
    meeting_id = int(meeting_raw) or None
    app = ws.app
    async with app.state.sessions() as session:
        try:
            auth = await app.state.live.resolve(session, token)
            ctx = Ctx(
                principal=auth.principal,
                actor=auth.principal.actor(ip=ws.client.host if ws.client else None),
                cipher=app.state.cipher,
            )
            await service.load_study(
                session=session, ctx=ctx, study_id=study_id, audit_as="imaging.co_reading.join"
            )
            await session.commit()
        except YiyunError as exc:
            await session.commit()  # a denial's audit entry
            await ws.close(code=1008, reason=exc.code)
            return
    room = room_name(study_id, meeting_id)
    channel = BusCoReading(app.state.bus)
    me = {"user_id": auth.principal.user_id, "name": auth.principal.display_name}

    async def pump() -> None:
        async with channel.join(room) as messages:
            await channel.send(room, {"type": "hello", "from": me})
            async for message in messages:
                with contextlib.suppress(WebSocketDisconnect, RuntimeError):
                    await ws.send_text(json.dumps(message, ensure_ascii=False))

    async def revoked() -> None:  # logout or account disabled, on any node
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            await ws.close(code=1008, reason="auth.revoked")

    task = asyncio.create_task(pump())
    ticket = app.state.live.add(session_id=auth.id, user_id=auth.user_id, close=revoked)
    try:
        while not ticket.revoked:
            text = await ws.receive_text()
            if len(text) > 4096:
                continue
            with contextlib.suppress(ValueError):
                message = json.loads(text)
                kind = message.get("type") if isinstance(message, dict) else None
                if kind not in CLIENT_TYPES:
                    continue
                out: dict[str, Any] = {"type": kind, "from": me}
                if kind == "viewport":
                    out["viewport"] = clean_viewport(message.get("viewport") or {})
                await channel.send(room, out)
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        app.state.live.discard(ticket)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, RuntimeError):
            await task
        with contextlib.suppress(Exception):
            await channel.send(room, {"type": "bye", "from": me})
