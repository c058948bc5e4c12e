"""Access-matrix request makers for supervision (imported by test_access_matrix.py).

A sample needs a closed case on the target side: one closed consultation is written
directly per side (the workflow is tested elsewhere), then the authority draws from it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from yiyun.consult.models import Consult, ConsultState

API = "/api/v1"
VERDICT = {"verdict": "compliant", "score": 95, "comment": "规范"}


async def closed_consult(scene: Any, side: str | None) -> None:
    """One closed consultation of the side's institution (made once)."""
    key = side or "a"
    made: dict[str, int] = scene.__dict__.setdefault("closed_consults", {})
    if key in made:
        return
    ids = scene.ids(side)
    at = datetime.now(UTC) - timedelta(days=1)
    async with scene.app.state.sessions.begin() as s:
        consult = Consult(
            patient_id=ids["patient_id"],
            institution_id=ids["institution_id"],
            requester_id=ids["user_id"],
            reason="r",
            specialty="CARD",
            created_at=at,
            submitted_at=at,
            state=ConsultState.CLOSED,
            closed_at=at,
        )
        s.add(consult)
        await s.flush()
        made[key] = consult.id


def draw(*, form: bool = False) -> Any:
    """The request to draw a one-case sample of the side's closed consultations."""
    from tests.web.test_access_matrix import Req

    async def make(scene: Any, _who: str | None, side: str | None) -> Any:
        await closed_consult(scene, side)
        fields = {"kind": "consult", "institution_id": scene.ids(side)["institution_id"]}
        fields["size"] = 1
        return Req(data=fields) if form else Req(json=fields)

    return make


def sampled(*, json: dict[str, Any] | None = None, data: dict[str, Any] | None = None) -> Any:
    """A fresh sample of the side's institution (drawn by the authority): its id and its
    one case's review id in the path."""
    from tests.web.test_access_matrix import Req

    async def make(scene: Any, _who: str | None, side: str | None) -> Any:
        await closed_consult(scene, side)
        fields = {"kind": "consult", "institution_id": scene.ids(side)["institution_id"]}
        made = await scene.setup("POST", "/supervision/samples", who="hana", json=fields)
        path = {"sample_id": made["id"], "review_id": made["cases"][0]["id"]}
        return Req(path=path, json=json, data=data)

    return make
