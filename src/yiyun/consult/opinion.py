"""The expert's structured opinion: draft, sign (PDF + PAdES), amend; the record side panel.

A signed opinion is never changed: `save_draft` touches only the unsigned version, and an
amendment is a new signed version naming the one it replaces. Signing stores the PDF
twice, once on the record of each institution (`records_document`, kind "opinion"):
the two copies are the same bytes, so the same SHA-256.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.auth import step_up
from yiyun.auth.principal import Principal
from yiyun.consult import icd10, pdf, signing, workflow
from yiyun.consult.models import Consult, Opinion
from yiyun.consult.schemas import Amend, OpinionDraft
from yiyun.consult.service import (
    _patient,
    audit_read,
    experts_of,
    get,
    mask_name,
    may_read_record,
    number,
    sees_clinical,
    tell,
)
from yiyun.core.bus import EventBus
from yiyun.core.clock import now
from yiyun.core.errors import Conflict, InvalidInput, NotFound
from yiyun.core.storage import BlobStore
from yiyun.i18n.text import Text
from yiyun.org import specialties
from yiyun.org.models import Institution, User
from yiyun.records.access import Ctx, age_on
from yiyun.records.enums import DocumentKind
from yiyun.records.models import Document

TITLES_ZH = {
    "chief_physician": "主任医师",
    "associate_chief_physician": "副主任医师",
    "attending_physician": "主治医师",
    "resident_physician": "住院医师",
}
SEX_ZH = {"male": "男", "female": "女", "unknown": "未知"}
URGENCY_ZH = {"emergency": "急诊", "urgent": "加急", "routine": "普通"}


async def opinions(session: AsyncSession, consult_id: int) -> list[Opinion]:
    rows = await session.scalars(
        select(Opinion).where(Opinion.consult_id == consult_id).order_by(Opinion.version)
    )
    return list(rows.all())


def _diagnoses(draft: OpinionDraft) -> list[dict[str, str]]:
    out = []
    for d in draft.diagnoses:
        code = icd10.get(d.code)
        if code is None:
            raise InvalidInput(
                "the diagnosis code is not in the ICD-10 list",
                code="consult.bad_icd10",
                details={"field": "diagnoses", "value": d.code[:10]},
            )
        out.append({"code": code.code, "name": code.name})
    return out


def _require_complete(op: Opinion) -> None:
    if not op.diagnoses or not op.findings.strip() or not op.recommendations.strip():
        raise InvalidInput(
            "an opinion needs findings, at least one diagnosis and recommendations",
            code="consult.opinion_incomplete",
            details={"field": "diagnoses"},
        )


async def _draft_of(session: AsyncSession, consult: Consult) -> Opinion | None:
    return await session.scalar(
        select(Opinion).where(Opinion.consult_id == consult.id, Opinion.signed_at.is_(None))
    )


async def save_draft(
    *, session: AsyncSession, ctx: Ctx, consult_id: int, data: OpinionDraft
) -> Opinion:
    """Write or rewrite the unsigned opinion (an accepted expert, during the session)."""
    consult = await get(session=session, principal=ctx.principal, consult_id=consult_id)
    workflow.MACHINE.check(consult, "sign", ctx.principal)
    diagnoses = _diagnoses(data)
    draft = await _draft_of(session, consult)
    if draft is None:
        draft = Opinion(
            consult_id=consult.id, version=1, author_id=ctx.principal.user_id, created_at=now()
        )
        session.add(draft)
    draft.author_id = ctx.principal.user_id
    draft.findings, draft.diagnoses = data.findings, diagnoses
    draft.recommendations, draft.follow_up = data.recommendations, data.follow_up
    await session.flush()
    await audit_read(session, ctx, consult, "consult.opinion_draft", opinion_id=draft.id)
    return draft


@dataclass(frozen=True)
class Signed:
    opinion: Opinion
    pdf: bytes


async def _page(
    session: AsyncSession, consult: Consult, op: Opinion, signer: User
) -> pdf.OpinionPage:
    patient = await _patient(session, consult)
    inviting = await session.get(Institution, consult.institution_id)
    consulting = await session.get(Institution, signer.institution_id)
    requester = await session.get(User, consult.requester_id)
    spec = specialties.get(consult.specialty)
    return pdf.OpinionPage(
        number=number(consult),
        version=op.version,
        supersedes=op.version - 1 if op.supersedes_id else None,
        amend_reason=op.amend_reason,
        inviting_institution=inviting.name if inviting else "",
        consulting_institution=consulting.name if consulting else "",
        requester=requester.display_name if requester else "",
        patient_masked=mask_name(patient.name),
        patient_sex=SEX_ZH.get(patient.sex.value, ""),
        patient_age=age_on(patient.birth_on, now().date()),
        patient_mpi=patient.mpi,
        urgency=URGENCY_ZH.get(consult.urgency.value, ""),
        specialty=spec.name if spec else consult.specialty,
        reason=consult.reason,
        purpose=consult.purpose,
        findings=op.findings,
        diagnoses=[(d["code"], d["name"]) for d in op.diagnoses],
        recommendations=op.recommendations,
        follow_up=op.follow_up,
        signer=signer.display_name,
        signer_title=TITLES_ZH.get(signer.title.value if signer.title else "", ""),
        signed_at=op.signed_at or now(),
    )


async def _seal(
    *,
    session: AsyncSession,
    ctx: Ctx,
    store: BlobStore,
    consult: Consult,
    op: Opinion,
) -> bytes:
    """Render, sign and archive the opinion on both institutions' records."""
    signer = await session.get(User, ctx.principal.user_id)
    if signer is None:  # pragma: no cover - a signed-in user
        raise NotFound("user not found", code="user.not_found")
    op.signed_at = now()
    page = await _page(session, consult, op, signer)
    unsigned = await pdf.render(page)
    identity = await signing.signer_for(session, ctx.cipher, signer)
    ca = await signing.ensure_ca(session, ctx.cipher)
    signed = await signing.sign_pdf(
        unsigned,
        signing.pair_of(identity, ctx.cipher),
        ca.cert_pem.encode("ascii"),
        reason=f"远程会诊意见 {page.number} 第{op.version}版",
    )
    digest = hashlib.sha256(signed).hexdigest()
    op.sha256 = digest
    op.pdf_key = f"consult/{consult.id}/opinion-{op.version}-{digest[:16]}.pdf"
    doc_ids = []
    title = f"远程会诊意见 {page.number}" + (f"（第{op.version}版）" if op.version > 1 else "")
    for institution_id in dict.fromkeys([consult.institution_id, signer.institution_id]):
        key = f"documents/{consult.patient_id}/{secrets.token_hex(8)}-{digest[:16]}"
        doc = Document(
            patient_id=consult.patient_id,
            institution_id=institution_id,
            kind=DocumentKind.OPINION,
            title=title[:200],
            body="",
            blob_key=key,
            filename=f"{page.number}-v{op.version}.pdf",
            content_type="application/pdf",
            size_bytes=len(signed),
            sha256=digest,
            created_by_id=signer.id,
        )
        session.add(doc)
        await session.flush()
        await store.put(key, signed)
        doc_ids.append(doc.id)
    await store.put(op.pdf_key, signed)
    op.document_ids = doc_ids
    await session.flush()
    return signed


