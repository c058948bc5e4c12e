"""What is happening in a meeting's media room right now."""

from __future__ import annotations

from yiyun.media.engine import RoomNotFound
from yiyun.media.hub import SignalHub
from yiyun.meetings.schemas import LiveParticipant


async def participants(hub: SignalHub, room_id: str) -> list[LiveParticipant]:
    """Participants connected through this app node's engine (empty if the room is idle)."""
    if not hub.started:
        return []
    try:
        state = await hub.engine.room_state(room_id)
    except RoomNotFound:
        return []
    users = {s.participant: s.user_id for s in hub.sessions.values() if s.room == room_id}
    return [
        LiveParticipant(
            participant_id=p.participant_id,
            display_name=p.display_name,
            user_id=users.get(p.participant_id),
            kinds=sorted(x.kind for x in p.publications),
        )
        for p in state.participants
    ]
