"""Slides in a live meeting (a lecture): a presenter uploads a PDF or a PPTX, its pages are
rendered to PNG in the background, and the page a presenter shows is everyone's page.

The deck's state machine (on `yiyun.core.statemachine`):

    uploaded --render--> rendering --finish--> ready
                             |
                             +--fail--> failed

All three steps are the renderer's (a system job). Each change of page is stored
(`SlideChange`) before anyone is told, so the slide track can be replayed with a
recording and a late joiner gets the current page. A PPTX is converted to PDF by
Debian's LibreOffice (`soffice --headless`); without it only PDFs are accepted.
Pages are rendered with pypdfium2 (PDFium, Apache-2.0/BSD).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from yiyun.audit import service as audit
from yiyun.audit.service import SYSTEM, Actor
from yiyun.core.bus import EventBus
from yiyun.core.clock import now
from yiyun.core.db import retry_when_locked
from yiyun.core.errors import InvalidInput, NotFound
from yiyun.core.statemachine import Machine, Step
from yiyun.core.storage import BlobStore
from yiyun.meetings.models import DeckState, SlideChange, SlideDeck
from yiyun.records.files import clean_filename

logger = logging.getLogger(__name__)

UPLOADED, RENDERING, READY, FAILED = (
    DeckState.UPLOADED,
    DeckState.RENDERING,
    DeckState.READY,
    DeckState.FAILED,
)
PDF = "application/pdf"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
CONVERT_SECONDS = 180.0

MACHINE: Machine[DeckState, SlideDeck] = Machine(
    name="slide deck",
    states=DeckState,
    table={
        (UPLOADED, "render"): Step(RENDERING),
        (RENDERING, "finish"): Step(READY),
        (RENDERING, "fail"): Step(FAILED),
    },
    audit=audit.record,
    entity_type="meeting_slide_deck",
    audit_prefix="meeting.slides",
    channel="meetings.slides",
    illegal_code="meeting.slides_illegal_transition",
)


def folder(meeting_id: int, deck_id: int) -> str:
    return f"meetings/{meeting_id}/slides/{deck_id}"


def converter() -> str | None:
    """LibreOffice's `soffice`, if installed (PPTX needs it)."""
    return shutil.which("soffice") or shutil.which("libreoffice")


def sniff(filename: str, head: bytes) -> tuple[str, str]:
    """The clean name and content type of a slide upload: a PDF, or a PPTX when
    LibreOffice is there to convert it; anything else is refused (422)."""
    name = clean_filename(filename)
    suffix = PurePosixPath(name).suffix.lower()
    if head.startswith(b"%PDF-"):
        if suffix != ".pdf":
            raise InvalidInput(
                "the file's content does not match its name", code="upload.disguised"
            )
        return name, PDF
    if head.startswith(b"PK\x03\x04") and suffix == ".pptx":
        if converter() is None:
            raise InvalidInput(
                "PowerPoint files cannot be converted on this server; upload a PDF",
                code="meeting.slides_pdf_only",
            )
        return name, PPTX
    raise InvalidInput(
        "upload the slides as a PDF or PowerPoint (PPTX) file", code="meeting.slides_type"
    )


async def add(
    *,
    session: AsyncSession,
    store: BlobStore,
    meeting_id: int,
    user_id: int,
    actor: Actor,
    filename: str,
    data: bytes,
    max_bytes: int,
) -> SlideDeck:
    """Store an uploaded deck (rendered later by `render`)."""
    if not data:
        raise InvalidInput("the file is empty", code="upload.empty")
    if len(data) > max_bytes:
        raise InvalidInput(
            "the file is too large", code="upload.too_large", details={"max_bytes": max_bytes}
        )
    name, content_type = sniff(filename, data[:8])
    deck = SlideDeck(
        meeting_id=meeting_id,
        filename=name,
        content_type=content_type,
        size=len(data),
        storage_prefix="",
        state=UPLOADED,
        pages=0,
        uploaded_by_id=user_id,
        created_at=now(),
    )
    session.add(deck)
    await session.flush()
    deck.storage_prefix = folder(meeting_id, deck.id)
    await store.put(f"{deck.storage_prefix}/source", data)
    await audit.record(
        session=session,
        actor=actor,
        action="meeting.slides_upload",
        entity_type="meeting",
        entity_id=meeting_id,
        details={"deck": deck.id, "size": len(data), "type": content_type},
    )
    return deck


