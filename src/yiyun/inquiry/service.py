"""Light consultation use cases: ask, claim, reply, follow up, release, withdraw, close,
turn into a video visit; the worklists; reading a thread.

Residents reach only their own inquiries (anything else is "not found"). Staff reach an
inquiry of their institution's pool (doctors) or one they claimed; every staff read is
audited, as a read of patient data when the inquiry is linked to a patient record. Every
step goes through `workflow.transition` (audited, announced after commit); files are
checked and cleaned (`photos`) before they reach the encrypted blob store.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.audit import service as audit
from yiyun.audit.service import Actor
from yiyun.auth.principal import Principal
from yiyun.core.bus import EventBus
from yiyun.core.clock import district, now
from yiyun.core.crypto import FieldCipher
from yiyun.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from yiyun.core.storage import BlobStore
from yiyun.i18n.text import Text
from yiyun.inquiry import photos, workflow
from yiyun.inquiry.config import InquirySettings
from yiyun.inquiry.models import Inquiry, InquiryFile, InquiryMessage, InquiryState
from yiyun.meetings import guests as meeting_guests
from yiyun.meetings import schedule as meetings_schedule
from yiyun.meetings.config import MeetingSettings
from yiyun.meetings.schemas import GuestCreate, MeetingCreate, Subject
from yiyun.notify import service as notify_service
from yiyun.org.enums import InstitutionKind, Role
from yiyun.org.models import Department, Institution, User, UserRole
from yiyun.records import service as records_service
from yiyun.records.access import institutions_of
from yiyun.records.models import Patient
from yiyun.resident import service as resident_service
from yiyun.resident.models import Resident
from yiyun.resident.service import ResidentPrincipal

S = InquiryState
LINK_CONTEXT = "inquiry-guest-link"
MAX_BODY = 4000
NOT_FOUND = "inquiry not found"


@dataclass(frozen=True)
class Upload:
    filename: str
    data: bytes


@dataclass
class Thread:
    inquiry: Inquiry
    messages: list[InquiryMessage]
    files: dict[int, list[InquiryFile]]
    authors: dict[int, str]
    resident_name: str
    institution: Institution
    department: Department | None
    claimer: str | None = None
    guest_link: str | None = None
    guest_code: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _text(value: str, *, field_name: str, limit: int) -> str:
    value = value.strip()
    if not value:
        raise InvalidInput(
            "this field is required", code="inquiry.required", details={"field": field_name}
        )
    if len(value) > limit or "\x00" in value:
        raise InvalidInput(
            "this text is too long", code="inquiry.too_long", details={"field": field_name}
        )
    return value


def reply_due(cfg: InquirySettings, at: datetime) -> datetime:
    return at + timedelta(hours=cfg.reply_hours)


# --- where a resident may ask -------------------------------------------------------------


async def pools_for(session: AsyncSession, principal: ResidentPrincipal) -> list[Institution]:
    """The resident's own community centre, then the lead hospital(s)."""
    query = select(Institution).where(
        Institution.active.is_(True),
        (Institution.id == principal.institution_id)
        | (Institution.kind == InstitutionKind.LEAD_HOSPITAL),
    )
    rows = list((await session.scalars(query.order_by(Institution.id))).all())
    return sorted(rows, key=lambda i: i.id != principal.institution_id)


async def departments_of(session: AsyncSession, institution_ids: list[int]) -> list[Department]:
    query = select(Department).where(
        Department.institution_id.in_(institution_ids), Department.active.is_(True)
    )
    return list((await session.scalars(query.order_by(Department.code))).all())


async def _store_files(
    *,
    session: AsyncSession,
    store: BlobStore,
    cfg: InquirySettings,
    inquiry: Inquiry,
    message: InquiryMessage,
    uploads: Sequence[Upload],
    photos_only: bool,
) -> list[InquiryFile]:
    if len(uploads) > cfg.max_photos:
        raise InvalidInput(
            "too many files in one message",
            code="inquiry.too_many_files",
            details={"field": "files", "max": cfg.max_photos},
        )
    # check (and clean) every file before storing any of them
    checked = [
        photos.check_file(
            u.filename, u.data, max_bytes=cfg.max_photo_bytes, photos_only=photos_only
        )
        for u in uploads
    ]
    rows = []
    for meta, data in checked:
        key = f"inquiry/{inquiry.id}/{secrets.token_hex(16)}"
        await store.put(key, data)
        rows.append(
            InquiryFile(
                inquiry_id=inquiry.id,
                message_id=message.id,
                blob_key=key,
                filename=meta.filename,
                content_type=meta.content_type,
                size_bytes=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
                created_at=message.created_at,
            )
        )
    session.add_all(rows)
    await session.flush()
    return rows


