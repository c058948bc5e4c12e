"""The recording playback page: every participant's part side by side, in sync."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from yiyun.audit import service as audit
from yiyun.meetings import recording, service
from yiyun.meetings.live_api import SPEAKERS
from yiyun.web.deps import CurrentActor, CurrentPrincipal, DbSession
from yiyun.web.pagekit import page
from yiyun.web.params import Id

router = APIRouter()


@router.get("/meetings/{meeting_id}/recordings/{recording_id}", response_class=HTMLResponse)
async def playback(
    request: Request,
    meeting_id: Id,
    recording_id: Id,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
) -> Response:
    meeting = await service.get_for(
        session=session, principal=principal, meeting_id=meeting_id, roles=SPEAKERS
    )
    row = await recording.get(session, meeting.id, recording_id)
    await audit.record(
        session=session,
        actor=actor,
        action="meeting.recording.view",
        entity_type="recording",
        entity_id=row.id,
        patient_id=meeting.patient_id,
        details={"meeting_id": meeting.id},
    )
    return page(
        request,
        principal,
        "meetings/recording.html",
        {"m": meeting, "rec": recording.read(row)},
    )
