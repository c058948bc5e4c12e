"""Recording orchestration in a live meeting: who is included (consent), start,
pause, stop, and storing the result in the background (a part of `RoomControl`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from yiyun.audit.service import Actor
from yiyun.core.errors import IllegalTransition, YiyunError
from yiyun.meetings import recording, recording_work
from yiyun.meetings.models import Meeting
from yiyun.meetings.room_base import RoomBase
from yiyun.meetings.room_state import ActiveRecording, MeetingRoom, Occupant

logger = logging.getLogger(__name__)


class RecordingMixin(RoomBase):
    # --- recording -----------------------------------------------------------------------

    def _included(self, room: MeetingRoom) -> set[str]:
        return {
            str(o.participant)
            for o in room.admitted()
            if o.participant is not None
            and (o.consent if o.role != "screen" else self._owner_consents(room, o))
        }

    def _owner_consents(self, room: MeetingRoom, screen: Occupant) -> bool:
        owner = room.by_participant(screen.screen_of)
        return owner is not None and owner.consent

    async def _start_recording(self, room: MeetingRoom, chair: Occupant) -> None:
        if room.recording is not None:
            raise IllegalTransition(
                state=room.recording.state, action="record_start", code="meeting.recording_active"
            )
        included = self._included(room)
        everyone = {str(o.participant) for o in room.admitted() if o.participant}
        async with self.sessions.begin() as db:
            row = await recording.begin(
                db,
                meeting_id=room.meeting_id,
                engine=self.hub.engine.name,
                started_by=chair.actor(),
                included=sorted(self._identities(room, included)),
                excluded=sorted(self._identities(room, everyone - included)),
            )
        directory = self.recordings_base / f"meeting-{room.meeting_id}-rec-{row.id}"
        directory.mkdir(parents=True, exist_ok=True)
        lock = recording_work.hold(directory)
        try:
            await self.hub.engine.start_recording(room.room_id, str(row.id), included, directory)
        except YiyunError:
            recording_work.release(lock)
            async with self.sessions.begin() as db:
                await recording.fail(db, self.bus, row.id)
            raise
        room.recording = ActiveRecording(row.id, "recording", directory, included, lock=lock)
        self._remember(room, room.recording)
        room.recording.watcher = asyncio.create_task(self._watch_consent(room, room.recording))
        await self._recording_changed(room)

    async def _watch_consent(self, room: MeetingRoom, rec: ActiveRecording) -> None:
        """Consent can be withdrawn while a recording runs: the patient's withdrawal
        stops it; a linked guest's withdrawal leaves that guest out from then on."""
        while room.recording is rec:
            await asyncio.sleep(self.consent_check_seconds)
            if room.recording is not rec:
                return
            try:
                async with self.sessions() as db:
                    meeting = await db.get(Meeting, room.meeting_id)
                    patient_ok = meeting is None or await recording.patient_consents(db, meeting)
                    guests = await recording.consenting_guests(db, meeting) if meeting else set()
            except SQLAlchemyError:
                logger.warning("meeting %s: consent check failed; trying again", room.meeting_id)
                continue
            if not patient_ok:
                await self._audit_system(room, "meeting.recording.consent_withdrawn")
                await self._stop_recording(room, actor=None)
                return
            room.consenting_guests = guests
            changed = False
            for o in room.admitted():
                if o.claims.guest_id is not None and o.claims.guest_id not in guests and o.consent:
                    o.consent, changed = False, True
            if changed:
                await self._update_recording(room)
                await self._roster_changed(room)

    def _remember(self, room: MeetingRoom, rec: ActiveRecording) -> None:
        for p in rec.included:
            o = room.by_participant(p)
            if o is not None:
                label = o.name if o.role != "screen" else f"{o.name} (screen)"
                rec.names[p] = (o.identity, label)

    def _identities(self, room: MeetingRoom, participants: Iterable[str]) -> set[str]:
        found = [room.by_participant(p) for p in participants]
        return {
            (o.identity + ":screen" if o.role == "screen" else o.identity)
            for o in found
            if o is not None
        }

    async def _update_recording(self, room: MeetingRoom) -> None:
        rec = room.recording
        if rec is None:
            return
        included = self._included(room)
        if included != rec.included:
            rec.included = included
            self._remember(room, rec)
            await self.hub.engine.set_recording_participants(room.room_id, str(rec.id), included)
            async with self.sessions.begin() as db:
                await recording.note_participants(
                    db, rec.id, sorted(self._identities(room, included))
                )
            await self._recording_changed(room)

    async def _pause_recording(self, room: MeetingRoom, *, pause: bool) -> None:
        rec = room.recording
        wanted = "recording" if pause else "paused"
        if rec is None or rec.state != wanted:
            raise IllegalTransition(
                state=rec.state if rec else "stopped",
                action="record_pause" if pause else "record_resume",
                code="meeting.recording_state",
            )
        if pause:
            await self.hub.engine.pause_recording(room.room_id, str(rec.id))
        else:
            await self.hub.engine.resume_recording(room.room_id, str(rec.id))
        rec.state = "paused" if pause else "recording"
        await self._recording_changed(room)

    async def _stop_recording(self, room: MeetingRoom, *, actor: Actor | None) -> None:
        rec = room.recording
        if rec is None:
            raise IllegalTransition(
                state="stopped", action="record_stop", code="meeting.recording_state"
            )
        room.recording = None
        if rec.watcher is not None and rec.watcher is not asyncio.current_task():
            rec.watcher.cancel()
        await self._recording_changed(room)
        path = await self.hub.engine.stop_recording(room.room_id, str(rec.id))
        # Digesting, splitting and storing a long recording takes a while: it runs in
        # the background so the chair's socket keeps answering (the row turns `ready`).
        task = asyncio.create_task(self._finish(rec, path, actor))
        self._finishing.add(task)
        task.add_done_callback(self._finishing.discard)

    async def _finish(self, rec: ActiveRecording, path: Path, actor: Actor | None) -> None:
        # A failure is logged and the row marked `failed` inside `finish`; what it left
        # in the working folder is removed by the next start-up's sweep.
        try:
            with contextlib.suppress(Exception):
                await recording.finish(
                    self.sessions,
                    self.store,
                    rec.id,
                    path,
                    bus=self.bus,
                    actor=actor,
                    names=rec.names,
                )
        finally:
            recording_work.release(rec.lock)

    @property
    def recordings_base(self) -> Path:
        return self.recordings_dir

    async def sweep_working_files(self) -> recording_work.Swept:
        """At start-up: remove the plaintext of recordings no longer running."""
        return await recording_work.sweep(self.sessions, self.bus, self.recordings_base)

    async def _recording_changed(self, room: MeetingRoom) -> None:
        rec = room.recording
        state = rec.state if rec else "stopped"
        included = sorted(rec.included) if rec else []
        for o in room.people():
            await o.emit("recording", state=state, included=included)
        await self._roster_changed(room)