async def _add_message(
    session: AsyncSession, inquiry: Inquiry, body: str, *, author_id: int | None
) -> InquiryMessage:
    message = InquiryMessage(
        inquiry_id=inquiry.id,
        from_resident=author_id is None,
        author_id=author_id,
        body=body,
        created_at=now(),
    )
    session.add(message)
    await session.flush()
    return message


async def pool_doctors(session: AsyncSession, inquiry: Inquiry) -> list[int]:
    """Who is told about a new or overdue question: the pool's doctors (its department's
    when they have one, else the institution's)."""
    query = (
        select(User.id, User.department_id)
        .join(UserRole, UserRole.user_id == User.id)
        .where(
            User.institution_id == inquiry.institution_id,
            User.active.is_(True),
            UserRole.role.in_(workflow.DOCTOR_ROLES),
        )
        .order_by(User.id)
    )
    rows = (await session.execute(query)).all()
    same = [uid for uid, dept in rows if dept is not None and dept == inquiry.department_id]
    return list(dict.fromkeys(same or [uid for uid, _ in rows]))[:50]


async def ask(
    *,
    session: AsyncSession,
    bus: EventBus,
    store: BlobStore,
    cfg: InquirySettings,
    principal: ResidentPrincipal,
    actor: Actor,
    institution_id: int,
    department_id: int | None,
    title: str,
    body: str,
    uploads: Sequence[Upload] = (),
) -> Inquiry:
    title = _text(title, field_name="title", limit=200)
    body = _text(body, field_name="body", limit=MAX_BODY)
    allowed = {i.id for i in await pools_for(session, principal)}
    if institution_id not in allowed:
        raise InvalidInput(
            "choose your community centre or the lead hospital",
            code="inquiry.bad_pool",
            details={"field": "institution_id"},
        )
    if department_id is not None:
        dept = await session.get(Department, department_id)
        if dept is None or dept.institution_id != institution_id or not dept.active:
            raise InvalidInput(
                "choose a department of that institution",
                code="inquiry.bad_department",
                details={"field": "department_id"},
            )
    at = now()
    inquiry = Inquiry(
        resident_id=principal.resident_id,
        institution_id=institution_id,
        department_id=department_id,
        patient_id=principal.patient_id,
        title=title,
        state=S.OPEN,
        reply_due_at=reply_due(cfg, at),
        rating_comment="",
        created_at=at,
        updated_at=at,
    )
    session.add(inquiry)
    await session.flush()
    message = await _add_message(session, inquiry, body, author_id=None)
    files = await _store_files(
        session=session,
        store=store,
        cfg=cfg,
        inquiry=inquiry,
        message=message,
        uploads=uploads,
        photos_only=True,
    )
    await audit.record(
        session=session,
        actor=actor,
        action="inquiry.ask",
        entity_type="inquiry",
        entity_id=inquiry.id,
        institution_id=institution_id,
        patient_id=inquiry.patient_id,
        details={"files": len(files), "department_id": department_id},
    )
    workflow.MACHINE.announce(
        session=session,
        bus=bus,
        entity_id=inquiry.id,
        action="ask",
        before=None,
        after=inquiry.state,
        at=at,
        extra=workflow.event_fields(inquiry),
    )
    await notify_service.notify(
        session=session,
        bus=bus,
        user_ids=await pool_doctors(session, inquiry),
        kind="inquiry.new",
        title=Text("New question from a resident: {title}", title=title),
        body=Text("Claim it from the pool to answer it."),
        link=f"/inquiries/{inquiry.id}",
    )
    return inquiry


# --- loading ------------------------------------------------------------------------------


async def _load(session: AsyncSession, inquiry_id: int) -> Inquiry:
    inquiry = await session.get(Inquiry, inquiry_id)
    if inquiry is None:
        raise NotFound(NOT_FOUND, code="inquiry.not_found")
    return inquiry


def staff_may_see(principal: Principal, inquiry: Inquiry) -> bool:
    return workflow.in_pool(principal, inquiry) or principal.user_id == inquiry.claimed_by_id


def staff_query(principal: Principal) -> Select[Inquiry]:
    """Inquiries a staff member may open: their pool's (doctors) or claimed by them."""
    mine = Inquiry.claimed_by_id == principal.user_id
    if principal.has(*workflow.DOCTOR_ROLES):
        return select(Inquiry).where(mine | (Inquiry.institution_id == principal.institution_id))
    return select(Inquiry).where(mine)


