"""Meeting recordings: consent first, then the file, its digest and who may play it.

A meeting about a patient is recorded only when that patient's recording consent is
on record; staff are included unless they opt out in the call; a guest is included
only when the patient they stand for consented. The engine writes one Matroska file
with a stream per included participant and kind; at the end it is sealed into the
blob store (encrypted at rest) and split (remuxed, not re-encoded) into one WebM per
participant for playback in the browser, each part stored with its SHA-256. Every
playback is audited.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import shutil
from enum import StrEnum
from pathlib import Path
from typing import Any

import av
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from yiyun.audit import service as audit
from yiyun.audit.service import Actor
from yiyun.core.bus import EventBus
from yiyun.core.clock import now
from yiyun.core.errors import Conflict, IllegalTransition, NotFound
from yiyun.core.statemachine import Machine, Step
from yiyun.core.storage import BlobStore
from yiyun.meetings.models import Meeting, MeetingGuest, Recording
from yiyun.meetings.schemas import RecordingRead
from yiyun.records.enums import ConsentPurpose
from yiyun.records.models import Consent
from yiyun.records.service import has_consent

logger = logging.getLogger(__name__)
RETENTION = "clinical-30y"  # telemedicine records are kept with the medical record


class RecordingState(StrEnum):
    """A recording's file: being written, then sealed and split (`ready`) or lost."""

    RECORDING = "recording"
    READY = "ready"
    FAILED = "failed"


RECORDING, READY, FAILED = RecordingState.RECORDING, RecordingState.READY, RecordingState.FAILED
MACHINE: Machine[RecordingState, Recording] = Machine(
    name="recording",
    states=RecordingState,
    table={(RECORDING, "finish"): Step(READY), (RECORDING, "fail"): Step(FAILED)},
    audit=audit.record,
    entity_type="recording",
    audit_prefix="meeting.recording",
    channel="meetings.recording",
    illegal_code="recording.illegal_transition",
)


async def consenting_guests(db: AsyncSession, meeting: Meeting) -> set[int]:
    """Guests of the meeting whose patient has a recording consent on record (one query;
    asked on every entry and while a recording runs)."""
    rows = await db.scalars(
        select(MeetingGuest.id)
        .join(Consent, Consent.patient_id == MeetingGuest.patient_id)
        .where(
            MeetingGuest.meeting_id == meeting.id,
            Consent.purpose == ConsentPurpose.RECORDING,
            Consent.withdrawn_at.is_(None),
        )
        .distinct()
    )
    return set(rows.all())


async def patient_consents(db: AsyncSession, meeting: Meeting) -> bool:
    """Whether the meeting may be recorded as far as its patient is concerned."""
    return meeting.patient_id is None or await has_consent(
        session=db, patient_id=meeting.patient_id, purpose=ConsentPurpose.RECORDING
    )


async def begin(
    db: AsyncSession,
    *,
    meeting_id: int,
    engine: str,
    started_by: Actor,
    included: list[str],
    excluded: list[str],
) -> Recording:
    """Refuse unless consent allows, then open the recording's row."""
    meeting = await db.get(Meeting, meeting_id)
    if meeting is None:
        raise NotFound("meeting not found", code="meeting.not_found")
    if not await patient_consents(db, meeting):
        raise Conflict(
            "the patient has not consented to recording",
            code="meeting.no_recording_consent",
        )
    row = Recording(
        meeting_id=meeting_id,
        state=RECORDING,
        engine=engine,
        started_by_id=started_by.user_id or meeting.host_id,
        started_at=now(),
        included=included,
        excluded=excluded,
        retention=RETENTION,
        tracks=[],
    )
    db.add(row)
    await db.flush()
    await audit.record(
        session=db,
        actor=started_by,
        action="meeting.recording.start",
        entity_type="recording",
        entity_id=row.id,
        patient_id=meeting.patient_id,
        details={"meeting_id": meeting_id, "included": len(included), "excluded": len(excluded)},
    )
    return row


async def fail(db: AsyncSession, bus: EventBus, recording_id: int) -> None:
    """A recording still being written is lost (its file could not be made or sealed)."""
    row = await db.get(Recording, recording_id)
    if row is not None and row.state == RECORDING:
        row.ended_at = now()
        await MACHINE.transition(session=db, bus=bus, entity=row, action="fail", actor=audit.SYSTEM)


async def note_participants(db: AsyncSession, recording_id: int, included: list[str]) -> None:
    """Remember everyone who was ever included (the set changes as people come and go)."""
    row = await db.get(Recording, recording_id)
    if row is not None:
        row.included = sorted(set(row.included) | set(included))
        row.excluded = sorted(set(row.excluded) - set(included))


def _digest(path: Path) -> tuple[str, int]:
    h, size = hashlib.sha256(), 0
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
            size += len(block)
    return h.hexdigest(), size


