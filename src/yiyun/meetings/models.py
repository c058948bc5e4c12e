"""Meeting tables: meetings, members, guest invitations, chat and files, call quality
samples and recordings."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from yiyun.core.db import Base, IdMixin, TimestampMixin
from yiyun.core.statemachine import state_type


class MeetingState(StrEnum):
    SCHEDULED = "scheduled"
    OPEN = "open"
    ENDED = "ended"
    CANCELLED = "cancelled"


class Meeting(IdMixin, TimestampMixin, Base):
    __tablename__ = "meetings_meeting"
    __table_args__ = (Index("ix_meetings_meeting_subject", "subject_type", "subject_id"),)

    code: Mapped[str] = mapped_column(String(16), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16), default="instant")
    state: Mapped[MeetingState] = mapped_column(state_type(MeetingState), default=MeetingState.OPEN)
    host_id: Mapped[int] = mapped_column(ForeignKey("org_user.id"))
    institution_id: Mapped[int] = mapped_column(ForeignKey("org_institution.id"), index=True)
    ended_at: Mapped[datetime | None]
    # scheduling
    starts_at: Mapped[datetime | None] = mapped_column(index=True)
    duration_minutes: Mapped[int] = mapped_column(default=60)
    description: Mapped[str] = mapped_column(Text, default="")
    reminder_sent_at: Mapped[datetime | None]
    # the patient the meeting is about (recording needs this patient's consent)
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("records_patient.id"), index=True)
    # room policy
    waiting_room: Mapped[bool] = mapped_column(Boolean, default=True)
    locked: Mapped[bool] = mapped_column(Boolean, default=False)
    allow_unmute: Mapped[bool] = mapped_column(Boolean, default=True)
    passcode_hash: Mapped[str | None] = mapped_column(String(128))
    # what the meeting is for: a consultation, a clinic visit, an incident…
    subject_type: Mapped[str | None] = mapped_column(String(32))
    subject_id: Mapped[int | None]
    # "meeting" (everyone may speak) or "webinar" (a lecture: presenters and panelists
    # speak, the audience receives until the host brings one on stage)
    mode: Mapped[str] = mapped_column(String(16), default="meeting", server_default="meeting")

    @property
    def room_id(self) -> str:
        return f"meeting-{self.code}"


class MeetingMember(IdMixin, Base):
    """Who may join: the host, co-hosts, invited staff and observers."""

    __tablename__ = "meetings_member"
    __table_args__ = (UniqueConstraint("meeting_id", "user_id"),)

    meeting_id: Mapped[int] = mapped_column(
        ForeignKey("meetings_meeting.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("org_user.id"), index=True)
    role: Mapped[str] = mapped_column(String(16), default="participant")
    invited_at: Mapped[datetime]


class MeetingGuest(IdMixin, TimestampMixin, Base):
    """A one-time invitation for someone without an account (a patient, a relative).

    The link token and the verification code are stored only as hashes; the phone
    number is encrypted. The link binds to the first browser that passes the code.
    """

    __tablename__ = "meetings_guest"

    meeting_id: Mapped[int] = mapped_column(
        ForeignKey("meetings_meeting.id", ondelete="CASCADE"), index=True
    )
    display_name: Mapped[str] = mapped_column(String(100))
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("records_patient.id"))
    phone_enc: Mapped[str | None] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(default=0)
    verified_at: Mapped[datetime | None]
    browser_hash: Mapped[str | None] = mapped_column(String(64))
    revoked_at: Mapped[datetime | None]
    invited_by_id: Mapped[int] = mapped_column(ForeignKey("org_user.id"))
    # First admitted into the call (by the chair, or directly without a waiting room):
    # until then the guest gets nothing of the meeting's content (chat files included).
    admitted_at: Mapped[datetime | None]


class MeetingRemoval(IdMixin, Base):
    """Someone the chair put out of a meeting, or a guest the chair did not admit.

    Kept until the host allows them back, so an emptied room does not forget it.
    `identity` is `u<user id>` or `g<guest id>`; `reason` is "removed" or "denied".
    """

    __tablename__ = "meetings_removal"
    __table_args__ = (UniqueConstraint("meeting_id", "identity"),)

    meeting_id: Mapped[int] = mapped_column(
        ForeignKey("meetings_meeting.id", ondelete="CASCADE"), index=True
    )
    identity: Mapped[str] = mapped_column(String(24))
    name: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(String(16))
    by: Mapped[str] = mapped_column(String(24))
    at: Mapped[datetime]


class MeetingFile(IdMixin, Base):
    """A file shared in a meeting's chat; the bytes live in the storage backend."""

    __tablename__ = "meetings_file"

    meeting_id: Mapped[int] = mapped_column(
        ForeignKey("meetings_meeting.id", ondelete="CASCADE"), index=True
    )
    storage_key: Mapped[str] = mapped_column(String(200))
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    sender: Mapped[str] = mapped_column(String(24))
    created_at: Mapped[datetime]


