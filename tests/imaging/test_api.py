"""Imaging through the API: upload and linking, reconciliation, access across
institutions, rendering (presets, compressed and multi-frame objects) and marks."""

from __future__ import annotations

import io

import httpx
import numpy as np
import pytest
from PIL import Image
from pydicom.data import get_testdata_file
from sqlalchemy import select

from tests.factories import World
from tests.imaging.helpers import API, ct, upload
from yiyun.audit.models import AuditEvent

pytestmark = pytest.mark.asyncio


async def _study(
    client: httpx.AsyncClient, world: World, who: str, study_id: int
) -> httpx.Response:
    return await client.get(f"{API}/imaging/studies/{study_id}", headers=world.auth(who))


async def test_a_zip_of_a_series_is_linked_to_the_patient_its_record_number_names(
    client: httpx.AsyncClient, world: World, session: object
) -> None:
    r = await upload(client, world, "alice", ct("R11", slices=3))
    assert r.status_code == 201, r.text
    [study] = r.json()
    assert study["patient_id"] == world.patients["pa"].id
    assert study["match"] == "linked"
    assert (study["series_count"], study["instance_count"]) == (1, 3)
    detail = (await _study(client, world, "alice", study["id"])).json()
    [series] = detail["series"]
    assert [i["instance_number"] for i in series["instances"]] == [1, 2, 3]
    listed = await client.get(
        f"{API}/imaging/studies",
        params={"patient_id": world.patients["pa"].id},
        headers=world.auth("alice"),
    )
    assert [s["id"] for s in listed.json()] == [study["id"]]


async def test_outsiders_get_not_found_and_the_reads_are_audited(
    client: httpx.AsyncClient, world: World, app: object
) -> None:
    [study] = (await upload(client, world, "alice", ct("R11", slices=1))).json()
    for who in ("mallory", "bob", "admin", "otto"):
        r = await _study(client, world, who, study["id"])
        assert r.status_code == 404, who
        assert "R11" not in r.text
    assert (await _study(client, world, "hana", study["id"])).status_code == 200  # authority
    assert (await _study(client, world, "nina", study["id"])).status_code == 200
    mine = await client.get(f"{API}/imaging/studies", headers=world.auth("mallory"))
    assert mine.json() == []
    async with app.state.sessions() as s:  # type: ignore[attr-defined]
        rows = (
            await s.scalars(
                select(AuditEvent).where(AuditEvent.entity_type.in_(["imaging_study", "patient"]))
            )
        ).all()
    outcomes = {(e.actor, e.action, e.outcome) for e in rows}
    assert ("mallory", "patient.read", "denied") in outcomes
    assert ("hana", "imaging.study.read", "success") in outcomes
    assert ("alice", "imaging.instance.store", "success") in outcomes


async def test_disagreeing_identifiers_wait_for_reconciliation(
    client: httpx.AsyncClient, world: World
) -> None:
    # Uploaded for patient pa, but the file names pb's record number at another site.
    r = await upload(client, world, "alice", ct("SOMEONE-ELSE", slices=1), patient="pa")
    [study] = r.json()
    assert study["patient_id"] is None and study["match"] == "unmatched"
    queue = await client.get(f"{API}/imaging/unmatched", headers=world.auth("alice"))
    assert [s["id"] for s in queue.json()] == [study["id"]]
    assert (
        await client.get(f"{API}/imaging/unmatched", headers=world.auth("mallory"))
    ).json() == []
    assert (await _study(client, world, "mallory", study["id"])).status_code == 404
    # Someone else's patient cannot be the answer.
    bad = await client.post(
        f"{API}/imaging/studies/{study['id']}/link",
        json={"patient_id": world.patients["pb"].id},
        headers=world.auth("alice"),
    )
    assert bad.status_code == 404
    ok = await client.post(
        f"{API}/imaging/studies/{study['id']}/link",
        json={"patient_id": world.patients["pa"].id},
        headers=world.auth("alice"),
    )
    assert ok.status_code == 200 and ok.json()["match"] == "linked"
    assert (await client.get(f"{API}/imaging/unmatched", headers=world.auth("alice"))).json() == []
    again = await client.post(
        f"{API}/imaging/studies/{study['id']}/link",
        json={"patient_id": world.patients["pa"].id},
        headers=world.auth("alice"),
    )
    assert again.status_code == 422