async def sign(
    *, session: AsyncSession, ctx: Ctx, bus: EventBus, store: BlobStore, consult_id: int
) -> Signed:
    """Sign the drafted opinion (recent TOTP): the PDF, signed, on both records."""
    consult = await get(session=session, principal=ctx.principal, consult_id=consult_id)
    workflow.MACHINE.check(consult, "sign", ctx.principal)
    await step_up.require_recent(session, ctx.principal)
    op = await _draft_of(session, consult)
    if op is None:
        raise InvalidInput(
            "write the opinion before signing it",
            code="consult.opinion_incomplete",
            details={"field": "diagnoses"},
        )
    _require_complete(op)
    op.author_id = ctx.principal.user_id
    data = await _seal(session=session, ctx=ctx, store=store, consult=consult, op=op)
    await workflow.step(
        session=session,
        bus=bus,
        consult=consult,
        action="sign",
        actor=ctx.actor,
        principal=ctx.principal,
        details={"opinion_id": op.id, "version": op.version, "sha256": op.sha256},
    )
    await tell(
        session,
        bus,
        consult,
        [consult.requester_id],
        "consult.reported",
        Text("The consultation opinion is signed"),
        Text("Read it and record your treatment decision"),
    )
    return Signed(op, data)


async def amend(
    *,
    session: AsyncSession,
    ctx: Ctx,
    bus: EventBus,
    store: BlobStore,
    consult_id: int,
    data: Amend,
) -> Signed:
    """A new signed version that names the one it replaces (the old one stays as it was)."""
    consult = await get(session=session, principal=ctx.principal, consult_id=consult_id)
    workflow.MACHINE.check(consult, "amend", ctx.principal)
    await step_up.require_recent(session, ctx.principal)
    signed = [o for o in await opinions(session, consult.id) if o.signed_at is not None]
    if not signed:  # pragma: no cover - reported means signed
        raise Conflict("there is no signed opinion to amend", code="consult.nothing_to_amend")
    last = signed[-1]
    op = Opinion(
        consult_id=consult.id,
        version=last.version + 1,
        supersedes_id=last.id,
        author_id=ctx.principal.user_id,
        findings=data.findings,
        diagnoses=_diagnoses(data),
        recommendations=data.recommendations,
        follow_up=data.follow_up,
        amend_reason=data.amend_reason,
        created_at=now(),
    )
    _require_complete(op)
    session.add(op)
    await session.flush()
    pdf_bytes = await _seal(session=session, ctx=ctx, store=store, consult=consult, op=op)
    await workflow.step(
        session=session,
        bus=bus,
        consult=consult,
        action="amend",
        actor=ctx.actor,
        principal=ctx.principal,
        details={
            "opinion_id": op.id,
            "version": op.version,
            "supersedes": last.id,
            "sha256": op.sha256,
        },
    )
    await tell(
        session,
        bus,
        consult,
        [consult.requester_id],
        "consult.amended",
        Text("The consultation opinion was amended"),
        Text("Reason: {reason}", reason=data.amend_reason[:200]),
    )
    return Signed(op, pdf_bytes)


