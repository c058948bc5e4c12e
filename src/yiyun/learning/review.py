"""From a meeting recording to the teaching library, through the de-identification gate.

A recording of a meeting about a patient (`Meeting.patient_id` set) is published only
with the patient's teaching consent on record and once its review is approved
(`workflow.py`); anything else is refused with 409 naming the review's state. A
recording of a meeting about no patient needs no review. The published copy is a new
library video made from the recording's file; the recording itself keeps its own
retention and access rules."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.audit import service as audit
from yiyun.audit.service import Actor
from yiyun.auth.policy import Action, allows, own, scope
from yiyun.auth.principal import Principal
from yiyun.core.bus import EventBus
from yiyun.core.clock import now
from yiyun.core.errors import Conflict, IllegalTransition, InvalidInput, NotFound
from yiyun.core.storage import BlobStore
from yiyun.learning import attendance, workflow
from yiyun.learning.models import DeidReview, ReviewState
from yiyun.meetings.models import Meeting, Recording
from yiyun.records.enums import ConsentPurpose
from yiyun.records.service import has_consent
from yiyun.teaching import service as teaching_service
from yiyun.teaching.models import Video
from yiyun.teaching.schemas import VideoMeta


async def _recording(
    session: AsyncSession, principal: Principal, recording_id: int
) -> tuple[Recording, Meeting]:
    """A recording whose meeting the caller organises (or administers); 404 otherwise."""
    row = await session.get(Recording, recording_id)
    meeting = await session.get(Meeting, row.meeting_id) if row is not None else None
    if row is None or meeting is None or not attendance.may_organise(principal, meeting):
        raise NotFound("recording not found", code="recording.not_found")
    return row, meeting


async def require_teaching_consent(session: AsyncSession, meeting: Meeting) -> None:
    """The patient's consent to the teaching use of their recording must be on record."""
    if meeting.patient_id is not None and not await has_consent(
        session=session, patient_id=meeting.patient_id, purpose=ConsentPurpose.TEACHING
    ):
        raise Conflict(
            "the patient's consent to sharing the recording for teaching is not on record",
            code="learning.consent_missing",
        )


async def latest(session: AsyncSession, recording_id: int) -> DeidReview | None:
    review: DeidReview | None = await session.scalar(
        select(DeidReview)
        .where(DeidReview.recording_id == recording_id)
        .order_by(DeidReview.id.desc())
        .limit(1)
    )
    return review


async def submit(
    *,
    session: AsyncSession,
    bus: EventBus,
    principal: Principal,
    actor: Actor,
    recording_id: int,
    note: str,
) -> DeidReview:
    """Propose a clinical recording for teaching (or submit it again after a rejection)."""
    row, meeting = await _recording(session, principal, recording_id)
    if meeting.patient_id is None:
        raise Conflict(
            "this recording is not about a patient and needs no review",
            code="learning.review_not_needed",
        )
    if row.state != "ready":
        raise IllegalTransition(state=row.state, action="submit", code="recording.not_ready")
    await require_teaching_consent(session, meeting)
    review = await latest(session, recording_id)
    if review is not None:
        review.note = note or review.note
        await workflow.MACHINE.transition(
            session=session,
            bus=bus,
            entity=review,
            action="resubmit",
            actor=actor,
            principal=principal,
            event={"recording_id": recording_id},
        )
        review.reason, review.reviewer_id, review.decided_at = "", None, None
        return review
    review = DeidReview(
        recording_id=recording_id,
        institution_id=meeting.institution_id,
        submitted_by_id=principal.user_id,
        state=ReviewState.SUBMITTED,
        note=note,
    )
    session.add(review)
    await session.flush()
    await audit.record(
        session=session,
        actor=actor,
        action="learning.review.submit",
        entity_type="learning_deid_review",
        entity_id=review.id,
        subject_institutions=frozenset({meeting.institution_id}),
        details={"recording_id": recording_id},
    )
    workflow.MACHINE.announce(
        session=session,
        bus=bus,
        entity_id=review.id,
        action="submit",
        before=None,
        after=review.state,
        at=review.created_at or now(),
        extra={"recording_id": recording_id},
    )
    return review


