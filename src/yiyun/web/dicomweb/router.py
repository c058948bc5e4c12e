"""DICOMweb service under /dicomweb, so OHIF or another viewer can connect: QIDO-RS
(studies, series, instances), WADO-RS (study, series, instance, metadata, frames,
rendered), STOW-RS. The same access rules as everywhere: the patient access policy,
institution scope and relationship grants; every request is audited. Authenticate with
a bearer token (viewers, other systems) or the session cookie."""

from __future__ import annotations

import asyncio
import io
from typing import Annotated, Any

import pydicom
from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from yiyun.core.errors import InvalidInput, NotFound
from yiyun.imaging import dicom, dicomweb, marks, service
from yiyun.imaging.models import Instance, Study
from yiyun.web.deps import DbSession, PatientCtx, Store

router = APIRouter()
Uid = Annotated[str, Path(max_length=64, pattern=r"^[0-9.]+$")]
JSON_TYPE = dicomweb.DICOM_JSON


def _json(items: list[dict[str, Any]]) -> Response:
    """A QIDO answer; no match is an empty array (200), which every client reads."""
    return JSONResponse(items, media_type=JSON_TYPE)


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/dicomweb"


def _paging(request: Request) -> tuple[int, int]:
    try:
        limit = int(request.query_params.get("limit", "1000"))
        offset = int(request.query_params.get("offset", "0"))
    except ValueError as exc:
        raise InvalidInput("limit and offset are numbers", code="dicomweb.bad_query") from exc
    return max(0, min(limit, 1000)), max(0, offset)


def _series_attrs(rows: list[Instance], base: str, study_uid: str) -> list[dict[str, Any]]:
    series: dict[str, dict[str, Any]] = {}
    counts: dict[str, int] = {}
    for i in rows:
        counts[i.series_uid] = counts.get(i.series_uid, 0) + 1
        if i.series_uid not in series:
            attrs = dicomweb.pick(dicomweb.load(i.meta), dicomweb.SERIES_TAGS)
            attrs["0020000D"] = dicomweb.element("UI", study_uid)
            attrs["0020000E"] = dicomweb.element("UI", i.series_uid)
            attrs["00080060"] = dicomweb.element("CS", i.modality)
            attrs["00081190"] = dicomweb.element(
                "UR", f"{base}/studies/{study_uid}/series/{i.series_uid}"
            )
            series[i.series_uid] = attrs
    for uid, attrs in series.items():
        attrs["00201209"] = dicomweb.element("IS", counts[uid])
    return list(series.values())


def _instance_attrs(i: Instance, base: str, study_uid: str) -> dict[str, Any]:
    attrs = dicomweb.pick(dicomweb.load(i.meta), dicomweb.INSTANCE_TAGS + dicomweb.SERIES_TAGS)
    attrs["0020000D"] = dicomweb.element("UI", study_uid)
    attrs["0020000E"] = dicomweb.element("UI", i.series_uid)
    attrs["00080018"] = dicomweb.element("UI", i.sop_uid)
    attrs["00080016"] = dicomweb.element("UI", i.sop_class_uid)
    attrs["00081190"] = dicomweb.element(
        "UR", f"{base}/studies/{study_uid}/series/{i.series_uid}/instances/{i.sop_uid}"
    )
    return attrs


@router.get("/studies")
async def search_studies(request: Request, session: DbSession, ctx: PatientCtx) -> Response:
    """QIDO-RS studies the caller may read."""
    wanted = dicomweb.filters(request.query_params.multi_items())
    limit, offset = _paging(request)
    studies = await service.list_studies(session=session, ctx=ctx, limit=5000)
    counts = await service.counts(session, [s.id for s in studies])
    base = _base(request)
    found: list[dict[str, Any]] = []
    for s in studies:
        first = await _first_instance(session, s)
        attrs = dicomweb.pick(dicomweb.load(first.meta), dicomweb.STUDY_TAGS) if first else {}
        pid, name = service.dicom_identity(ctx, s)
        attrs.update(dicomweb.patient_attrs(pid, name))
        series, instances = counts.get(s.id, (0, 0))
        attrs["0020000D"] = dicomweb.element("UI", s.study_uid)
        attrs["00080061"] = dicomweb.element("CS", *filter(None, s.modalities.split("\\")))
        attrs["00201206"] = dicomweb.element("IS", series)
        attrs["00201208"] = dicomweb.element("IS", instances)
        attrs["00081190"] = dicomweb.element("UR", f"{base}/studies/{s.study_uid}")
        if dicomweb.match(attrs, wanted):
            found.append(attrs)
    page = found[offset : offset + limit]
    for s in studies:  # one audit entry per study answered, about its patient
        if any(a["0020000D"]["Value"][0] == s.study_uid for a in page):
            await service.audit_study(session, ctx, "imaging.study.search", s)
    return _json(page)


