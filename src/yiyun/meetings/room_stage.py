"""Webinar rooms (lectures): the stage, the slides and moderated questions (a part of
`RoomControl`, see `room.py`).

Presenters, panelists and the chair speak and show video. The audience receives only:
its publish offers are refused by the server, its chat lines are questions that reach
the chair and presenters first and everyone only once a chair approves them. A chair
brings an audience member with a raised hand on stage (then they may publish) and
sends them back (their media is held and further offers refused). The page a
presenter shows is stored and fanned out over the bus, so every node and every late
joiner shows the same page.
"""

from __future__ import annotations

import secrets
from typing import Any

from yiyun.core.clock import now
from yiyun.core.errors import InvalidInput, NotFound, PermissionDenied
from yiyun.media import signaling as sig
from yiyun.meetings import chat, slides
from yiyun.meetings.room_base import RoomBase
from yiyun.meetings.room_relay import bus_channel
from yiyun.meetings.room_state import AUDIENCE, PRESENTERS, MeetingRoom, Occupant

MAX_QUESTIONS = 500  # waiting for moderation, per room


class StageMixin(RoomBase):
    def _publish_refusal(self, occupant: Occupant) -> str | None:
        if occupant.role == "observer":
            return "meeting.observer"
        if occupant.audience:
            return "meeting.audience"
        return None

    async def _stage(self, room: MeetingRoom, chair: Occupant, msg: sig.Control) -> dict[str, Any]:
        """`stage` / `unstage`: bring an audience member on stage, or send them back."""
        if not room.webinar:
            raise InvalidInput("this meeting has no stage", code="meeting.not_webinar")
        target = room.by_participant(msg.target)
        if target is None:
            raise NotFound("no such participant in the meeting", code="meeting.no_participant")
        if target.role != AUDIENCE:
            raise InvalidInput(
                "only audience members go on and off stage", code="meeting.not_audience"
            )
        on = msg.action == "stage"
        target.on_stage = on
        target.hand = False
        kinds: tuple[sig.MediaKind, ...] = ("audio", "video")
        for kind in kinds:
            # Back in the audience: what they published stops reaching anyone.
            await self._hold(room, [target], kind, held=not on, by=chair.name, notify=False)
        await target.emit("stage", on=on, by=chair.name)
        await self._roster_changed(room)
        return {"target": target.identity, "on": on}

    async def _slide(self, room: MeetingRoom, occupant: Occupant, msg: sig.Slide) -> None:
        if occupant.role not in PRESENTERS:
            raise PermissionDenied(
                "only presenters change the slides", code="meeting.presenter_only"
            )
        page = await slides.show(
            self.sessions,
            meeting_id=room.meeting_id,
            deck_id=msg.deck,
            page=msg.page,
            by=occupant.identity,
        )
        await self.bus.publish(bus_channel(room.meeting_id), {"type": "slide", **page})

    async def _question(self, room: MeetingRoom, occupant: Occupant, msg: sig.Chat) -> None:
        """An audience member's chat line waits for a chair (Q&A moderation)."""
        if msg.file_id is not None:
            raise PermissionDenied("the audience cannot share files", code="meeting.chat_forbidden")
        if not msg.text.strip():
            raise InvalidInput("the question is empty", code="meeting.empty_question")
        if len(room.questions) >= MAX_QUESTIONS:
            raise InvalidInput("too many questions are waiting", code="meeting.questions_full")
        qid = secrets.token_hex(5)
        question = {
            "id": qid,
            "identity": occupant.identity,
            "name": occupant.name,
            "client_id": msg.client_id,
            "text": msg.text,
            "at": now().isoformat(),
        }
        room.questions[qid] = question
        await occupant.emit("question_ack", client_id=msg.client_id, id=qid)
        for o in room.people():
            if o.role in PRESENTERS:
                await o.emit("question", **question)

    async def _moderate(self, room: MeetingRoom, chair: Occupant, msg: sig.Control) -> None:
        question = room.questions.pop(msg.target or "", None)
        if question is None:
            raise NotFound("no such question is waiting", code="meeting.no_question")
        for o in room.people():
            if o.role in PRESENTERS:
                await o.emit("question_done", id=question["id"], action=msg.action)
        if msg.action != "approve_question":
            return
        posted = await chat.post(
            self.sessions,
            meeting_id=room.meeting_id,
            sender=question["identity"],
            sender_name=question["name"],
            client_id=question["client_id"],
            text=question["text"],
            file_id=None,
        )
        if not posted.duplicate:
            await self.bus.publish(
                bus_channel(room.meeting_id), {"type": "chat", "message": posted.message}
            )
