"""Last-N: which publishers' video each subscriber receives in a big room.

Audio always flows. Video is forwarded only from the N participants who spoke most
recently (the speaker detector's order), topped up in join order with publishers who
have not spoken yet; a subscriber never counts itself. `n < 0` means no limit and
`n == 0` means audio only.
"""

from __future__ import annotations

from collections.abc import Sequence


def select_video(
    *, speakers: Sequence[str], publishers: Sequence[str], subscriber: str, n: int
) -> frozenset[str]:
    """The video publishers forwarded to `subscriber`.

    `speakers` is most recent first; `publishers` are the video publishers in join order.
    """
    candidates = [p for p in publishers if p != subscriber]
    if n < 0 or len(candidates) <= n:
        return frozenset(candidates)
    present = set(candidates)
    ranked = [p for p in dict.fromkeys(speakers) if p in present]
    ranked += [p for p in candidates if p not in set(ranked)]
    return frozenset(ranked[:n])
