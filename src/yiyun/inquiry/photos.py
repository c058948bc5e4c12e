"""Uploaded files of a light consultation: sniffed, size-limited, photos stripped of EXIF.

Every file goes through `records.files.check_upload` (the bytes decide the type, the
name's extension must match, empty and oversize files are refused) before anything is
stored. A photo is then decoded and written again without its metadata: EXIF (GPS
location, camera serial, time), XMP and text chunks are dropped; the EXIF orientation is
applied to the pixels first so the picture still stands the right way up.
"""

from __future__ import annotations

import io
import warnings

from PIL import Image, ImageOps, UnidentifiedImageError

from yiyun.core.errors import InvalidInput
from yiyun.records.files import CheckedFile, check_upload

PHOTO_TYPES = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}
MAX_PIXELS = 40_000_000  # a 40-megapixel photo; larger is refused, not decoded


def _refuse(message: str, code: str, checked: CheckedFile) -> InvalidInput:
    return InvalidInput(message, code=code, details={"file": checked.filename})


def strip_metadata(data: bytes, checked: CheckedFile) -> bytes:
    """The photo re-encoded without metadata (orientation applied to the pixels)."""
    fmt = PHOTO_TYPES[checked.content_type]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                if img.width * img.height > MAX_PIXELS:
                    raise _refuse("the photo is too large", "upload.too_many_pixels", checked)
                img.load()
                upright = ImageOps.exif_transpose(img)
                clean = upright.copy()
                clean.info.clear()
                out = io.BytesIO()
                options: dict[str, object] = {}
                if fmt == "JPEG":
                    if clean.mode not in ("RGB", "L"):
                        clean = clean.convert("RGB")
                    options = {"quality": 90}
                clean.save(out, format=fmt, **options)
    except (UnidentifiedImageError, OSError, Image.DecompressionBombWarning, ValueError):
        raise _refuse("the photo cannot be read", "upload.bad_image", checked) from None
    return out.getvalue()


def check_file(
    filename: str, data: bytes, *, max_bytes: int, photos_only: bool
) -> tuple[CheckedFile, bytes]:
    """Check one upload and return what to store: a cleaned photo, or a PDF as it is."""
    checked = check_upload(filename, data, max_bytes=max_bytes)
    if checked.content_type in PHOTO_TYPES:
        cleaned = strip_metadata(data, checked)
        return CheckedFile(checked.filename, checked.content_type, len(cleaned)), cleaned
    details = {"detected": checked.content_type, "file": checked.filename}
    if photos_only:
        raise InvalidInput(
            "only photos (JPEG, PNG or WebP) can be attached here",
            code="inquiry.file_type",
            details=details,
        )
    if checked.content_type != "application/pdf":
        raise InvalidInput(
            "only photos or PDF files can be attached here",
            code="inquiry.file_type",
            details=details,
        )
    return checked, data
