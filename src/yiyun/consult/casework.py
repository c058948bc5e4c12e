"""The case-discussion workspace (病例讨论) of a consultation: co-edited notes, notes and
decisions each with its author, the patient's images and the consultation's attached
documents, and a timeline — kept after the session, read-only once the case closes.

The notes are a real-time document (`collab.docs`), kind `case-notes`, key = the
consultation's id. Access follows the consultation:

* write while the consultation is open (not closed or cancelled): the requesting doctor,
  the inviting institution's clinical staff and the experts who accepted;
* read: the same people once it is over, an invited expert who has not answered yet,
  and the health authority (which supervises, never edits);
* nothing — not even that the workspace exists — for anyone else, dispatchers included
  (they route consultations, they do not read the clinical discussion).
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from pycrdt import Map, Text
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.audit import actions
from yiyun.audit.models import AuditEvent
from yiyun.auth.principal import Principal
from yiyun.collab.docs import Access, DocType, Root, TypedDocument, register
from yiyun.consult import service, workflow
from yiyun.consult.models import Answer, Consult, ConsultExpert
from yiyun.core.errors import NotFound
from yiyun.imaging.models import Study, StudyMatch
from yiyun.org.enums import CLINICAL_ROLES, Role
from yiyun.org.models import User

KEY = re.compile(r"[1-9][0-9]{0,9}")
TIMELINE_LIMIT = 200


class CaseNotesDoc(TypedDocument):
    """Schema v1.

    * `meta` Map: `schema`, `kind`
    * `notes` Text: the shared working notes, co-edited
    * `entries` Map id → `{id, type: note | decision, text, author (user id),
      author_name, at (ISO time)}`: contributions each with its author; a decision is
      what the discussion settled
    * `links` Map id → `{id, type: study | document, ref (id), title, author,
      author_name}`: images and documents pinned to the discussion
    """

    kind = "case-notes"
    version = 1
    roots: ClassVar[dict[str, Root]] = {"meta": Map, "notes": Text, "entries": Map, "links": Map}


def access_of(principal: Principal, consult: Consult, experts: list[ConsultExpert]) -> Access:
    answers = {e.expert_id: e.answer for e in experts}
    inviting = principal.user_id == consult.requester_id or (
        principal.institution_id == consult.institution_id and principal.has(*CLINICAL_ROLES)
    )
    taking_part = inviting or answers.get(principal.user_id) is Answer.ACCEPTED
    if taking_part:
        return Access.READ if consult.state in workflow.FINAL_STATES else Access.WRITE
    if answers.get(principal.user_id) is Answer.PENDING or principal.has(Role.AUTHORITY):
        return Access.READ
    return Access.NONE


async def case_access(session: AsyncSession, principal: Principal, key: str) -> Access:
    consult = await session.get(Consult, int(key))
    if consult is None:
        return Access.NONE
    return access_of(principal, consult, await service.experts_of(session, consult.id))


def register_case_documents() -> None:
    register(DocType(CaseNotesDoc, case_access, KEY))


async def workspace(session: AsyncSession, principal: Principal, consult_id: int) -> Access:
    """The caller's access to the workspace; `NotFound` (as for no consultation) if none."""
    consult = await service.get(session=session, principal=principal, consult_id=consult_id)
    access = access_of(principal, consult, await service.experts_of(session, consult.id))
    if access is Access.NONE:
        raise NotFound("consultation not found", code="consult.not_found")
    return access


async def studies(session: AsyncSession, consult: Consult) -> list[Study]:
    """The patient's linked studies, newest first (the viewer checks access again)."""
    rows = await session.scalars(
        select(Study)
        .where(Study.patient_id == consult.patient_id, Study.match == StudyMatch.LINKED)
        .order_by(Study.id.desc())
    )
    return list(rows.all())


async def timeline(session: AsyncSession, consult: Consult) -> list[dict[str, Any]]:
    """What happened to the consultation, oldest first: its audited steps (actions and
    times only; who acted by display name)."""
    rows = await session.execute(
        select(AuditEvent.action, AuditEvent.at, User.display_name)
        .outerjoin(User, User.id == AuditEvent.actor_id)
        .where(
            AuditEvent.entity_type == "consult",
            AuditEvent.entity_id == str(consult.id),
            AuditEvent.outcome == "success",
            ~AuditEvent.action.like("%read%"),
        )
        .order_by(AuditEvent.id)
        .limit(TIMELINE_LIMIT)
    )
    return [
        {"action": a, "label": actions.label(a), "at": at, "who": who or ""}
        for a, at, who in rows.all()
    ]