class ChatMessage(IdMixin, Base):
    """A chat line; written before it is delivered. `(meeting, sender, client_id)` is
    unique so a message re-sent after a reconnect is stored once."""

    __tablename__ = "meetings_chat"
    __table_args__ = (UniqueConstraint("meeting_id", "sender", "client_id"),)

    meeting_id: Mapped[int] = mapped_column(
        ForeignKey("meetings_meeting.id", ondelete="CASCADE"), index=True
    )
    sender: Mapped[str] = mapped_column(String(24))  # "u<user id>" or "g<guest id>"
    sender_name: Mapped[str] = mapped_column(String(100))
    client_id: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text, default="")
    file_id: Mapped[int | None] = mapped_column(ForeignKey("meetings_file.id"))
    created_at: Mapped[datetime]


class QualitySample(IdMixin, Base):
    """One participant's connection figures at one moment, with the E-model rating."""

    __tablename__ = "meetings_quality"
    __table_args__ = (Index("ix_meetings_quality_meeting_at", "meeting_id", "at"),)

    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings_meeting.id", ondelete="CASCADE"))
    sender: Mapped[str] = mapped_column(String(24))
    sender_name: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime]
    rtt_ms: Mapped[float]
    jitter_ms: Mapped[float]
    loss_pct: Mapped[float]
    send_kbps: Mapped[float]
    recv_kbps: Mapped[float]
    fps: Mapped[float]
    width: Mapped[int]
    height: Mapped[int]
    r_factor: Mapped[float]
    mos: Mapped[float]


class Recording(IdMixin, Base):
    """A meeting recording: who was in it, who was left out, and the file's digest."""

    __tablename__ = "meetings_recording"

    meeting_id: Mapped[int] = mapped_column(
        ForeignKey("meetings_meeting.id", ondelete="CASCADE"), index=True
    )
    state: Mapped[str] = mapped_column(String(16), default="recording")
    engine: Mapped[str] = mapped_column(String(16))
    started_by_id: Mapped[int] = mapped_column(ForeignKey("org_user.id"))
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    included: Mapped[list[Any]] = mapped_column(JSON, default=list)
    excluded: Mapped[list[Any]] = mapped_column(JSON, default=list)
    storage_key: Mapped[str | None] = mapped_column(String(200))
    size: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    retention: Mapped[str] = mapped_column(String(32), default="clinical-30y")
    tracks: Mapped[list[Any]] = mapped_column(JSON, default=list)


class ChairHold(IdMixin, Base):
    """What the chair holds for one person in one meeting, whatever connection they use:
    microphone or camera stopped by the chair, and left out of recordings.

    `identity` is "u<user id>" or "g<guest id>"; a reload, a second tab, a resumed
    socket or another app node reads the same row."""

    __tablename__ = "meetings_chair_hold"
    __table_args__ = (UniqueConstraint("meeting_id", "identity"),)

    meeting_id: Mapped[int] = mapped_column(
        ForeignKey("meetings_meeting.id", ondelete="CASCADE"), index=True
    )
    identity: Mapped[str] = mapped_column(String(24))
    audio_held: Mapped[bool] = mapped_column(Boolean, default=False)
    video_held: Mapped[bool] = mapped_column(Boolean, default=False)
    recording_excluded: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime]


class PollState(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Poll(IdMixin, Base):
    """A question the chair puts to the meeting, with 2–10 options; single or multiple
    choice; anonymous polls store ballots without their voter (see `PollBallot`)."""

    __tablename__ = "meetings_poll"

    meeting_id: Mapped[int] = mapped_column(
        ForeignKey("meetings_meeting.id", ondelete="CASCADE"), index=True
    )
    question: Mapped[str] = mapped_column(String(300))
    options: Mapped[list[str]] = mapped_column(JSON)
    multiple: Mapped[bool] = mapped_column(Boolean, default=False)
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[PollState] = mapped_column(state_type(PollState), default=PollState.OPEN)
    created_by: Mapped[int] = mapped_column(ForeignKey("org_user.id"))
    created_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]


