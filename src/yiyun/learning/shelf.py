"""The literature shelf: PDFs (guidelines, papers) attached to a course or a lecture,
searched like the library (character trigrams over title, description and source).

Shelf documents are teaching material for the whole consortium, like the library's
videos: every staff member finds and reads them. A course's documents are added by
those who may publish for the course's institution; a lecture's by its organiser."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.audit import service as audit
from yiyun.audit.service import Actor
from yiyun.auth.policy import Action, Target, require
from yiyun.auth.principal import Principal
from yiyun.core.errors import InvalidInput, NotFound
from yiyun.core.pagination import PageParams, paginate
from yiyun.core.storage import BlobStore
from yiyun.core.textsearch import FullText
from yiyun.learning import attendance
from yiyun.learning.models import Course, Document
from yiyun.records.files import clean_filename

SEARCH = FullText(Document.search_text, Document.id, "learning_document_fts")
MAX_BYTES = 30 << 20


def check_pdf(filename: str, data: bytes) -> str:
    """The clean name of an upload that is a PDF by its bytes and its name."""
    name = clean_filename(filename or "document.pdf")
    if not data:
        raise InvalidInput("the file is empty", code="upload.empty")
    if len(data) > MAX_BYTES:
        raise InvalidInput(
            "the file is too large", code="upload.too_large", details={"max_bytes": MAX_BYTES}
        )
    if not data.startswith(b"%PDF-"):
        raise InvalidInput("only PDF documents are accepted", code="learning.not_a_pdf")
    if PurePosixPath(name).suffix.lower() != ".pdf":
        raise InvalidInput(
            "the file's content does not match its name",
            code="upload.disguised",
            details={"detected": "application/pdf", "extension": PurePosixPath(name).suffix},
        )
    return name


async def add(
    *,
    session: AsyncSession,
    store: BlobStore,
    principal: Principal,
    actor: Actor,
    course_id: int | None,
    meeting_id: int | None,
    title: str,
    description: str,
    filename: str,
    data: bytes,
) -> Document:
    if (course_id is None) == (meeting_id is None):
        raise InvalidInput(
            "attach the document to one course or one lecture", code="learning.shelf_target"
        )
    if course_id is not None:
        course = await session.get(Course, course_id)
        if course is None:
            raise NotFound("no such course", code="learning.no_course")
        require(principal, Action.PUBLISH_TEACHING, Target.of(course.institution_id))
    elif meeting_id is not None:
        attendance.require_organiser(principal, await attendance.get_meeting(session, meeting_id))
    name = check_pdf(filename, data)
    doc = Document(
        institution_id=principal.institution_id,
        uploaded_by_id=principal.user_id,
        course_id=course_id,
        meeting_id=meeting_id,
        title=title,
        description=description,
        search_text="\n".join([title, description, name]),
        storage_key="",
        filename=name,
        size=len(data),
    )
    session.add(doc)
    await session.flush()
    doc.storage_key = f"learning/shelf/{doc.id}.pdf"
    await store.put(doc.storage_key, data)
    await audit.record(
        session=session,
        actor=actor,
        action="learning.document.add",
        entity_type="learning_document",
        entity_id=doc.id,
        details={"bytes": len(data)},
    )
    return doc


async def search(
    *,
    session: AsyncSession,
    principal: Principal,
    q: str = "",
    course_id: int | None = None,
    meeting_id: int | None = None,
    params: PageParams,
) -> tuple[list[Document], int]:
    """Every space-separated term must occur; titles holding the query first, newest next."""
    require(principal, Action.VIEW_TEACHING)
    query: Any = select(Document)
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    q = q.strip()[:200]
    if q:
        query = query.where(SEARCH.matches(q, dialect))
    if course_id is not None:
        query = query.where(Document.course_id == course_id)
    if meeting_id is not None:
        query = query.where(Document.meeting_id == meeting_id)
    order = [Document.title.icontains(q, autoescape=True).desc()] if q else []
    query = query.order_by(*order, Document.created_at.desc(), Document.id.desc())
    return await paginate(session, query, params)


async def get(session: AsyncSession, principal: Principal, document_id: int) -> Document:
    require(principal, Action.VIEW_TEACHING)
    doc = await session.get(Document, document_id)
    if doc is None:
        raise NotFound("no such document", code="learning.no_document")
    return doc