async def audit_staff_read(
    session: AsyncSession, actor: Actor, inquiry: Inquiry, action: str = "inquiry.read"
) -> None:
    patient = await session.get(Patient, inquiry.patient_id) if inquiry.patient_id else None
    await audit.record(
        session=session,
        actor=actor,
        action=action,
        entity_type="inquiry",
        entity_id=inquiry.id,
        patient_id=inquiry.patient_id,
        subject_institutions=institutions_of(patient)
        if patient is not None
        else frozenset({inquiry.institution_id}),
    )


async def for_staff(
    *, session: AsyncSession, principal: Principal, actor: Actor, inquiry_id: int
) -> Inquiry:
    """An inquiry a doctor of its pool or its claimer may open (audited); else 404."""
    inquiry = await _load(session, inquiry_id)
    if not staff_may_see(principal, inquiry):
        raise NotFound(NOT_FOUND, code="inquiry.not_found")
    await audit_staff_read(session, actor, inquiry)
    return inquiry


async def for_resident(
    *, session: AsyncSession, principal: ResidentPrincipal, inquiry_id: int
) -> Inquiry:
    inquiry = await _load(session, inquiry_id)
    if inquiry.resident_id != principal.resident_id:
        raise NotFound(NOT_FOUND, code="inquiry.not_found")
    return inquiry


async def thread(
    session: AsyncSession, inquiry: Inquiry, *, cipher: FieldCipher | None = None
) -> Thread:
    messages = list(
        (
            await session.scalars(
                select(InquiryMessage)
                .where(InquiryMessage.inquiry_id == inquiry.id)
                .order_by(InquiryMessage.created_at, InquiryMessage.id)
            )
        ).all()
    )
    files: dict[int, list[InquiryFile]] = {}
    for row in (
        await session.scalars(
            select(InquiryFile).where(InquiryFile.inquiry_id == inquiry.id).order_by(InquiryFile.id)
        )
    ).all():
        files.setdefault(row.message_id, []).append(row)
    author_ids = {m.author_id for m in messages if m.author_id} | (
        {inquiry.claimed_by_id} if inquiry.claimed_by_id else set()
    )
    authors = {
        uid: name
        for uid, name in (
            await session.execute(select(User.id, User.display_name).where(User.id.in_(author_ids)))
        ).all()
    }
    resident = await session.get(Resident, inquiry.resident_id)
    institution = await session.get(Institution, inquiry.institution_id)
    if institution is None:
        raise NotFound(NOT_FOUND, code="inquiry.not_found")
    dept = await session.get(Department, inquiry.department_id) if inquiry.department_id else None
    link = code = None
    if cipher is not None and inquiry.guest_link_enc and inquiry.guest_code_enc:
        link = cipher.decrypt(inquiry.guest_link_enc, context=LINK_CONTEXT)
        code = cipher.decrypt(inquiry.guest_code_enc, context=LINK_CONTEXT)
    return Thread(
        inquiry=inquiry,
        messages=messages,
        files=files,
        authors=authors,
        resident_name=resident.name if resident else "",
        institution=institution,
        department=dept,
        claimer=authors.get(inquiry.claimed_by_id) if inquiry.claimed_by_id else None,
        guest_link=link,
        guest_code=code,
    )


async def file_for(session: AsyncSession, inquiry: Inquiry, file_id: int) -> InquiryFile:
    row = await session.get(InquiryFile, file_id)
    if row is None or row.inquiry_id != inquiry.id:
        raise NotFound("file not found", code="inquiry.file_not_found")
    return row


# --- steps --------------------------------------------------------------------------------


async def claim(
    *, session: AsyncSession, bus: EventBus, principal: Principal, actor: Actor, inquiry_id: int
) -> Inquiry:
    """Take a question from the pool. Two doctors at once: exactly one wins (the row is
    taken by a conditional UPDATE; the other gets 409)."""
    inquiry = await _load(session, inquiry_id)
    if not staff_may_see(principal, inquiry):
        raise NotFound(NOT_FOUND, code="inquiry.not_found")
    workflow.MACHINE.check(inquiry, "claim", principal)
    at = now()
    taken = await session.execute(
        update(Inquiry)
        .where(Inquiry.id == inquiry.id, Inquiry.claimed_by_id.is_(None))
        .values(claimed_by_id=principal.user_id, claimed_at=at)
        .execution_options(synchronize_session=False)
    )
    if getattr(taken, "rowcount", 0) != 1:
        raise Conflict(
            "another doctor has already taken this question", code="inquiry.already_claimed"
        )
    await session.refresh(inquiry)
    await workflow.transition(
        session=session,
        bus=bus,
        inquiry=inquiry,
        action="claim",
        actor=actor,
        principal=principal,
    )
    return inquiry


