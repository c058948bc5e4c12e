"""Light consultation use cases on the database (SQLite and PostgreSQL)."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import World
from tests.inquiry.helpers import AT, keys, make_inquiry, make_resident
from tests.inquiry.photos import GPS, photo_with_location
from yiyun.audit import service as audit
from yiyun.audit.models import AuditEvent
from yiyun.auth import service as auth_service
from yiyun.core.errors import Conflict, InvalidInput, NotFound
from yiyun.inquiry import jobs, service
from yiyun.inquiry.config import InquirySettings
from yiyun.inquiry.models import Inquiry, InquiryFile, InquiryState
from yiyun.meetings.models import Meeting, MeetingGuest
from yiyun.notify.models import Notification
from yiyun.records.service import Ctx

S = InquiryState
CFG = InquirySettings(max_photo_bytes=256 * 1024)
PDF = b"%PDF-1.4\n%%EOF\n"


def staff(world: World, name: str) -> Any:
    return auth_service.principal_of(world.users[name])


async def ask(app: Any, session: AsyncSession, world: World, resident: Any, **kw: Any) -> Inquiry:
    args: dict[str, Any] = {
        "institution_id": world.inst["chc_a"].id,
        "department_id": None,
        "title": "血压偏高",
        "body": "早上145/95",
        "uploads": [service.Upload("photo.jpg", photo_with_location())],
    } | kw
    return await service.ask(
        session=session, bus=app.state.bus, store=app.state.store, cfg=CFG,
        principal=resident, actor=resident.actor(), **args,
    )  # fmt: skip


async def test_a_question_lands_in_the_pool_with_a_clean_encrypted_photo(
    app: Any, session: AsyncSession, world: World
) -> None:
    resident = await make_resident(app, world, patient="pa")
    inquiry = await ask(app, session, world, resident)
    assert inquiry.state is S.OPEN and inquiry.patient_id == world.patients["pa"].id
    [row] = (await session.scalars(select(InquiryFile))).all()
    stored = await app.state.store.get(row.blob_key)
    with Image.open(io.BytesIO(stored)) as img:
        assert not img.getexif().get_ifd(GPS)
    raw = (app.state.settings.storage.path / row.blob_key).read_bytes()
    assert b"JFIF" not in raw and b"\xff\xd8" not in raw[:4]  # at rest: sealed, not a JPEG
    # the pool's doctors are told (alice; not the nurse, not another centre's doctor)
    told = set((await session.scalars(select(Notification.user_id))).all())
    assert world.users["alice"].id in told
    assert not told & {world.users["nina"].id, world.users["mallory"].id}


async def test_a_bad_photo_stores_nothing(app: Any, session: AsyncSession, world: World) -> None:
    resident = await make_resident(app, world)
    with pytest.raises(InvalidInput) as err:
        await ask(
            app, session, world, resident,
            uploads=[service.Upload("ok.jpg", photo_with_location()),
                     service.Upload("bad.jpg", b"not a photo")],
        )  # fmt: skip
    assert err.value.code == "upload.disguised"
    assert list(app.state.store.keys_stored()) == []


@pytest.mark.parametrize(
    ("where", "code"),
    [("chc_b", "inquiry.bad_pool"), ("authority", "inquiry.bad_pool"), ("lead", None)],
)
async def test_a_resident_asks_their_centre_or_the_lead_hospital(
    app: Any, session: AsyncSession, world: World, where: str, code: str | None
) -> None:
    resident = await make_resident(app, world)
    if code is None:
        inquiry = await ask(app, session, world, resident, institution_id=world.inst[where].id)
        assert inquiry.institution_id == world.inst["lead"].id
        return
    with pytest.raises(InvalidInput) as err:
        await ask(app, session, world, resident, institution_id=world.inst[where].id)
    assert err.value.code == code


async def test_residents_never_reach_each_others_questions(
    app: Any, session: AsyncSession, world: World
) -> None:
    owner, other = await make_resident(app, world), await make_resident(app, world)
    inquiry_id = await make_inquiry(app, world, owner)
    with pytest.raises(NotFound):
        await service.for_resident(session=session, principal=other, inquiry_id=inquiry_id)
    assert await service.mine_as_resident(session, other) == []


@pytest.mark.parametrize(
    ("who", "sees"), [("alice", True), ("nina", False), ("mallory", False), ("bob", False)]
)
async def test_staff_reads_are_audited_as_patient_data(
    app: Any, session: AsyncSession, world: World, who: str, sees: bool
) -> None:
    resident = await make_resident(app, world, patient="pa")
    inquiry_id = await make_inquiry(app, world, resident)
    principal = staff(world, who)
    if not sees:
        with pytest.raises(NotFound):
            await service.for_staff(
                session=session, principal=principal, actor=principal.actor(), inquiry_id=inquiry_id
            )
        return
    await service.for_staff(
        session=session, principal=principal, actor=principal.actor(), inquiry_id=inquiry_id
    )
    [entry] = [e for e in audit.queued(session) if e.action == "inquiry.read"]
    assert entry.patient_id == world.patients["pa"].id
    assert str(world.inst["chc_a"].id) in (entry.subject_institutions or "")


async def test_a_second_claim_is_refused(app: Any, session: AsyncSession, world: World) -> None:
    resident = await make_resident(app, world)
    inquiry_id = await make_inquiry(app, world, resident)
    alice = staff(world, "alice")
    await service.claim(
        session=session,
        bus=app.state.bus,
        principal=alice,
        actor=alice.actor(),
        inquiry_id=inquiry_id,
    )
    await session.commit()
    with pytest.raises(Conflict) as err:
        await service.claim(
            session=session, bus=app.state.bus, principal=alice, actor=alice.actor(),
            inquiry_id=inquiry_id,
        )  # fmt: skip
    assert err.value.code == "inquiry.illegal_transition"
    assert err.value.details == {"state": "claimed", "action": "claim"}


async def test_answer_follow_up_and_rate(app: Any, session: AsyncSession, world: World) -> None:
    resident = await make_resident(app, world)
    inquiry_id = await make_inquiry(app, world, resident, S.CLAIMED, claimer="alice")
    alice, bus, store = staff(world, "alice"), app.state.bus, app.state.store
    await service.reply(
        session=session, bus=bus, store=store, cfg=CFG, principal=alice, actor=alice.actor(),
        inquiry_id=inquiry_id, body="多休息", uploads=[service.Upload("plan.pdf", PDF)],
    )  # fmt: skip
    inquiry = await session.get(Inquiry, inquiry_id)
    assert inquiry is not None and inquiry.state is S.ANSWERED and inquiry.answered_at
    await service.follow_up(
        session=session, bus=bus, store=store, cfg=CFG, principal=resident,
        actor=resident.actor(), inquiry_id=inquiry_id, body="还是头晕",
    )  # fmt: skip
    assert inquiry.state is S.CLAIMED and inquiry.reply_due_at > AT + timedelta(hours=24)
    await service.reply(
        session=session, bus=bus, store=store, cfg=CFG, principal=alice, actor=alice.actor(),
        inquiry_id=inquiry_id, body="请来社康测血压",
    )  # fmt: skip
    for bad in (0, 6):
        with pytest.raises(InvalidInput):
            await service.close(
                session=session, bus=bus, principal=resident, actor=resident.actor(),
                inquiry_id=inquiry_id, rating=bad,
            )  # fmt: skip
    await service.close(
        session=session, bus=bus, principal=resident, actor=resident.actor(),
        inquiry_id=inquiry_id, rating=4, comment="很耐心",
    )  # fmt: skip
    assert (inquiry.state, inquiry.rating, inquiry.rating_comment) == (S.CLOSED, 4, "很耐心")
    thread = await service.thread(session, inquiry)
    assert [m.from_resident for m in thread.messages] == [True, False, True, False]


async def test_a_video_visit_gives_the_resident_a_guest_link(
    app: Any, session: AsyncSession, world: World
) -> None:
    resident = await make_resident(app, world)
    inquiry_id = await make_inquiry(app, world, resident, S.ANSWERED, claimer="alice")
    alice = staff(world, "alice")
    ctx = Ctx(principal=alice, actor=alice.actor(), cipher=app.state.cipher)
    inquiry = await service.video(
        session=session, bus=app.state.bus, ctx=ctx, meetings_cfg=app.state.settings.meetings,
        keys=keys(app), inquiry_id=inquiry_id,
    )  # fmt: skip
    meeting = await session.get(Meeting, inquiry.meeting_id)
    assert meeting is not None and (meeting.subject_type, meeting.subject_id) == (
        "inquiry",
        inquiry_id,
    )
    thread = await service.thread(session, inquiry, cipher=app.state.cipher)
    assert thread.guest_link and thread.guest_code and len(thread.guest_code) == 6
    guest = await session.scalar(select(MeetingGuest).where(MeetingGuest.meeting_id == meeting.id))
    assert guest is not None and guest.display_name == resident.name
    with pytest.raises(Conflict):
        await service.video(
            session=session, bus=app.state.bus, ctx=ctx, meetings_cfg=app.state.settings.meetings,
            keys=keys(app), inquiry_id=inquiry_id,
        )  # fmt: skip


async def test_overdue_questions_are_escalated_once(app: Any, world: World) -> None:
    resident = await make_resident(app, world)
    overdue = await make_inquiry(app, world, resident, due_in_hours=-1)
    claimed = await make_inquiry(app, world, resident, S.CLAIMED, claimer="alice", due_in_hours=-2)
    on_time = await make_inquiry(app, world, resident, due_in_hours=5)
    ctx = jobs.Context(app.state.sessions, app.state.bus, CFG)
    assert await jobs.escalate_due(ctx, at=AT) == 2
    assert await jobs.escalate_due(ctx, at=AT) == 0  # never twice
    async with app.state.sessions() as s:
        rows = {i.id: i for i in (await s.scalars(select(Inquiry))).all()}
        assert rows[overdue].escalated_at and rows[claimed].escalated_at
        assert rows[on_time].escalated_at is None and rows[overdue].state is S.OPEN
        kinds = (
            await s.execute(select(Notification.user_id, func.count()).where(
                Notification.kind == "inquiry.overdue").group_by(Notification.user_id))
        ).all()  # fmt: skip
        by_user = dict(kinds)
        assert by_user[world.users["alice"].id] == 2  # pool doctor (open) + claimer (claimed)
        assert by_user[world.users["ines"].id] == 1  # the administrator, for the unclaimed one
        entries = await s.scalar(
            select(func.count()).where(AuditEvent.action == "inquiry.escalate")
        )
        assert entries == 2
