"""Co-reading marks: add, list, remove (live for everyone in the room), and save them
to the PACS as a presentation state and a measurement report, read back from there.

Marking needs a clinical role and read access to the patient (a meeting about the
patient grants it to invited staff of other institutions); the health authority reads
but does not mark. Each mark keeps its author."""

from __future__ import annotations

import asyncio
import io
import json
from dataclasses import asdict
from typing import Any

import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.auth.policy import CLINICAL
from yiyun.core.bus import EventBus
from yiyun.core.errors import InvalidInput, NotFound, PermissionDenied
from yiyun.core.events import publish_after_commit
from yiyun.core.storage import BlobStore
from yiyun.imaging import dicom, export, measure, service
from yiyun.imaging.export import MarkData
from yiyun.imaging.live import room_name
from yiyun.imaging.models import Instance, Mark, Study
from yiyun.imaging.pacs import DicomWebPeer
from yiyun.records.access import Ctx
from yiyun.settings import ImagingSettings

PR_CLASS = "1.2.840.10008.5.1.4.1.1.11.1"
MAX_POINTS = 64


def _require_marker(ctx: Ctx) -> None:
    if not ctx.principal.has(*CLINICAL):
        raise PermissionDenied(
            "only clinical staff can mark images", code="imaging.mark_clinical_only"
        )


async def frames_of(store: BlobStore, cache: dicom.FrameCache, instance: Instance) -> dicom.Frames:
    found = cache.get(instance.sop_uid)
    if found is None:
        data = await store.get(instance.blob_key)
        found = await asyncio.to_thread(dicom.decode, data)
        cache.put(instance.sop_uid, found)
    return found


def _check_points(kind: str, points: list[tuple[float, float]], rows: int, cols: int) -> None:
    need = {"arrow": 2, "length": 2, "ellipse": 2, "text": 1, "polygon": 3}
    if kind not in need:
        raise InvalidInput("unknown kind of mark", code="imaging.bad_mark")
    if len(points) < need[kind] or len(points) > MAX_POINTS:
        raise InvalidInput("a mark of this kind needs more points", code="imaging.bad_mark")
    for x, y in points:
        if not (-1 <= x <= cols + 1 and -1 <= y <= rows + 1):
            raise InvalidInput("a point lies outside the image", code="imaging.bad_mark")


def measured(
    kind: str, points: list[tuple[float, float]], frames: dicom.Frames, frame: int
) -> dict[str, float]:
    if kind == "length":
        value = measure.length(points, frames.spacing)
        return {"length_mm" if frames.spacing else "length_px": round(value, 2)}
    if kind in ("ellipse", "polygon"):
        return measure.roi_stats(kind, points, frames.pixels[frame - 1], frames.spacing)
    return {}


def to_dict(mark: Mark) -> dict[str, Any]:
    return {
        "id": mark.id,
        "kind": mark.kind,
        "sop_uid": mark.sop_uid,
        "frame": mark.frame,
        "points": json.loads(mark.points),
        "text": mark.text,
        "measurement": json.loads(mark.measurement),
        "author": mark.author_name,
        "author_id": mark.author_id,
        "saved": mark.saved,
        "source": "draft",
    }


async def add_mark(
    *,
    session: AsyncSession,
    ctx: Ctx,
    store: BlobStore,
    cache: dicom.FrameCache,
    bus: EventBus,
    study_id: int,
    meeting_id: int | None,
    kind: str,
    sop_uid: str,
    frame: int,
    points: list[tuple[float, float]],
    text: str,
) -> Mark:
    study, _ = await service.load_study(session=session, ctx=ctx, study_id=study_id, audit_as=None)
    _require_marker(ctx)
    instance = await service.instance_of(session, study, sop_uid)
    _check_points(kind, points, instance.rows, instance.columns)
    if not 1 <= frame <= instance.frames:
        raise InvalidInput("no such frame", code="imaging.no_frame")
    if kind == "text" and not text.strip():
        raise InvalidInput("a text mark needs its text", code="imaging.mark_text")
    frames = await frames_of(store, cache, instance)
    mark = Mark(
        study_id=study.id,
        sop_uid=sop_uid,
        frame=frame,
        kind=kind,
        points=json.dumps([[round(x, 2), round(y, 2)] for x, y in points]),
        text=text.strip()[:200],
        measurement=json.dumps(measured(kind, points, frames, frame)),
        author_id=ctx.principal.user_id,
        author_name=ctx.principal.display_name[:100],
    )
    session.add(mark)
    await session.flush()
    await service.audit_study(session, ctx, "imaging.mark.add", study, details={"kind": kind})
    publish_after_commit(
        session, bus, room_name(study.id, meeting_id), {"type": "mark", "mark": to_dict(mark)}
    )
    return mark


async def remove_mark(
    *,
    session: AsyncSession,
    ctx: Ctx,
    bus: EventBus,
    study_id: int,
    mark_id: int,
    meeting_id: int | None,
) -> None:
    """Authors remove their own unsaved marks."""
    study, _ = await service.load_study(session=session, ctx=ctx, study_id=study_id, audit_as=None)
    _require_marker(ctx)
    mark = await session.get(Mark, mark_id)
    if mark is None or mark.study_id != study.id or mark.saved:
        raise NotFound("mark not found", code="imaging.mark_not_found")
    if mark.author_id != ctx.principal.user_id:
        raise PermissionDenied("only its author can remove a mark", code="imaging.mark_author_only")
    await session.delete(mark)
    await session.flush()
    await service.audit_study(session, ctx, "imaging.mark.remove", study)
    publish_after_commit(
        session, bus, room_name(study.id, meeting_id), {"type": "unmark", "id": mark_id}
    )