class PollVoter(IdMixin, Base):
    """Who has voted in a poll (once each); kept apart from the ballots."""

    __tablename__ = "meetings_poll_voter"
    __table_args__ = (UniqueConstraint("poll_id", "user_id"),)

    poll_id: Mapped[int] = mapped_column(ForeignKey("meetings_poll.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("org_user.id"))


class PollBallot(IdMixin, Base):
    """The choices of one vote (option indexes). `user_id` is empty in an anonymous
    poll, so nothing stored links a voter to their choices."""

    __tablename__ = "meetings_poll_ballot"

    poll_id: Mapped[int] = mapped_column(
        ForeignKey("meetings_poll.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(ForeignKey("org_user.id"))
    choices: Mapped[list[int]] = mapped_column(JSON)


class QuestionState(StrEnum):
    OPEN = "open"
    ANSWERED = "answered"
    HIDDEN = "hidden"


class Question(IdMixin, Base):
    """A question asked in a meeting's Q&A; others upvote it, the chair marks it
    answered or hides it."""

    __tablename__ = "meetings_question"

    meeting_id: Mapped[int] = mapped_column(
        ForeignKey("meetings_meeting.id", ondelete="CASCADE"), index=True
    )
    author_id: Mapped[int] = mapped_column(ForeignKey("org_user.id"))
    body: Mapped[str] = mapped_column(String(1000))
    state: Mapped[QuestionState] = mapped_column(
        state_type(QuestionState), default=QuestionState.OPEN
    )
    votes: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime]
    answered_at: Mapped[datetime | None]


class QuestionVote(IdMixin, Base):
    __tablename__ = "meetings_question_vote"
    __table_args__ = (UniqueConstraint("question_id", "user_id"),)

    question_id: Mapped[int] = mapped_column(ForeignKey("meetings_question.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("org_user.id"))


class Attendance(IdMixin, Base):
    """One connection's stay in a meeting: admitted at `joined_at`, gone at `left_at`
    (None while connected, or when the node died before it saw the person leave).

    `identity` is "u<user id>" or "t<terminal id>" (a site's room system); the site is
    the person's or the terminal's institution when they joined. Guests are not
    recorded here (they have no site)."""

    __tablename__ = "meetings_attendance"
    __table_args__ = (Index("ix_meetings_attendance_meeting_identity", "meeting_id", "identity"),)

    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings_meeting.id", ondelete="CASCADE"))
    identity: Mapped[str] = mapped_column(String(24))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("org_user.id"), index=True)
    terminal_id: Mapped[int | None] = mapped_column(ForeignKey("org_terminal.id"))
    institution_id: Mapped[int | None] = mapped_column(ForeignKey("org_institution.id"))
    connection: Mapped[str] = mapped_column(String(64))
    joined_at: Mapped[datetime]
    left_at: Mapped[datetime | None]


class DeckState(StrEnum):
    UPLOADED = "uploaded"  # waiting to be converted and rendered
    RENDERING = "rendering"
    READY = "ready"
    FAILED = "failed"


class SlideDeck(IdMixin, Base):
    """Slides a presenter uploaded to a meeting (a lecture): the PDF (a PPTX is converted
    first) and its pages rendered to PNG, all in the blob store under `storage_prefix`."""

    __tablename__ = "meetings_slide_deck"

    meeting_id: Mapped[int] = mapped_column(
        ForeignKey("meetings_meeting.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    storage_prefix: Mapped[str] = mapped_column(String(200))
    state: Mapped[DeckState] = mapped_column(state_type(DeckState), default=DeckState.UPLOADED)
    pages: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(String(500))
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("org_user.id"))
    created_at: Mapped[datetime]


class SlideChange(IdMixin, Base):
    """The page shown to everyone from `at` on: the slide track replayed with a recording."""

    __tablename__ = "meetings_slide_change"
    __table_args__ = (Index("ix_meetings_slide_change_meeting_at", "meeting_id", "at"),)

    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings_meeting.id", ondelete="CASCADE"))
    deck_id: Mapped[int] = mapped_column(ForeignKey("meetings_slide_deck.id", ondelete="CASCADE"))
    page: Mapped[int]
    by: Mapped[str] = mapped_column(String(24))  # "u<user id>"
    at: Mapped[datetime]


class Presence(IdMixin, Base):
    """One stay in a live meeting: who (identity, user or guest), in which role, from when
    to when. Written when the room admits someone and when they leave; `left_at` is null
    while they are in (or if the node stopped first). Attendance is derived from these."""

    __tablename__ = "meetings_presence"
    __table_args__ = (Index("ix_meetings_presence_meeting_identity", "meeting_id", "identity"),)

    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings_meeting.id", ondelete="CASCADE"))
    identity: Mapped[str] = mapped_column(String(24))  # "u<user id>" or "g<guest id>"
    user_id: Mapped[int | None] = mapped_column(ForeignKey("org_user.id"), index=True)
    guest_id: Mapped[int | None]
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    via: Mapped[str] = mapped_column(String(8), default="webrtc")  # "webrtc" or "hls"
    joined_at: Mapped[datetime]
    left_at: Mapped[datetime | None]
