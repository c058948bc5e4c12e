"""Shared helpers for the imaging tests: generated studies and uploads."""

from __future__ import annotations

import io
import zipfile

import httpx

from tests.factories import World
from yiyun.imaging import synthetic

API = "/api/v1"


def zipped(files: list[bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for n, data in enumerate(files):
            zf.writestr(f"study/IM{n:04d}", data)
        zf.writestr("study/README.txt", "not DICOM, skipped")
    return buf.getvalue()


async def upload(
    client: httpx.AsyncClient,
    world: World,
    who: str,
    files: list[bytes],
    *,
    patient: str | None = None,
) -> httpx.Response:
    data = {"patient_id": str(world.patients[patient].id)} if patient else {}
    body = zipped(files) if len(files) > 1 else files[0]
    name = "study.zip" if len(files) > 1 else "image.dcm"
    return await client.post(
        f"{API}/imaging/studies",
        headers=world.auth(who),
        files={"file": (name, body, "application/octet-stream")},
        data=data,
    )


def ct(patient_id: str, *, slices: int = 3, size: int = 64, **kw: object) -> list[bytes]:
    return synthetic.ct_series(
        patient_id=patient_id,
        patient_name="Test^Patient",
        slices=slices,
        size=size,
        **kw,  # type: ignore[arg-type]
    )