async def get(session: AsyncSession, principal: Principal, review_id: int) -> DeidReview:
    """A review its submitter or a reviewer of its site may see; 404 otherwise."""
    review = await session.get(DeidReview, review_id)
    if review is None or not workflow.MACHINE.may(principal, review, "resubmit"):
        raise NotFound("no such review", code="learning.no_review")
    return review


async def decide(
    *,
    session: AsyncSession,
    bus: EventBus,
    principal: Principal,
    actor: Actor,
    review_id: int,
    action: str,
    reason: str,
) -> DeidReview:
    """Approve, or reject with a reason (a rejection without one is refused)."""
    review = await get(session, principal, review_id)
    if action == "reject":
        workflow.MACHINE.check(review, action, principal)
        if not reason:
            raise InvalidInput(
                "give the reason for the rejection",
                code="learning.reason_required",
                details={"field": "reason"},
            )
    await workflow.MACHINE.transition(
        session=session,
        bus=bus,
        entity=review,
        action=action,
        actor=actor,
        principal=principal,
        details={"reason": reason} if reason else None,
        event={"recording_id": review.recording_id},
    )
    review.reviewer_id, review.reason, review.decided_at = principal.user_id, reason, now()
    return review


async def publish(
    *,
    session: AsyncSession,
    bus: EventBus,
    store: BlobStore,
    principal: Principal,
    actor: Actor,
    recording_id: int,
    work_dir: Path,
    title: str,
) -> Video:
    """Copy a recording into the library (transcoded there like an upload). A clinical
    recording passes only with an approved review: 409 otherwise."""
    row, meeting = await _recording(session, principal, recording_id)
    teaching_service.require_publish(principal)
    if row.state != "ready" or row.storage_key is None:
        raise IllegalTransition(state=row.state, action="publish", code="recording.not_ready")
    review = await latest(session, recording_id)
    if meeting.patient_id is not None:
        if review is None:
            msg = "a recording about a patient is published only once de-identification is approved"
            raise Conflict(
                msg,
                code="learning.review_required",
                details={"state": "none", "action": "publish"},
            )
        workflow.MACHINE.check(review, "publish", principal)
        await require_teaching_consent(session, meeting)  # it may have been withdrawn since
    if review is not None and review.video_id is not None:
        raise Conflict(
            "this recording is already in the library",
            code="learning.already_published",
            details={"video_id": review.video_id},
        )
    await asyncio.to_thread(work_dir.mkdir, parents=True, exist_ok=True)
    path = work_dir / f"publish-{secrets.token_hex(8)}"
    data = await store.get(row.storage_key)
    await asyncio.to_thread(path.write_bytes, data)
    video = await teaching_service.create(
        session=session,
        store=store,
        bus=bus,
        principal=principal,
        actor=actor,
        meta=VideoMeta(title=title or meeting.title, description="", specialty="", tags=[]),
        filename="recording.mkv",
        source=path,
        size=len(data),
    )
    if review is not None:
        await workflow.MACHINE.transition(
            session=session,
            bus=bus,
            entity=review,
            action="publish",
            actor=actor,
            principal=principal,
            details={"video_id": video.id},
            event={"recording_id": recording_id, "video_id": video.id},
        )
        review.video_id = video.id
    return video


async def queue(session: AsyncSession, principal: Principal) -> list[DeidReview]:
    """Reviews waiting for a decision at the sites the caller reviews for."""
    if not allows(principal, Action.MANAGE_TEACHING, own(principal)):
        return []
    where = scope(principal, Action.MANAGE_TEACHING).where(DeidReview.institution_id)
    rows = await session.scalars(
        select(DeidReview)
        .where(where, DeidReview.state == ReviewState.SUBMITTED)
        .order_by(DeidReview.created_at)
    )
    return list(rows)