async def _latest_pr(session: AsyncSession, study: Study) -> Instance | None:
    return await session.scalar(
        select(Instance)
        .where(Instance.study_id == study.id, Instance.sop_class_uid == PR_CLASS)
        .order_by(Instance.id.desc())
        .limit(1)
    )


async def _pacs_marks(store: BlobStore, study: Study, pr: Instance | None) -> list[MarkData]:
    if pr is None:
        return []
    data = await store.get(pr.blob_key)
    ds = pydicom.dcmread(io.BytesIO(data))
    return export.marks_from_presentation_state(ds)


async def view_marks(
    *, session: AsyncSession, ctx: Ctx, store: BlobStore, cache: dicom.FrameCache, study: Study
) -> list[dict[str, Any]]:
    """What the viewer shows: the marks of the study's latest presentation state (as
    read back from the PACS), measured again, then the marks not saved yet."""
    pr = await _latest_pr(session, study)
    out: list[dict[str, Any]] = []
    by_sop = {i.sop_uid: i for i in await service.instances(session, study)}
    for n, m in enumerate(await _pacs_marks(store, study, pr)):
        instance = by_sop.get(m.sop_uid)
        values: dict[str, float] = {}
        if instance is not None and m.kind in ("length", "ellipse", "polygon"):
            values = measured(m.kind, m.points, await frames_of(store, cache, instance), m.frame)
        out.append(
            {
                **asdict(m),
                "id": f"pr{n}",
                "measurement": values,
                "source": "pacs",
                "saved": True,
                "points": [list(p) for p in m.points],
            }
        )
    drafts = await session.scalars(
        select(Mark).where(Mark.study_id == study.id, Mark.saved.is_(False)).order_by(Mark.id)
    )
    out.extend(to_dict(m) for m in drafts)
    return out


async def save_to_pacs(
    *,
    session: AsyncSession,
    ctx: Ctx,
    store: BlobStore,
    cache: dicom.FrameCache,
    settings: ImagingSettings,
    study_id: int,
    institution_name: str,
) -> tuple[str, str | None]:
    """Write the marks as a GSPS (every mark) and a TID 1500 SR (the measured ones), send
    both to the PACS, read them back from it and file them under the study. Returns the
    SOP instance UIDs (presentation state, report)."""
    study, _ = await service.load_study(session=session, ctx=ctx, study_id=study_id, audit_as=None)
    _require_marker(ctx)
    drafts = list(
        (
            await session.scalars(
                select(Mark)
                .where(Mark.study_id == study.id, Mark.saved.is_(False))
                .order_by(Mark.id)
            )
        ).all()
    )
    previous = await _pacs_marks(store, study, await _latest_pr(session, study))
    if not drafts and not previous:
        raise InvalidInput("there are no marks to save", code="imaging.no_marks")
    peer = DicomWebPeer.from_settings(settings)
    by_sop = {i.sop_uid: i for i in await service.instances(session, study)}
    marks: list[MarkData] = []
    for m in previous:
        instance = by_sop[m.sop_uid]
        m.measurement = measured(m.kind, m.points, await frames_of(store, cache, instance), m.frame)
        marks.append(m)
    for d in drafts:
        marks.append(
            MarkData(
                kind=d.kind,
                sop_uid=d.sop_uid,
                frame=d.frame,
                author=d.author_name,
                text=d.text,
                points=[(float(x), float(y)) for x, y in json.loads(d.points)],
                measurement=json.loads(d.measurement),
            )
        )
    images: dict[str, Dataset] = {}
    for sop in {m.sop_uid for m in marks}:
        images[sop] = pydicom.dcmread(io.BytesIO(await store.get(by_sop[sop].blob_key)))
    pr = export.presentation_state(
        marks,
        images,
        series_uid=generate_uid(),
        creator=ctx.principal.display_name,
        institution=institution_name,
    )
    sr = export.measurement_report(
        marks, images, series_uid=generate_uid(), observer=ctx.principal.display_name
    )
    objects = [pr] + ([sr] if sr is not None else [])
    files = []
    for ds in objects:
        out = io.BytesIO()
        ds.save_as(out, enforce_file_format=True)
        files.append(out.getvalue())
    await peer.store(files)
    for ds in objects:  # what the PACS holds now is what we keep
        data = await peer.retrieve_instance(
            study.study_uid, str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID)
        )
        await service.ingest(
            session=session, ctx=ctx, store=store, data=data, source="pacs", authorised=True
        )
    for d in drafts:
        d.saved = True
    await session.flush()
    await service.audit_study(
        session,
        ctx,
        "imaging.export",
        study,
        details={"marks": len(marks), "pr": str(pr.SOPInstanceUID)},
    )
    return str(pr.SOPInstanceUID), str(sr.SOPInstanceUID) if sr is not None else None