async def release(
    *, session: AsyncSession, bus: EventBus, principal: Principal, actor: Actor, inquiry_id: int
) -> Inquiry:
    inquiry = await _load(session, inquiry_id)
    if not staff_may_see(principal, inquiry):
        raise NotFound(NOT_FOUND, code="inquiry.not_found")
    await workflow.transition(
        session=session,
        bus=bus,
        inquiry=inquiry,
        action="release",
        actor=actor,
        principal=principal,
    )
    return inquiry


async def reply(
    *,
    session: AsyncSession,
    bus: EventBus,
    store: BlobStore,
    cfg: InquirySettings,
    principal: Principal,
    actor: Actor,
    inquiry_id: int,
    body: str,
    uploads: Sequence[Upload] = (),
) -> Inquiry:
    inquiry = await _load(session, inquiry_id)
    if not staff_may_see(principal, inquiry):
        raise NotFound(NOT_FOUND, code="inquiry.not_found")
    body = _text(body, field_name="body", limit=MAX_BODY)
    workflow.MACHINE.check(inquiry, "reply", principal)
    message = await _add_message(session, inquiry, body, author_id=principal.user_id)
    files = await _store_files(
        session=session,
        store=store,
        cfg=cfg,
        inquiry=inquiry,
        message=message,
        uploads=uploads,
        photos_only=False,
    )
    await workflow.transition(
        session=session,
        bus=bus,
        inquiry=inquiry,
        action="reply",
        actor=actor,
        principal=principal,
        details={"files": len(files)},
    )
    return inquiry


async def follow_up(
    *,
    session: AsyncSession,
    bus: EventBus,
    store: BlobStore,
    cfg: InquirySettings,
    principal: ResidentPrincipal,
    actor: Actor,
    inquiry_id: int,
    body: str,
    uploads: Sequence[Upload] = (),
) -> Inquiry:
    """The resident adds to the thread; a reply is owed again (the SLA restarts)."""
    inquiry = await for_resident(session=session, principal=principal, inquiry_id=inquiry_id)
    body = _text(body, field_name="body", limit=MAX_BODY)
    workflow.MACHINE.check(inquiry, "follow_up", principal)
    message = await _add_message(session, inquiry, body, author_id=None)
    files = await _store_files(
        session=session,
        store=store,
        cfg=cfg,
        inquiry=inquiry,
        message=message,
        uploads=uploads,
        photos_only=True,
    )
    await workflow.transition(
        session=session,
        bus=bus,
        inquiry=inquiry,
        action="follow_up",
        actor=actor,
        principal=principal,
        details={"files": len(files)},
    )
    inquiry.reply_due_at, inquiry.escalated_at = reply_due(cfg, now()), None
    if inquiry.claimed_by_id:
        await notify_service.notify(
            session=session,
            bus=bus,
            user_ids=[inquiry.claimed_by_id],
            kind="inquiry.follow_up",
            title=Text("The resident added to a question: {title}", title=inquiry.title),
            link=f"/inquiries/{inquiry.id}",
        )
    return inquiry


async def withdraw(
    *,
    session: AsyncSession,
    bus: EventBus,
    principal: ResidentPrincipal,
    actor: Actor,
    inquiry_id: int,
) -> Inquiry:
    inquiry = await for_resident(session=session, principal=principal, inquiry_id=inquiry_id)
    await workflow.transition(
        session=session,
        bus=bus,
        inquiry=inquiry,
        action="withdraw",
        actor=actor,
        principal=principal,
    )
    return inquiry