async def _first_instance(session: DbSession, study: Study) -> Instance | None:
    rows = await service.instances(session, study)
    return rows[0] if rows else None


async def _study(session: DbSession, ctx: PatientCtx, study_uid: str) -> Study:
    study, _ = await service.load_study(session=session, ctx=ctx, study_uid=study_uid)
    return study


@router.get("/studies/{study_uid}/series")
async def search_series(
    request: Request, study_uid: Uid, session: DbSession, ctx: PatientCtx
) -> Response:
    study = await _study(session, ctx, study_uid)
    rows = await service.instances(session, study)
    wanted = dicomweb.filters(request.query_params.multi_items())
    items = [a for a in _series_attrs(rows, _base(request), study_uid) if dicomweb.match(a, wanted)]
    return _json(items)


@router.get("/studies/{study_uid}/instances")
async def search_study_instances(
    request: Request, study_uid: Uid, session: DbSession, ctx: PatientCtx
) -> Response:
    return await _search_instances(request, session, ctx, study_uid, None)


@router.get("/studies/{study_uid}/series/{series_uid}/instances")
async def search_series_instances(
    request: Request, study_uid: Uid, series_uid: Uid, session: DbSession, ctx: PatientCtx
) -> Response:
    return await _search_instances(request, session, ctx, study_uid, series_uid)


async def _search_instances(
    request: Request, session: DbSession, ctx: PatientCtx, study_uid: str, series_uid: str | None
) -> Response:
    study = await _study(session, ctx, study_uid)
    rows = await service.instances(session, study, series_uid=series_uid)
    wanted = dicomweb.filters(request.query_params.multi_items())
    base = _base(request)
    items = [_instance_attrs(i, base, study_uid) for i in rows]
    return _json([a for a in items if dicomweb.match(a, wanted)])


# --- WADO-RS ------------------------------------------------------------------------------


async def _files(store: Store, rows: list[Instance]) -> Response:
    if not rows:
        raise NotFound("instance not found", code="imaging.instance_not_found")
    parts = [await store.get(i.blob_key) for i in rows]
    body, content_type = dicomweb.multipart(parts)
    return Response(body, media_type=content_type)


@router.get("/studies/{study_uid}")
async def retrieve_study(
    study_uid: Uid, session: DbSession, ctx: PatientCtx, store: Store
) -> Response:
    study = await _study(session, ctx, study_uid)
    return await _files(store, await service.instances(session, study))


@router.get("/studies/{study_uid}/series/{series_uid}")
async def retrieve_series(
    study_uid: Uid, series_uid: Uid, session: DbSession, ctx: PatientCtx, store: Store
) -> Response:
    study = await _study(session, ctx, study_uid)
    return await _files(store, await service.instances(session, study, series_uid=series_uid))


@router.get("/studies/{study_uid}/series/{series_uid}/instances/{sop_uid}")
async def retrieve_instance(
    study_uid: Uid, series_uid: Uid, sop_uid: Uid, session: DbSession, ctx: PatientCtx, store: Store
) -> Response:
    study = await _study(session, ctx, study_uid)
    return await _files(store, [await service.instance_of(session, study, sop_uid, series_uid)])


async def _metadata(
    request: Request, session: DbSession, ctx: PatientCtx, study_uid: str, series_uid: str | None
) -> Response:
    study = await _study(session, ctx, study_uid)
    rows = await service.instances(session, study, series_uid=series_uid)
    pid, name = service.dicom_identity(ctx, study)
    items = []
    for i in rows:
        attrs = dicomweb.load(i.meta)
        attrs.update(dicomweb.patient_attrs(pid, name))
        attrs.update(_instance_attrs(i, _base(request), study_uid))
        items.append(attrs)
    return _json(items)


@router.get("/studies/{study_uid}/metadata")
async def study_metadata(
    request: Request, study_uid: Uid, session: DbSession, ctx: PatientCtx
) -> Response:
    return await _metadata(request, session, ctx, study_uid, None)


@router.get("/studies/{study_uid}/series/{series_uid}/metadata")
async def series_metadata(
    request: Request, study_uid: Uid, series_uid: Uid, session: DbSession, ctx: PatientCtx
) -> Response:
    return await _metadata(request, session, ctx, study_uid, series_uid)


def _frame_numbers(text: str, count: int) -> list[int]:
    try:
        numbers = [int(n) for n in text.split(",")]
    except ValueError as exc:
        raise InvalidInput(
            "frame numbers are a comma-separated list", code="dicomweb.bad_frames"
        ) from exc
    if not numbers or any(n < 1 or n > count for n in numbers):
        raise InvalidInput("no such frame", code="imaging.no_frame", details={"frames": count})
    return numbers