def split_by_participant(source: Path | io.RawIOBase, directory: Path) -> list[dict[str, Any]]:
    """Remux each participant's streams (titled `<participant>:<kind>`) into a WebM.

    `source` is a file or a seekable binary stream (a sealed blob's reader)."""
    parts: list[dict[str, Any]] = []
    with av.open(str(source) if isinstance(source, Path) else source, mode="r") as src:
        groups: dict[str, list[av.stream.Stream]] = {}
        for stream in src.streams:
            title = stream.metadata.get("title", "")
            participant, _, kind = title.rpartition(":")
            if participant and kind in ("audio", "video"):
                groups.setdefault(participant, []).append(stream)
        for index, (participant, streams) in enumerate(sorted(groups.items())):
            out_path = directory / f"part-{index}.webm"
            with av.open(str(out_path), "w", format="webm") as out:
                mapping = {s.index: out.add_stream_from_template(s) for s in streams}
                src.seek(0)
                for packet in src.demux(*streams):
                    if packet.dts is None:
                        continue
                    packet.stream = mapping[packet.stream.index]
                    out.mux(packet)
            parts.append(
                {
                    "participant": participant,
                    "kinds": sorted(str(s.type) for s in streams),
                    "path": out_path,
                }
            )
    return parts


async def _split_sealed(store: BlobStore, key: str, directory: Path) -> list[dict[str, Any]]:
    reader = await store.open(key)
    try:
        return await asyncio.to_thread(split_by_participant, reader, directory)
    finally:
        reader.close()


async def finish(
    sessions: async_sessionmaker[AsyncSession],
    store: BlobStore,
    recording_id: int,
    source: Path,
    *,
    bus: EventBus,
    actor: Actor | None,
    names: dict[str, tuple[str, str]] | None = None,
) -> None:
    """Digest the engine's file, seal it into the store, split it per participant, seal
    the parts, mark ready.

    The engine's plaintext file is removed as soon as it is sealed; the parts are cut
    from the sealed copy into a working folder beside it (in the data directory, never
    the system's temporary one), and each part is removed once sealed. The working
    folder goes whatever happens.
    """
    names = names or {}
    master = f"recordings/{recording_id}/recording.mkv"
    work = source.parent / f".split-{recording_id}"
    try:
        sha, size = await asyncio.to_thread(_digest, source)
        await store.put_file(master, source)
        work.mkdir(mode=0o700, exist_ok=True)
        parts = await _split_sealed(store, master, work)
        tracks: list[dict[str, Any]] = []
        for n, part in enumerate(parts):
            key = f"recordings/{recording_id}/part-{n}.webm"
            identity, name = names.get(part["participant"], ("", part["participant"]))
            part_sha, part_size = await asyncio.to_thread(_digest, part["path"])
            tracks.append(
                {
                    "n": n,
                    "participant": part["participant"],
                    "identity": identity,
                    "name": name,
                    "kinds": part["kinds"],
                    "key": key,
                    "size": part_size,
                    "sha256": part_sha,
                }
            )
            await store.put_file(key, part["path"])
        async with sessions.begin() as db:
            row = await db.get(Recording, recording_id)
            if row is None:
                return
            row.ended_at = now()
            row.storage_key, row.size, row.sha256, row.tracks = master, size, sha, tracks
            await MACHINE.transition(
                session=db,
                bus=bus,
                entity=row,
                action="finish",
                actor=actor or audit.SYSTEM,
                details={"sha256": sha, "size": size, "parts": len(tracks)},
            )
    except Exception:
        logger.exception("recording %s could not be finalised", recording_id)
        async with sessions.begin() as db:
            await fail(db, bus, recording_id)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


def read(row: Recording) -> RecordingRead:
    return RecordingRead(
        id=row.id,
        meeting_id=row.meeting_id,
        state=row.state,
        engine=row.engine,
        started_at=row.started_at,
        ended_at=row.ended_at,
        included=list(row.included),
        excluded=list(row.excluded),
        size=row.size,
        sha256=row.sha256,
        retention=row.retention,
        tracks=[{k: v for k, v in t.items() if k != "key"} for t in row.tracks],
    )


async def list_for(db: AsyncSession, meeting_id: int) -> list[Recording]:
    return list(
        (
            await db.scalars(
                select(Recording)
                .where(Recording.meeting_id == meeting_id)
                .order_by(Recording.id.desc())
            )
        ).all()
    )


async def get(db: AsyncSession, meeting_id: int, recording_id: int) -> Recording:
    row = await db.get(Recording, recording_id)
    if row is None or row.meeting_id != meeting_id:
        raise NotFound("recording not found", code="recording.not_found")
    return row


def part(row: Recording, n: int) -> dict[str, Any]:
    if row.state != READY:
        raise IllegalTransition(state=row.state, action="play", code="recording.not_ready")
    for track in row.tracks:
        if track.get("n") == n:
            return dict(track)
    raise NotFound("no such part of the recording", code="recording.part_not_found")