@pytest.mark.parametrize(
    ("name", "body", "code"),
    [
        ("empty.dcm", b"", "upload.empty"),
        ("note.dcm", b"hello, not an image", "imaging.not_dicom"),
        ("scan.zip", b"PK\x03\x04broken", "imaging.bad_zip"),
    ],
)
async def test_uploads_are_sniffed(
    client: httpx.AsyncClient, world: World, name: str, body: bytes, code: str
) -> None:
    r = await client.post(
        f"{API}/imaging/studies", headers=world.auth("alice"), files={"file": (name, body)}
    )
    assert r.status_code == 422
    assert r.json()["error"]["code"] == code


async def test_an_oversized_upload_is_refused(
    client: httpx.AsyncClient, world: World, app: object
) -> None:
    app.state.settings.imaging.max_upload_bytes = 1000  # type: ignore[attr-defined]
    r = await upload(client, world, "alice", ct("R11", slices=1))
    assert r.status_code == 422 and r.json()["error"]["code"] == "upload.too_large"


def _png(body: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(body)))


async def test_frames_render_with_window_presets(client: httpx.AsyncClient, world: World) -> None:
    [study] = (await upload(client, world, "alice", ct("R11", slices=1, size=128))).json()
    detail = (await _study(client, world, "alice", study["id"])).json()
    sop = detail["series"][0]["instances"][0]["sop_uid"]
    url = f"{API}/imaging/studies/{study['id']}/instances/{sop}/render"
    lung = await client.get(url, params={"window": "lung"}, headers=world.auth("alice"))
    soft = await client.get(url, params={"window": "40,400"}, headers=world.auth("alice"))
    assert lung.headers["content-type"] == "image/png"
    a, b = _png(lung.content), _png(soft.content)
    assert a.shape == (128, 128)
    # In the lung window the lungs (-850 HU) are grey, in soft tissue black.
    assert a[64, 42] > 40 and b[64, 42] == 0
    jpeg = await client.get(
        url, params={"window": "bone", "format": "jpeg"}, headers=world.auth("alice")
    )
    assert jpeg.content[:2] == b"\xff\xd8"
    bad = await client.get(url, params={"window": "wide"}, headers=world.auth("alice"))
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "imaging.bad_window"
    other = await client.get(url, headers=world.auth("mallory"))
    assert other.status_code == 404


@pytest.mark.parametrize(
    "name",
    [
        "MR_small_jp2klossless.dcm",
        "MR_small_jpeg_ls_lossless.dcm",
        "MR_small_RLE.dcm",
        "SC_rgb_jpeg_dcmtk.dcm",
    ],
)
async def test_compressed_transfer_syntaxes_render(
    client: httpx.AsyncClient, world: World, name: str
) -> None:
    import pydicom

    path = get_testdata_file(name)
    assert path is not None
    ds = pydicom.dcmread(path)
    ds.PatientID = "R11"
    buf = io.BytesIO()
    ds.save_as(buf)
    [study] = (await upload(client, world, "alice", [buf.getvalue()])).json()
    detail = (await _study(client, world, "alice", study["id"])).json()
    inst = detail["series"][0]["instances"][0]
    r = await client.get(
        f"{API}/imaging/studies/{study['id']}/instances/{inst['sop_uid']}/render",
        headers=world.auth("alice"),
    )
    assert r.status_code == 200, r.text
    img = _png(r.content)
    assert img.shape == (inst["rows"], inst["columns"]) and img.std() > 5