@router.get("/studies/{study_uid}/series/{series_uid}/instances/{sop_uid}/frames/{frames}")
async def retrieve_frames(
    study_uid: Uid,
    series_uid: Uid,
    sop_uid: Uid,
    frames: Annotated[str, Path(max_length=200, pattern=r"^[0-9,]+$")],
    session: DbSession,
    ctx: PatientCtx,
    store: Store,
) -> Response:
    """Frames as uncompressed pixel data (Explicit VR Little Endian, native)."""
    study = await _study(session, ctx, study_uid)
    instance = await service.instance_of(session, study, sop_uid, series_uid)
    numbers = _frame_numbers(frames, instance.frames)
    data = await store.get(instance.blob_key)

    def extract() -> list[bytes]:
        ds = pydicom.dcmread(io.BytesIO(data))
        arr = ds.pixel_array
        if instance.frames == 1:
            arr = arr.reshape((1, *arr.shape))
        return [arr[n - 1].astype(arr.dtype.newbyteorder("<")).tobytes() for n in numbers]

    parts = await asyncio.to_thread(extract)
    body, _ = dicomweb.multipart(parts, "application/octet-stream")
    boundary = body.split(b"\r\n", 1)[0][2:].decode()
    return Response(
        body,
        media_type=(
            'multipart/related; type="application/octet-stream"; '
            f"transfer-syntax=1.2.840.10008.1.2.1; boundary={boundary}"
        ),
    )


def _format(accept: str | None) -> str:
    return "jpeg" if accept and "image/jpeg" in accept and "image/png" not in accept else "png"


@router.get("/studies/{study_uid}/series/{series_uid}/instances/{sop_uid}/rendered")
async def rendered_instance(
    request: Request,
    study_uid: Uid,
    series_uid: Uid,
    sop_uid: Uid,
    session: DbSession,
    ctx: PatientCtx,
    store: Store,
    window: Annotated[str | None, Query(max_length=60)] = None,
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    return await _rendered(
        request, session, ctx, store, study_uid, series_uid, sop_uid, 1, window, accept
    )


@router.get("/studies/{study_uid}/series/{series_uid}/instances/{sop_uid}/frames/{frame}/rendered")
async def rendered_frame(
    request: Request,
    study_uid: Uid,
    series_uid: Uid,
    sop_uid: Uid,
    frame: Annotated[int, Path(ge=1, le=100000)],
    session: DbSession,
    ctx: PatientCtx,
    store: Store,
    window: Annotated[str | None, Query(max_length=60)] = None,
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    return await _rendered(
        request, session, ctx, store, study_uid, series_uid, sop_uid, frame, window, accept
    )


async def _rendered(
    request: Request,
    session: DbSession,
    ctx: PatientCtx,
    store: Store,
    study_uid: str,
    series_uid: str,
    sop_uid: str,
    frame: int,
    window: str | None,
    accept: str | None,
) -> Response:
    study, _ = await service.load_study(
        session=session, ctx=ctx, study_uid=study_uid, audit_as="imaging.frame.read"
    )
    instance = await service.instance_of(session, study, sop_uid, series_uid)
    fmt = _format(accept)
    centre, width = dicom.parse_window(",".join((window or "").split(",")[:2]) or None)
    frames = await marks.frames_of(store, request.app.state.frames, instance)
    body = await asyncio.to_thread(dicom.render, frames, frame - 1, centre, width, fmt)
    return Response(body, media_type="image/jpeg" if fmt == "jpeg" else "image/png")


# --- STOW-RS ------------------------------------------------------------------------------


@router.post("/studies")
async def store_instances(
    request: Request,
    session: DbSession,
    ctx: PatientCtx,
    store: Store,
    content_type: Annotated[str, Header()] = "",
) -> Response:
    """STOW-RS: store DICOM objects (linked to patients by their identifiers)."""
    settings = request.app.state.settings
    limit = settings.imaging.max_upload_bytes
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise InvalidInput("the file is too large", code="upload.too_large")
    parts = dicomweb.parse_multipart(bytes(body), content_type)
    if not parts:
        raise InvalidInput("the request holds no DICOM object", code="dicomweb.empty")
    done = await service.ingest_many(
        session=session, ctx=ctx, store=store, files=parts, source="stow"
    )
    base = _base(request)
    refs = [
        {
            "00081150": dicomweb.element("UI", d.instance.sop_class_uid),
            "00081155": dicomweb.element("UI", d.instance.sop_uid),
            "00081190": dicomweb.element(
                "UR",
                f"{base}/studies/{d.study.study_uid}/series/{d.instance.series_uid}"
                f"/instances/{d.instance.sop_uid}",
            ),
        }
        for d in done
    ]
    answer = {"00081199": {"vr": "SQ", "Value": refs}}
    if len({d.study.study_uid for d in done}) == 1:
        answer["00081190"] = dicomweb.element("UR", f"{base}/studies/{done[0].study.study_uid}")
    return JSONResponse(answer, media_type=JSON_TYPE)
