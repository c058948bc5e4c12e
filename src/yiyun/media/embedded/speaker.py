"""Active speaker from RFC 6464 audio levels, without decoding audio.

Every forwarded audio packet carries the client-to-mixer audio level header extension
(RFC 6464): one byte, a voice-activity flag and the level in -dBov (0 is loudest, 127
is silence). `SpeakerDetector` averages each participant's level per tick, smooths it
(fast attack, slow release), and names a new dominant speaker only with hysteresis:

* the challenger must be above `threshold_dbov` (speech, not room noise),
* louder than the current speaker by `margin_db`,
* leading for `challenge_s` seconds, and the current speaker must have held the floor
  for `hold_s` seconds.

Silence never takes the floor away: the last speaker stays dominant until someone
else talks. The order in which participants became dominant (most recent first) is
what last-N uses. The V flag is ignored: not every sender sets it.
"""

from __future__ import annotations

from dataclasses import dataclass

SILENCE_DBOV = -127.0


def parse_audio_level(value: bytes) -> tuple[bool, int]:
    """RFC 6464 one-byte value: (voice activity flag, level in -dBov 0..127)."""
    if not value:
        raise ValueError("audio level extension is empty")
    return bool(value[0] & 0x80), value[0] & 0x7F


@dataclass
class _Talker:
    level_sum: float = 0.0
    count: int = 0
    score: float = SILENCE_DBOV
    level: float = SILENCE_DBOV  # mean of the last window, unsmoothed
    leading_since: float | None = None


class SpeakerDetector:
    def __init__(
        self,
        *,
        threshold_dbov: float = -50.0,
        margin_db: float = 6.0,
        challenge_s: float = 0.5,
        hold_s: float = 1.0,
        attack: float = 0.6,
        release: float = 0.3,
    ) -> None:
        self.threshold_dbov = threshold_dbov
        self.margin_db = margin_db
        self.challenge_s = challenge_s
        self.hold_s = hold_s
        self.attack = attack  # smoothing weight when a level rises: speech registers fast
        self.release = release  # and when it falls: short pauses do not drop a talker
        self.dominant: str | None = None
        self._dominant_since = 0.0
        self._talkers: dict[str, _Talker] = {}
        self.order: list[str] = []  # became dominant, most recent first

    def observe(self, participant_id: str, level: int) -> None:
        """One packet's level (0..127 -dBov)."""
        talker = self._talkers.setdefault(participant_id, _Talker())
        talker.level_sum += -float(min(max(level, 0), 127))
        talker.count += 1

    def remove(self, participant_id: str) -> None:
        self._talkers.pop(participant_id, None)
        if participant_id in self.order:
            self.order.remove(participant_id)
        if self.dominant == participant_id:
            self.dominant = None

    def score(self, participant_id: str) -> float:
        """Smoothed level in dBov (what the hysteresis compares)."""
        talker = self._talkers.get(participant_id)
        return talker.score if talker is not None else SILENCE_DBOV

    def level(self, participant_id: str) -> float:
        """Mean level in dBov over the last window."""
        talker = self._talkers.get(participant_id)
        return talker.level if talker is not None else SILENCE_DBOV

    def evaluate(self, now: float) -> str | None:
        """Close the current window; the new dominant speaker, or None if unchanged."""
        for talker in self._talkers.values():
            window = talker.level_sum / talker.count if talker.count else SILENCE_DBOV
            talker.level = window
            weight = self.attack if window > talker.score else self.release
            talker.score += weight * (window - talker.score)
            talker.level_sum, talker.count = 0.0, 0
        ranked = sorted(self._talkers.items(), key=lambda kv: kv[1].score, reverse=True)
        leader = next(
            (pid for pid, t in ranked if t.score >= self.threshold_dbov),
            None,
        )
        for pid, talker in self._talkers.items():
            if pid != leader:
                talker.leading_since = None
        if leader is None or leader == self.dominant:
            return None
        talker = self._talkers[leader]
        if self.dominant is not None and talker.score < self.score(self.dominant) + self.margin_db:
            talker.leading_since = None
            return None
        if talker.leading_since is None:
            talker.leading_since = now
        if self.dominant is not None:
            if now - self._dominant_since < self.hold_s:
                return None
            if now - talker.leading_since < self.challenge_s:
                return None
        self.dominant = leader
        self._dominant_since = now
        talker.leading_since = None
        if leader in self.order:
            self.order.remove(leader)
        self.order.insert(0, leader)
        return leader
