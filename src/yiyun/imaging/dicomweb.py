"""DICOMweb wire formats (PS3.18): multipart/related bodies and the QIDO-RS attribute
sets built from stored metadata. Pure functions shared by our server and our client."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable
from typing import Any

from yiyun.core.errors import InvalidInput

DICOM = "application/dicom"
DICOM_JSON = "application/dicom+json"
_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)


def multipart(parts: Iterable[bytes], content_type: str = DICOM) -> tuple[bytes, str]:
    """A multipart/related body and its Content-Type header."""
    boundary = "yiyun-" + secrets.token_hex(12)
    out = bytearray()
    for part in parts:
        out += f"--{boundary}\r\nContent-Type: {content_type}\r\n\r\n".encode()
        out += part
        out += b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f'multipart/related; type="{content_type}"; boundary={boundary}'


def parse_multipart(body: bytes, content_type: str) -> list[bytes]:
    """The parts' bodies of a multipart/related message (STOW-RS, WADO-RS responses)."""
    found = _BOUNDARY.search(content_type or "")
    if not content_type.lower().startswith("multipart/related") or found is None:
        raise InvalidInput(
            "expected a multipart/related body with a boundary", code="dicomweb.bad_multipart"
        )
    delimiter = b"--" + found.group(1).encode()
    parts: list[bytes] = []
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        _head, sep, rest = chunk.partition(b"\r\n\r\n")
        if not sep:
            continue
        parts.append(rest[:-2] if rest.endswith(b"\r\n") else rest)
    return parts


def element(vr: str, *values: Any) -> dict[str, Any]:
    clean = [v for v in values if v not in (None, "")]
    return {"vr": vr, "Value": clean} if clean else {"vr": vr}


def pick(meta: dict[str, Any], tags: Iterable[str]) -> dict[str, Any]:
    return {t: meta[t] for t in tags if t in meta}


STUDY_TAGS = ("00080020", "00080030", "00080050", "00080090", "00081030", "0020000D", "00200010")
SERIES_TAGS = ("00080060", "0008103E", "0020000E", "00200011", "00080021")
INSTANCE_TAGS = (
    "00080016",
    "00080018",
    "00200013",
    "00280010",
    "00280011",
    "00280008",
    "00280100",
    "00280030",
)


def patient_attrs(pid: str, name: str) -> dict[str, Any]:
    return {
        "00100020": element("LO", pid),
        "00100010": {"vr": "PN", "Value": [{"Alphabetic": name}]} if name else {"vr": "PN"},
    }


def load(meta: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(meta)
    return value


def match(attrs: dict[str, Any], filters: dict[str, str]) -> bool:
    """QIDO matching on the keys given (exact, `*` wildcard, or a date range a-b)."""
    for tag, wanted in filters.items():
        values = attrs.get(tag, {}).get("Value", [])
        texts = [v.get("Alphabetic", "") if isinstance(v, dict) else str(v) for v in values]
        if tag == "00080020" and "-" in wanted:
            low, _, high = wanted.partition("-")
            if not any((not low or t >= low) and (not high or t <= high) for t in texts):
                return False
            continue
        pattern = re.compile(
            "^" + re.escape(wanted).replace(r"\*", ".*").replace(r"\?", ".") + "$", re.I
        )
        if not any(pattern.match(t) for t in texts):
            return False
    return True


# QIDO query keys by keyword or tag (PS3.18 8.3.4.1).
KEYWORDS = {
    "StudyInstanceUID": "0020000D",
    "PatientID": "00100020",
    "PatientName": "00100010",
    "StudyDate": "00080020",
    "AccessionNumber": "00080050",
    "ModalitiesInStudy": "00080061",
    "Modality": "00080060",
    "SeriesInstanceUID": "0020000E",
    "SOPInstanceUID": "00080018",
    "StudyDescription": "00081030",
}
NOT_FILTERS = frozenset({"limit", "offset", "includefield", "fuzzymatching", "access_token"})


def filters(params: Iterable[tuple[str, str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in params:
        if key.lower() in NOT_FILTERS or not value:
            continue
        tag = KEYWORDS.get(key, key.upper() if re.fullmatch(r"[0-9A-Fa-f]{8}", key) else None)
        if tag is None:
            raise InvalidInput(
                "unknown query attribute", code="dicomweb.bad_query", details={"key": key}
            )
        out[tag] = value
    return out
