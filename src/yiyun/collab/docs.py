"""Document types: a typed class per kind with a versioned Y schema, and who may open it.

Another package adds a document type with `register(DocType(...))` at application start
(see `web.app.register_document_types`)::

    class MarksDoc(TypedDocument):
        '''Schema v1: meta Map {schema, kind}; marks Map id -> {...}.'''
        kind = "imaging-marks"
        version = 1
        roots = {"meta": Map, "marks": Map}

    async def marks_access(session, principal, key) -> Access: ...

    register(DocType(document=MarksDoc, access=marks_access))

Clients then connect to `/ws/docs/imaging-marks/<key>`. The access rule is the only
gate: `Access.NONE` means the socket closes exactly as for a document that does not
exist; `READ` receives everything but its edits are dropped; `WRITE` edits.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, ClassVar

from pycrdt import Array, Doc, Map, Text
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.auth.principal import Principal

Root = type[Map[Any]] | type[Array[Any]] | type[Text]


class Access(IntEnum):
    NONE = 0
    READ = 1
    WRITE = 2


AccessRule = Callable[[AsyncSession, Principal, str], Awaitable[Access]]


class TypedDocument:
    """A pycrdt document of one kind; the schema (root names and types) is declared on
    the class and its version written into the `meta` map, so stored documents can be
    upgraded when a later release changes the schema (`upgrade`)."""

    kind: ClassVar[str]
    version: ClassVar[int] = 1
    roots: ClassVar[dict[str, Root]] = {}

    def __init__(self, ydoc: Doc[Any] | None = None) -> None:
        self.ydoc = ydoc if ydoc is not None else Doc()
        self.meta: Map[Any] = self.ydoc.get("meta", type=Map)
        for name, root in self.roots.items():
            if name != "meta":
                self.ydoc.get(name, type=root)

    def root(self, name: str) -> Any:
        return self.ydoc.get(name, type=self.roots[name])

    @property
    def stored_version(self) -> int:
        value = self.meta.get("schema")
        return int(value) if value is not None else 0

    def initialise(self) -> None:
        """Write the schema version into a new document (one update, stored like any)."""
        with self.ydoc.transaction(origin="server"):
            self.meta["schema"] = self.version
            self.meta["kind"] = self.kind

    def upgrade(self, from_version: int) -> None:
        """Bring a document stored with an older schema up to `version` (override)."""
        with self.ydoc.transaction(origin="server"):
            self.meta["schema"] = self.version

    def to_json(self) -> dict[str, Any]:
        return {name: self.root(name).to_py() for name in self.roots}


class WhiteboardDoc(TypedDocument):
    """Schema v1.

    * `meta` Map: `schema` (int), `kind`, `presenter` (the user id others may follow)
    * `pages` Array of Maps `{id, name}` (display order)
    * `elements` Map element id → JSON object `{id, page, type, …, author, z}` where
      `type` is `pen | rect | ellipse | line | arrow | text | note | image`; pen points
      are `[x0, y0, x1, y1, …]` in board units; `color`, `width`, `fill`, `text`,
      `src` (a data: URL for images, at most `MAX_IMAGE_BYTES`).
    """

    kind = "whiteboard"
    version = 1
    roots: ClassVar[dict[str, Root]] = {"meta": Map, "pages": Array, "elements": Map}


class ScreenAnnotationDoc(TypedDocument):
    """Schema v1. Marks drawn over a shared screen, in coordinates relative to the
    video frame (0..1 on both axes), so they stay put at any window size.

    * `meta` Map: `schema`, `kind`, `cleared_by`, `cleared_at`
    * `elements` Map id → `{id, type: pen | arrow | ellipse | text, points|x,y,w,h,
      color, text, author}`
    """

    kind = "screen-annotation"
    version = 1
    roots: ClassVar[dict[str, Root]] = {"meta": Map, "elements": Map}


KEY_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,64}")


@dataclass(frozen=True)
class DocType:
    document: type[TypedDocument]
    access: AccessRule
    key_pattern: re.Pattern[str] = field(default=KEY_PATTERN)

    @property
    def kind(self) -> str:
        return self.document.kind


_TYPES: dict[str, DocType] = {}


def register(doc_type: DocType) -> None:
    """Add (or replace, for idempotent start-up) a document type."""
    _TYPES[doc_type.kind] = doc_type


def lookup(kind: str, key: str) -> DocType | None:
    """The type for a kind, when the key is well-formed for it; else None."""
    doc_type = _TYPES.get(kind)
    if doc_type is None or not doc_type.key_pattern.fullmatch(key):
        return None
    return doc_type


def kinds() -> list[str]:
    return sorted(_TYPES)
