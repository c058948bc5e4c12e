"""An anchor (seq and hash of the last entry) kept outside the database detects a
truncated tail, which the chain alone cannot."""

from __future__ import annotations

from sqlalchemy import delete

from yiyun.audit import service as audit
from yiyun.audit.models import AuditEvent
from yiyun.audit.service import Actor

ACTOR = Actor(user_id=1, username="alice")


async def _append(app, n: int) -> None:
    for i in range(n):
        async with app.state.sessions() as s, s.begin():
            await audit.record(session=s, actor=ACTOR, action="patient.read", patient_id=i + 1)


async def test_an_anchor_detects_deleted_tail_entries(app) -> None:
    await _append(app, 5)
    async with app.state.sessions() as s:
        first = await audit.verify(session=s)
    assert first.ok and first.head_seq == 5 and first.anchor.startswith("5:")
    async with app.state.sessions() as s, s.begin():
        await s.execute(delete(AuditEvent).where(AuditEvent.seq >= 4))
    async with app.state.sessions() as s:
        plain = await audit.verify(session=s)
        anchored = await audit.verify(session=s, anchor=first.anchor)
    assert plain.ok  # the chain alone cannot see a cut tail
    assert not anchored.ok and anchored.first_bad_seq == 5
    assert "truncated" in (anchored.reason or "")


async def test_an_anchor_with_a_different_hash_is_refused(app) -> None:
    await _append(app, 3)
    async with app.state.sessions() as s:
        good = await audit.verify(session=s)
        bad = await audit.verify(session=s, anchor=f"{good.head_seq}:{'0' * 64}")
        later = await audit.verify(session=s, anchor=good.anchor)
    assert later.ok
    assert not bad.ok and "does not match" in (bad.reason or "")


async def test_an_unanswered_id_lookup_is_audited(client, world) -> None:
    from datetime import date

    from yiyun.records import resident_id

    number = resident_id.make("440305", date(1990, 5, 5), 123)
    res = await client.post(
        "/api/v1/patients/lookup", headers=world.auth("alice"), data={"id_number": number}
    )
    assert res.status_code == 404
    async with client._transport.app.state.sessions() as s:  # type: ignore[attr-defined]
        from sqlalchemy import select

        rows = (
            await s.scalars(select(AuditEvent).where(AuditEvent.action == "patient.lookup"))
        ).all()
    assert [r.outcome for r in rows] == ["not_found"]
    assert number not in str([r.details for r in rows])