def _to_pdf(source: Path, out_dir: Path) -> Path:
    """PPTX → PDF with LibreOffice in its own profile directory (no shared state)."""
    import subprocess

    soffice = converter()
    if soffice is None:
        raise RuntimeError("LibreOffice is not installed")
    profile = out_dir / "profile"
    subprocess.run(  # noqa: S603 - fixed arguments, our own working files
        [
            soffice,
            f"-env:UserInstallation=file://{profile}",
            "--headless",
            "--norestore",
            "--convert-to",
            "pdf",
            "--outdir",
            str(out_dir),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=CONVERT_SECONDS,
    )
    pdf = out_dir / (source.stem + ".pdf")
    if not pdf.exists():
        raise RuntimeError("LibreOffice produced no PDF")
    return pdf


def render_pages(pdf: bytes, *, width: int, max_pages: int) -> list[bytes]:
    """Every page of a PDF as PNG, `width` pixels wide (pypdfium2). Raises ValueError
    for a file PDFium cannot open and for too many pages."""
    import pypdfium2 as pdfium

    try:
        doc = pdfium.PdfDocument(pdf)
    except pdfium.PdfiumError as exc:
        raise ValueError("not a readable PDF") from exc
    try:
        count = len(doc)
        if count == 0:
            raise ValueError("the PDF has no pages")
        if count > max_pages:
            raise ValueError(f"the PDF has {count} pages; at most {max_pages}")
        out: list[bytes] = []
        for index in range(count):
            page = doc[index]
            scale = width / max(page.get_width(), 1.0)
            image = page.render(scale=scale).to_pil()
            buf = io.BytesIO()
            image.save(buf, format="PNG", optimize=False)
            out.append(buf.getvalue())
            page.close()
        return out
    finally:
        doc.close()


@dataclass(frozen=True)
class RenderJob:
    sessions: async_sessionmaker[AsyncSession]
    bus: EventBus
    store: BlobStore
    work_dir: Path
    width: int
    max_pages: int


async def _step(job: RenderJob, deck_id: int, action: str, **changes: Any) -> None:
    async def once() -> None:
        async with job.sessions.begin() as db:
            deck = await db.get(SlideDeck, deck_id)
            if deck is None:
                return
            for key, value in changes.items():
                setattr(deck, key, value)
            await MACHINE.transition(
                session=db,
                bus=job.bus,
                entity=deck,
                action=action,
                actor=SYSTEM,
                details={k: v for k, v in changes.items() if k in ("pages", "error")},
                event={"meeting_id": deck.meeting_id, "pages": deck.pages},
            )

    await retry_when_locked(once)


async def render(job: RenderJob, deck_id: int) -> None:
    """Convert (PPTX) and render a deck's pages; the deck ends `ready` or `failed`
    (with the reason), never half-rendered: pages are stored before it is `ready`."""
    async with job.sessions() as db:
        deck = await db.get(SlideDeck, deck_id)
        if deck is None or deck.state != UPLOADED:
            return
        prefix, content_type = deck.storage_prefix, deck.content_type
    await _step(job, deck_id, "render")
    try:
        source = await job.store.get(f"{prefix}/source")
        if content_type == PPTX:
            await asyncio.to_thread(job.work_dir.mkdir, parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=job.work_dir) as tmp:
                src = Path(tmp) / "slides.pptx"
                await asyncio.to_thread(src.write_bytes, source)
                pdf_path = await asyncio.to_thread(_to_pdf, src, Path(tmp))
                source = await asyncio.to_thread(pdf_path.read_bytes)
        pages = await asyncio.to_thread(
            render_pages, source, width=job.width, max_pages=job.max_pages
        )
        for number, png in enumerate(pages, start=1):
            await job.store.put(f"{prefix}/page-{number}.png", png)
    except Exception as exc:  # any failure is reported on the deck
        logger.warning("slide deck %s failed to render: %s", deck_id, type(exc).__name__)
        reason = str(exc)[:200] if isinstance(exc, ValueError) else "the slides could not be read"
        with contextlib.suppress(Exception):
            await _step(job, deck_id, "fail", error=reason)
        return
    await _step(job, deck_id, "finish", pages=len(pages))


async def decks(session: AsyncSession, meeting_id: int) -> list[SlideDeck]:
    rows = await session.scalars(
        select(SlideDeck).where(SlideDeck.meeting_id == meeting_id).order_by(SlideDeck.id)
    )
    return list(rows.all())


async def deck_of(session: AsyncSession, meeting_id: int, deck_id: int) -> SlideDeck:
    deck = await session.get(SlideDeck, deck_id)
    if deck is None or deck.meeting_id != meeting_id:
        raise NotFound("no such slide deck", code="meeting.no_deck")
    return deck


async def page_png(store: BlobStore, deck: SlideDeck, page: int) -> bytes:
    if deck.state != READY or not 1 <= page <= deck.pages:
        raise NotFound("no such page", code="meeting.no_page")
    return await store.get(f"{deck.storage_prefix}/page-{page}.png")


def shown(change: SlideChange) -> dict[str, Any]:
    return {"deck": change.deck_id, "page": change.page, "at": change.at.isoformat()}


async def show(
    sessions: async_sessionmaker[AsyncSession],
    *,
    meeting_id: int,
    deck_id: int,
    page: int,
    by: str,
) -> dict[str, Any]:
    """Make this page everyone's page: checked, stored, and returned for the fan-out."""

    async def once() -> dict[str, Any]:
        async with sessions.begin() as db:
            deck = await deck_of(db, meeting_id, deck_id)
            if deck.state != READY:
                raise InvalidInput("the slides are not ready yet", code="meeting.deck_not_ready")
            if not 1 <= page <= deck.pages:
                raise InvalidInput(
                    "there is no such page", code="meeting.no_page", details={"pages": deck.pages}
                )
            change = SlideChange(meeting_id=meeting_id, deck_id=deck_id, page=page, by=by, at=now())
            db.add(change)
            await db.flush()
            return shown(change) | {"pages": deck.pages}

    return await retry_when_locked(once)


async def current(session: AsyncSession, meeting_id: int) -> dict[str, Any] | None:
    """The page everyone sees now (the last change), for late joiners."""
    row = await session.scalar(
        select(SlideChange)
        .where(SlideChange.meeting_id == meeting_id)
        .order_by(SlideChange.at.desc(), SlideChange.id.desc())
        .limit(1)
    )
    if row is None:
        return None
    deck = await session.get(SlideDeck, row.deck_id)
    return shown(row) | {"pages": deck.pages if deck else 0}


async def track(session: AsyncSession, meeting_id: int) -> list[dict[str, Any]]:
    """Every change of page in order: the slide track to replay next to a recording."""
    rows = await session.scalars(
        select(SlideChange)
        .where(SlideChange.meeting_id == meeting_id)
        .order_by(SlideChange.at, SlideChange.id)
    )
    return [shown(r) for r in rows.all()]