async def opinion_pdf(
    *,
    session: AsyncSession,
    ctx: Ctx,
    store: BlobStore,
    consult_id: int,
    opinion_id: int,
) -> tuple[Opinion, bytes]:
    """The signed PDF, for the consultation's people (audited)."""
    consult = await get(session=session, principal=ctx.principal, consult_id=consult_id)
    if not sees_clinical(ctx.principal, consult, await experts_of(session, consult.id)):
        raise NotFound("opinion not found", code="consult.opinion_not_found")
    op = await session.get(Opinion, opinion_id)
    if op is None or op.consult_id != consult.id or op.pdf_key is None:
        raise NotFound("opinion not found", code="consult.opinion_not_found")
    data = await store.get(op.pdf_key)
    await audit_read(session, ctx, consult, "consult.opinion_read", opinion_id=op.id)
    return op, data


# --- the record beside the video -------------------------------------------------------------


@dataclass(frozen=True)
class Panel:
    patient_masked: str
    patient_sex: str
    patient_age: int
    mpi: str
    summary: str
    documents: list[Document]


async def panel(*, session: AsyncSession, ctx: Ctx, consult_id: int) -> Panel:
    """The patient summary and the attached documents, through this consultation (audited)."""
    consult = await get(session=session, principal=ctx.principal, consult_id=consult_id)
    if not may_read_record(ctx.principal, consult, await experts_of(session, consult.id)):
        raise NotFound("consultation not found", code="consult.not_found")
    patient = await _patient(session, consult)
    docs: list[Document] = []
    if consult.document_ids:
        rows = await session.scalars(
            select(Document)
            .where(Document.id.in_(consult.document_ids), Document.patient_id == patient.id)
            .order_by(Document.created_at.desc())
        )
        docs = list(rows.all())
    await audit_read(
        session, ctx, consult, "consult.record_read", document_ids=[d.id for d in docs]
    )
    return Panel(
        patient_masked=mask_name(patient.name),
        patient_sex=patient.sex.value,
        patient_age=age_on(patient.birth_on, now().date()),
        mpi=patient.mpi,
        summary=consult.summary,
        documents=docs,
    )


async def attached_file(
    *, session: AsyncSession, ctx: Ctx, store: BlobStore, consult_id: int, document_id: int
) -> tuple[Document, bytes]:
    """An attached file, only if attached to this consultation and the reader may see it."""
    consult = await get(session=session, principal=ctx.principal, consult_id=consult_id)
    if not may_read_record(ctx.principal, consult, await experts_of(session, consult.id)):
        raise NotFound("document not found", code="document.not_found")
    doc = await session.get(Document, document_id)
    if (
        doc is None
        or document_id not in consult.document_ids
        or doc.patient_id != consult.patient_id
        or doc.blob_key is None
    ):
        raise NotFound("document not found", code="document.not_found")
    data = await store.get(doc.blob_key)
    await audit_read(session, ctx, consult, "consult.document_read", document_id=doc.id)
    return doc, data


def principal_is_signer(principal: Principal, op: Opinion) -> bool:
    return principal.user_id == op.author_id