async def test_a_multi_frame_object_renders_each_frame(
    client: httpx.AsyncClient, world: World
) -> None:
    import pydicom

    path = get_testdata_file("SC_rgb_rle_2frame.dcm")
    assert path is not None
    ds = pydicom.dcmread(path)
    ds.PatientID = "R11"
    buf = io.BytesIO()
    ds.save_as(buf)
    [study] = (await upload(client, world, "alice", [buf.getvalue()])).json()
    inst = (await _study(client, world, "alice", study["id"])).json()["series"][0]["instances"][0]
    assert inst["frames"] == 2
    url = f"{API}/imaging/studies/{study['id']}/instances/{inst['sop_uid']}/render"
    one = await client.get(url, params={"frame": 1}, headers=world.auth("alice"))
    two = await client.get(url, params={"frame": 2}, headers=world.auth("alice"))
    assert one.status_code == two.status_code == 200
    assert not np.array_equal(_png(one.content), _png(two.content))
    three = await client.get(url, params={"frame": 3}, headers=world.auth("alice"))
    assert three.status_code == 422


async def test_marks_are_measured_with_their_author(
    client: httpx.AsyncClient, world: World
) -> None:
    [study] = (await upload(client, world, "alice", ct("R11", slices=1, size=128))).json()
    inst = (await _study(client, world, "alice", study["id"])).json()["series"][0]["instances"][0]
    url = f"{API}/imaging/studies/{study['id']}/marks"
    sop = inst["sop_uid"]
    # 350 mm field of view over 128 pixels: 2.734 mm a pixel; 100 pixels across.
    length = await client.post(
        url,
        json={"kind": "length", "sop_uid": sop, "points": [[10, 64], [110, 64]]},
        headers=world.auth("alice"),
    )
    assert length.status_code == 201, length.text
    assert length.json()["measurement"]["length_mm"] == pytest.approx(273.4, abs=0.2)
    assert length.json()["author"] == world.users["alice"].display_name
    # An ellipse in the soft tissue between the lungs: about 40 HU, noise SD about 8.
    roi = await client.post(
        url,
        json={"kind": "ellipse", "sop_uid": sop, "points": [[59, 40], [69, 60]]},
        headers=world.auth("alice"),
    )
    m = roi.json()["measurement"]
    assert m["mean"] == pytest.approx(40, abs=6) and 4 < m["sd"] < 14
    assert m["area_mm2"] == pytest.approx(3.14159 * 5 * 10 * 2.734**2, rel=0.01)
    lung = await client.post(
        url,
        json={
            "kind": "polygon",
            "sop_uid": sop,
            "points": [[37, 64], [47, 64], [47, 74], [37, 74]],
        },
        headers=world.auth("alice"),
    )
    assert lung.json()["measurement"]["mean"] == pytest.approx(-850, abs=10)
    text = await client.post(
        url,
        json={"kind": "text", "sop_uid": sop, "points": [[5, 5]], "text": "结节"},
        headers=world.auth("alice"),
    )
    assert text.status_code == 201
    listed = (await client.get(url, headers=world.auth("nina"))).json()
    assert [m["kind"] for m in listed] == ["length", "ellipse", "polygon", "text"]
    # The authority reads but does not mark; an outsider sees nothing; only the author removes.
    assert (
        await client.post(
            url,
            json={"kind": "arrow", "sop_uid": sop, "points": [[1, 1], [5, 5]]},
            headers=world.auth("hana"),
        )
    ).status_code == 403
    assert (await client.get(url, headers=world.auth("mallory"))).status_code == 404
    mark_id = length.json()["id"]
    assert (await client.delete(f"{url}/{mark_id}", headers=world.auth("nina"))).status_code == 403
    assert (await client.delete(f"{url}/{mark_id}", headers=world.auth("alice"))).status_code == 204
    outside = await client.post(
        url,
        json={"kind": "arrow", "sop_uid": sop, "points": [[1, 1], [500, 5]]},
        headers=world.auth("alice"),
    )
    assert outside.status_code == 422
