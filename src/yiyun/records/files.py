"""Attachment checks: size limit and content sniffing (the bytes decide, not the name),
and the one place an uploaded file's name is cleaned (`clean_filename`), for every
upload (patient documents, meeting chat files)."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import PurePosixPath

import filetype

from yiyun.core.errors import InvalidInput

# Sniffed MIME type -> the file extensions a user may give it.
ALLOWED: dict[str, frozenset[str]] = {
    "application/pdf": frozenset({".pdf"}),
    "image/png": frozenset({".png"}),
    "image/jpeg": frozenset({".jpg", ".jpeg"}),
    "image/webp": frozenset({".webp"}),
    "application/dicom": frozenset({".dcm", ".dicom", ""}),
    "text/plain": frozenset({".txt", ".csv"}),
}

# What to tell a person the upload accepts (the file name's part they can see).
EXTENSIONS = sorted({suffix for suffixes in ALLOWED.values() for suffix in suffixes if suffix})
ACCEPTED_DOC = (
    "not empty; PDF, PNG, JPEG, WebP, DICOM or plain text, recognised by its content, "
    "with a matching file name extension (" + " ".join(EXTENSIONS) + ")"
)


@dataclass(frozen=True)
class CheckedFile:
    filename: str
    content_type: str
    size: int


def _is_dicom(data: bytes) -> bool:
    return len(data) > 132 and data[128:132] == b"DICM"


def _is_text(data: bytes) -> bool:
    if b"\x00" in data[:8192]:
        return False
    try:
        data[:65536].decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the sample boundary is still text.
        return exc.start >= 65536 - 4
    return True


def sniff(data: bytes) -> str | None:
    if _is_dicom(data):
        return "application/dicom"
    kind = filetype.guess(data)
    if kind is not None:
        return str(kind.mime)
    return "text/plain" if data and _is_text(data) else None


def clean_filename(filename: str) -> str:
    """The name to store and show: the last path part, without control or format
    characters (right-to-left overrides and other bidi controls make `gpj.exe` look like
    `exe.jpg`), NFC-normalised, at most 200 characters."""
    text = unicodedata.normalize("NFC", filename.replace("\\", "/"))
    text = "".join(c for c in text if unicodedata.category(c) not in ("Cc", "Cf", "Zl", "Zp"))
    name = PurePosixPath(text).name.strip().lstrip(".")
    return name[:200] or "upload"


def check_upload(filename: str, data: bytes, *, max_bytes: int) -> CheckedFile:
    """Refuse empty, oversize, unknown or disguised files with a precise reason."""
    name = clean_filename(filename)
    if not data:
        raise InvalidInput("the file is empty", code="upload.empty")
    if len(data) > max_bytes:
        raise InvalidInput(
            "the file is too large",
            code="upload.too_large",
            details={"max_bytes": max_bytes, "size": len(data)},
        )
    mime = sniff(data)
    if mime is None or mime not in ALLOWED:
        raise InvalidInput(
            "this type of file is not accepted",
            code="upload.type_not_allowed",
            details={"detected": mime, "allowed": sorted(ALLOWED), "extensions": EXTENSIONS},
        )
    suffix = PurePosixPath(name).suffix.lower()
    if suffix not in ALLOWED[mime]:
        raise InvalidInput(
            "the file's content does not match its name",
            code="upload.disguised",
            details={"detected": mime, "extension": suffix, "extensions": EXTENSIONS},
        )
    return CheckedFile(filename=name, content_type=mime, size=len(data))
