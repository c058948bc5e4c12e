"""Test photos with a GPS location in their EXIF, as a phone camera writes them."""

from __future__ import annotations

import io

from PIL import ExifTags, Image

GPS = ExifTags.IFD.GPSInfo


def photo_with_location(fmt: str = "JPEG", size: tuple[int, int] = (40, 30)) -> bytes:
    """A small photo whose EXIF holds a GPS position, a camera make and orientation 6
    (rotate 90° clockwise to view)."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "YiyunCam"
    exif[ExifTags.Base.Orientation] = 6
    exif[GPS] = {
        ExifTags.GPS.GPSLatitudeRef: "N",
        ExifTags.GPS.GPSLatitude: (22.0, 32.0, 10.0),
        ExifTags.GPS.GPSLongitudeRef: "E",
        ExifTags.GPS.GPSLongitude: (113.0, 56.0, 2.0),
    }
    out = io.BytesIO()
    Image.new("RGB", size, (200, 40, 40)).save(out, format=fmt, exif=exif.tobytes())
    data = out.getvalue()
    with Image.open(io.BytesIO(data)) as check:  # the test photo really carries a location
        assert check.getexif().get_ifd(GPS), "the test photo lost its GPS tags"
    return data