async def close(
    *,
    session: AsyncSession,
    bus: EventBus,
    principal: ResidentPrincipal,
    actor: Actor,
    inquiry_id: int,
    rating: int,
    comment: str = "",
) -> Inquiry:
    """The resident closes an answered question and rates the answer (1-5 and a comment)."""
    inquiry = await for_resident(session=session, principal=principal, inquiry_id=inquiry_id)
    if not 1 <= rating <= 5:
        raise InvalidInput(
            "choose a rating from 1 to 5", code="inquiry.bad_rating", details={"field": "rating"}
        )
    comment = comment.strip()
    if len(comment) > 500 or "\x00" in comment:
        raise InvalidInput(
            "this text is too long", code="inquiry.too_long", details={"field": "comment"}
        )
    await workflow.transition(
        session=session,
        bus=bus,
        inquiry=inquiry,
        action="close",
        actor=actor,
        principal=principal,
        details={"rating": rating},
    )
    inquiry.rating, inquiry.rating_comment = rating, comment
    if inquiry.claimed_by_id:
        await notify_service.notify(
            session=session,
            bus=bus,
            user_ids=[inquiry.claimed_by_id],
            kind="inquiry.rated",
            title=Text("A resident rated your answer: {stars} of 5", stars=rating),
            body=inquiry.title,
            link=f"/inquiries/{inquiry.id}",
        )
    return inquiry


async def video(
    *,
    session: AsyncSession,
    bus: EventBus,
    ctx: records_service.Ctx,
    meetings_cfg: MeetingSettings,
    keys: resident_service.Keys,
    inquiry_id: int,
) -> Inquiry:
    """Turn the question into a video visit now: a meeting for it (subject `inquiry`)
    and a one-time guest link for the resident, shown on their question's page."""
    inquiry = await _load(session, inquiry_id)
    if not staff_may_see(ctx.principal, inquiry):
        raise NotFound(NOT_FOUND, code="inquiry.not_found")
    workflow.MACHINE.check(inquiry, "video", ctx.principal)
    if inquiry.meeting_id is not None and inquiry.guest_link_enc:
        raise Conflict("a video visit is already open for this question", code="inquiry.video_open")
    resident = await session.get(Resident, inquiry.resident_id)
    if resident is None:
        raise NotFound(NOT_FOUND, code="inquiry.not_found")
    meeting = await meetings_schedule.create(
        session=session,
        ctx=ctx,
        data=MeetingCreate(title=f"轻问诊 · {inquiry.title}"[:200]),
        bus=bus,
        subject=Subject(type="inquiry", id=inquiry.id),
    )
    issued = await meeting_guests.invite(
        session=session,
        ctx=ctx,
        meeting_id=meeting.id,
        data=GuestCreate(
            display_name=resident.name, phone=resident_service.phone_of(resident, keys)
        ),
        config=meetings_cfg,
    )
    inquiry.meeting_id = meeting.id
    inquiry.guest_link_enc = ctx.cipher.encrypt(issued.link, context=LINK_CONTEXT)
    inquiry.guest_code_enc = ctx.cipher.encrypt(issued.code, context=LINK_CONTEXT)
    await workflow.transition(
        session=session,
        bus=bus,
        inquiry=inquiry,
        action="video",
        actor=ctx.actor,
        principal=ctx.principal,
        details={"meeting_id": meeting.id},
    )
    return inquiry


# --- worklists ----------------------------------------------------------------------------

POOL, MINE = "pool", "mine"
VIEWS = (POOL, MINE)


def _view_filter(principal: Principal, view: str) -> ColumnElement[bool]:
    if view == MINE:
        return Inquiry.claimed_by_id == principal.user_id
    if not principal.has(*workflow.DOCTOR_ROLES):
        raise PermissionDenied("only doctors see the question pool", code="inquiry.pool_only")
    return (Inquiry.institution_id == principal.institution_id) & (Inquiry.state == S.OPEN)


async def counts(session: AsyncSession, principal: Principal) -> dict[str, int]:
    found = {}
    for view in VIEWS:
        if view == POOL and not principal.has(*workflow.DOCTOR_ROLES):
            found[view] = 0
            continue
        where = _view_filter(principal, view)
        if view == MINE:
            where = where & Inquiry.state.in_([S.CLAIMED, S.ANSWERED])
        found[view] = int(await session.scalar(select(func.count()).where(where)) or 0)
    overdue = (
        Inquiry.state.in_(workflow.AWAITING_REPLY)
        & (Inquiry.reply_due_at <= now())
        & (
            (Inquiry.claimed_by_id == principal.user_id)
            | (
                (Inquiry.institution_id == principal.institution_id)
                & (Inquiry.state == S.OPEN)
                & (Inquiry.claimed_by_id.is_(None))
            )
        )
    )
    found["overdue"] = int(await session.scalar(select(func.count()).where(overdue)) or 0)
    return found


