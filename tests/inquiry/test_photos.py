"""Photos lose their EXIF (location, camera) before storage; bad files never get there."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tests.inquiry.photos import GPS, photo_with_location
from yiyun.core.errors import InvalidInput
from yiyun.inquiry import photos

LIMIT = 1024 * 1024


@pytest.mark.parametrize(("fmt", "name"), [("JPEG", "a.jpg"), ("PNG", "a.png"), ("WEBP", "a.webp")])
def test_gps_and_camera_tags_are_gone(fmt: str, name: str) -> None:
    raw = photo_with_location(fmt)
    checked, cleaned = photos.check_file(name, raw, max_bytes=LIMIT, photos_only=True)
    assert checked.size == len(cleaned) and b"YiyunCam" not in cleaned
    with Image.open(io.BytesIO(cleaned)) as img:
        exif = img.getexif()
        assert not exif.get_ifd(GPS) and len(exif) == 0
        assert "exif" not in img.info
        assert img.size == (30, 40)  # the orientation was applied to the pixels


@pytest.mark.parametrize(
    ("name", "data", "code"),
    [
        ("a.jpg", b"", "upload.empty"),
        ("a.jpg", b"just text\n", "upload.disguised"),  # text dressed as a photo
        ("a.pdf", b"%PDF-1.4\n%%EOF\n", "inquiry.file_type"),  # residents send photos only
        ("a.png", photo_with_location("JPEG"), "upload.disguised"),  # name says PNG
        ("a.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 64, "upload.bad_image"),  # a broken JPEG
    ],
)
def test_bad_uploads_are_refused_with_the_reason(name: str, data: bytes, code: str) -> None:
    with pytest.raises(InvalidInput) as err:
        photos.check_file(name, data, max_bytes=LIMIT, photos_only=True)
    assert err.value.code == code


def test_an_oversize_photo_is_refused_before_it_is_decoded() -> None:
    raw = photo_with_location("JPEG")
    with pytest.raises(InvalidInput) as err:
        photos.check_file("a.jpg", raw, max_bytes=len(raw) - 1, photos_only=True)
    assert err.value.code == "upload.too_large"


def test_doctors_may_attach_a_pdf() -> None:
    checked, data = photos.check_file(
        "plan.pdf", b"%PDF-1.4\n%%EOF\n", max_bytes=LIMIT, photos_only=False
    )
    assert checked.content_type == "application/pdf" and data.startswith(b"%PDF")
