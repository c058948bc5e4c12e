"""What a meeting leaves behind, over the API: shared files, call quality, recordings."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, File, Path, Request, UploadFile
from fastapi.responses import Response

from yiyun.audit import service as audit
from yiyun.auth.policy import Action, allows
from yiyun.core.errors import NotFound
from yiyun.meetings import chat, quality, recording, service
from yiyun.meetings.members import CHAIRS
from yiyun.meetings.models import Meeting, MeetingFile
from yiyun.meetings.schemas import FileRead, QualitySummary, RecordingRead
from yiyun.records import files
from yiyun.web.blobs import blob_response
from yiyun.web.deps import CurrentActor, CurrentPrincipal, DbSession, Store
from yiyun.web.params import Id

router = APIRouter()
Part = Annotated[int, Path(ge=0, le=1000)]
SPEAKERS = frozenset({"host", "cohost", "participant"})


@router.post("/meetings/{meeting_id}/files", response_model=FileRead, status_code=201)
async def upload_file(
    meeting_id: Id,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
    store: Store,
    file: Annotated[
        UploadFile,
        File(description=files.ACCEPTED_DOC, json_schema_extra={"minLength": 1}),
    ],
) -> FileRead:
    """Share a file in the meeting's chat (PDF, image, DICOM, text; up to 20 MB; the
    content decides the type). Send it with a `chat` message's `file_id`."""
    meeting = await service.get_for(
        session=session, principal=principal, meeting_id=meeting_id, roles=SPEAKERS
    )
    row = await chat.share_file(
        session=session,
        store=store,
        meeting=meeting,
        sender=f"u{principal.user_id}",
        filename=file.filename or "upload",
        data=await file.read(chat.MAX_FILE_BYTES + 1),
        actor=actor,
    )
    return FileRead.model_validate(chat.file_payload(row))


@router.get("/meetings/{meeting_id}/files/{file_id}")
async def download_file(
    meeting_id: Id,
    file_id: Id,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
    store: Store,
) -> Response:
    meeting = await service.get(session=session, principal=principal, meeting_id=meeting_id)
    row, data = await chat.load_file(
        session=session, store=store, meeting_id=meeting.id, file_id=file_id
    )
    await audit.record(
        session=session,
        actor=actor,
        action="meeting.file.download",
        entity_type="meeting_file",
        entity_id=row.id,
        details={"meeting_id": meeting.id},
    )
    return file_response(row, data)


@router.get("/meetings/{meeting_id}/quality", response_model=list[QualitySummary])
async def call_quality(
    meeting_id: Id, session: DbSession, principal: CurrentPrincipal
) -> list[QualitySummary]:
    """Per participant: E-model MOS (mean, worst), round trip, loss, jitter over the call.
    For the meeting's host and co-hosts, and for operations."""
    if allows(principal, Action.VIEW_CALL_QUALITY):
        if await session.get(Meeting, meeting_id) is None:
            raise NotFound("meeting not found", code="meeting.not_found")
    else:
        await service.get_for(
            session=session, principal=principal, meeting_id=meeting_id, roles=CHAIRS
        )
    return await quality.summary(session, meeting_id)


@router.get("/meetings/{meeting_id}/recordings", response_model=list[RecordingRead])
async def list_recordings(
    meeting_id: Id, session: DbSession, principal: CurrentPrincipal
) -> list[RecordingRead]:
    meeting = await service.get_for(
        session=session, principal=principal, meeting_id=meeting_id, roles=SPEAKERS
    )
    return [recording.read(r) for r in await recording.list_for(session, meeting.id)]


@router.get("/meetings/{meeting_id}/recordings/{recording_id}/parts/{n}")
async def play_recording_part(
    meeting_id: Id,
    recording_id: Id,
    n: Part,
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
    store: Store,
) -> Response:
    """One participant's part of a recording (WebM, byte ranges). Only the meeting's
    staff (not observers) may play it; every playback is audited."""
    meeting = await service.get_for(
        session=session, principal=principal, meeting_id=meeting_id, roles=SPEAKERS
    )
    row = await recording.get(session, meeting.id, recording_id)
    track = recording.part(row, n)
    if _starts_playback(request.headers.get("range")):
        await audit.record(
            session=session,
            actor=actor,
            action="meeting.recording.play",
            entity_type="recording",
            entity_id=row.id,
            patient_id=meeting.patient_id,
            details={"meeting_id": meeting.id, "part": n},
        )
    return await blob_response(
        store,
        str(track["key"]),
        range_header=request.headers.get("range"),
        media_type="video/webm",
        headers={"Cache-Control": "no-store", "X-Content-SHA256": str(track["sha256"])},
    )


def _starts_playback(range_header: str | None) -> bool:
    """A playback starts with a request for the whole file or its first bytes; the
    browser's later range requests (seeking, buffering) are the same playback."""
    if not range_header:
        return True
    return range_header.replace(" ", "").startswith("bytes=0-")


def file_response(row: MeetingFile, data: bytes) -> Response:
    """The file as an attachment under its own (sanitised) name; never rendered inline."""
    return Response(
        data,
        media_type=row.content_type,
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(row.filename)}",
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