async def worklist(
    *,
    session: AsyncSession,
    principal: Principal,
    view: str,
    state: InquiryState | None = None,
    department_id: int | None = None,
    limit: int = 100,
) -> list[Inquiry]:
    if view not in VIEWS:
        raise InvalidInput("unknown list", code="inquiry.bad_view", details={"field": "view"})
    query = select(Inquiry).where(_view_filter(principal, view))
    if state is not None:
        query = query.where(Inquiry.state == state)
    elif view == MINE:
        query = query.where(Inquiry.state.in_([S.CLAIMED, S.ANSWERED]))
    if department_id is not None:
        query = query.where(Inquiry.department_id == department_id)
    query = query.order_by(Inquiry.reply_due_at, Inquiry.id).limit(limit)
    return list((await session.scalars(query)).all())


async def mine_as_resident(
    session: AsyncSession, principal: ResidentPrincipal, limit: int = 100
) -> list[Inquiry]:
    query = (
        select(Inquiry)
        .where(Inquiry.resident_id == principal.resident_id)
        .order_by(Inquiry.updated_at.desc(), Inquiry.id.desc())
        .limit(limit)
    )
    return list((await session.scalars(query)).all())


async def names(session: AsyncSession, rows: Sequence[Inquiry]) -> dict[str, dict[int, str]]:
    """Institution and department names for a list (each in both languages: zh|en)."""
    inst_ids = {r.institution_id for r in rows}
    dept_ids = {r.department_id for r in rows if r.department_id}
    insts = {
        i: f"{zh}|{en}"
        for i, zh, en in (
            await session.execute(
                select(Institution.id, Institution.name, Institution.name_en).where(
                    Institution.id.in_(inst_ids)
                )
            )
        ).all()
    }
    depts = {
        i: f"{zh}|{en}"
        for i, zh, en in (
            await session.execute(
                select(Department.id, Department.name, Department.name_en).where(
                    Department.id.in_(dept_ids)
                )
            )
        ).all()
    }
    return {"institutions": insts, "departments": depts}


# --- the reply SLA --------------------------------------------------------------------------


async def doctors_and_admins(session: AsyncSession, inquiry: Inquiry) -> list[int]:
    if inquiry.claimed_by_id:
        return [inquiry.claimed_by_id]
    admins = (
        await session.scalars(
            select(User.id)
            .join(UserRole, UserRole.user_id == User.id)
            .where(
                User.institution_id == inquiry.institution_id,
                User.active.is_(True),
                UserRole.role == Role.INSTITUTION_ADMIN,
            )
        )
    ).all()
    return list(dict.fromkeys([*await pool_doctors(session, inquiry), *admins]))


async def escalate(*, session: AsyncSession, bus: EventBus, inquiry_id: int, at: datetime) -> bool:
    """Escalate one overdue inquiry, once (claimed by a conditional UPDATE of
    `escalated_at`, so two nodes or two runs never escalate it twice)."""
    taken = await session.execute(
        update(Inquiry)
        .where(
            Inquiry.id == inquiry_id,
            Inquiry.escalated_at.is_(None),
            Inquiry.reply_due_at <= at,
            Inquiry.state.in_(workflow.AWAITING_REPLY),
        )
        .values(escalated_at=at)
        .execution_options(synchronize_session=False)
    )
    if getattr(taken, "rowcount", 0) != 1:
        return False
    inquiry = await _load(session, inquiry_id)
    await session.refresh(inquiry)
    late = int((at - inquiry.reply_due_at).total_seconds() // 3600)
    await workflow.transition(
        session=session,
        bus=bus,
        inquiry=inquiry,
        action="escalate",
        actor=audit.SYSTEM,
        principal=None,
        details={"hours_late": late},
    )
    await notify_service.notify(
        session=session,
        bus=bus,
        user_ids=await doctors_and_admins(session, inquiry),
        kind="inquiry.overdue",
        title=Text("A resident's question is waiting too long: {title}", title=inquiry.title),
        body=Text(
            "The reply was due at {due} (Beijing time).",
            due=district(inquiry.reply_due_at).strftime("%Y-%m-%d %H:%M"),
        ),
        link=f"/inquiries/{inquiry.id}",
        urgent=False,
    )
    return True


async def overdue_ids(session: AsyncSession, at: datetime, limit: int = 500) -> list[int]:
    query = (
        select(Inquiry.id)
        .where(
            Inquiry.state.in_(workflow.AWAITING_REPLY),
            Inquiry.escalated_at.is_(None),
            Inquiry.reply_due_at <= at,
        )
        .order_by(Inquiry.reply_due_at)
        .limit(limit)
    )
    return list((await session.scalars(query)).all())
