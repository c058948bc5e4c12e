"""The hospital PACS is Orthanc (Debian): pull studies by DICOMweb and by DIMSE
(C-FIND, C-MOVE), and the round trip of co-reading marks as a GSPS and a TID 1500 SR —
Orthanc lists and returns them, and our viewer's marks are read back from them."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import highdicom as hd
import httpx
import pydicom
import pytest

from tests import services
from tests.factories import World
from tests.imaging.helpers import API, ct
from yiyun.imaging import export
from yiyun.imaging.pacs import DicomWebPeer
from yiyun.settings import ImagingSettings, Settings

pytestmark = [pytest.mark.orthanc, pytest.mark.slow, pytest.mark.xdist_group("orthanc")]


@pytest.fixture(scope="module")
def pacs() -> Iterator[Any]:
    port = services.free_port()
    proc, service = services.orthanc(peer_port=port)
    proc.peer_port = port
    yield proc
    proc.stop()
    service.stop()


@pytest.fixture
def settings(settings: Settings, pacs: Any) -> Settings:
    imaging = ImagingSettings(
        pacs_url=pacs.dicomweb_url,
        pacs_username=pacs.username,
        pacs_password=pacs.password,
        pacs_host="127.0.0.1",
        pacs_dicom_port=pacs.dicom_port,
        our_dicom_port=pacs.peer_port,
    )
    return settings.model_copy(update={"imaging": imaging})


def _peer(pacs: Any) -> DicomWebPeer:
    return DicomWebPeer(pacs.dicomweb_url, username=pacs.username, password=pacs.password)


async def _pull(
    client: httpx.AsyncClient, world: World, study_uid: str, via: str
) -> dict[str, Any]:
    r = await client.post(
        f"{API}/imaging/pacs/pull",
        json={"study_uid": study_uid, "via": via},
        headers=world.auth("alice"),
    )
    assert r.status_code == 201, r.text
    [study] = r.json()
    return dict(study)


async def test_a_study_is_found_and_pulled_by_dicomweb_and_by_dimse(
    client: httpx.AsyncClient, world: World, pacs: Any
) -> None:
    web_files = ct("R11", slices=2)
    dimse_files = ct("R11", slices=3, compressed=True)
    await _peer(pacs).store(web_files + dimse_files)
    uid_web = pydicom.dcmread(io.BytesIO(web_files[0])).StudyInstanceUID
    uid_dimse = pydicom.dcmread(io.BytesIO(dimse_files[0])).StudyInstanceUID
    for via in ("dicomweb", "dimse"):
        found = await client.get(
            f"{API}/imaging/pacs/studies",
            params={"patient_id": "R11", "via": via},
            headers=world.auth("alice"),
        )
        assert found.status_code == 200, found.text
        assert {uid_web, uid_dimse} <= {s["study_uid"] for s in found.json()}, via
    web = await _pull(client, world, uid_web, "dicomweb")
    assert (web["patient_id"], web["instance_count"], web["source"]) == (
        world.patients["pa"].id,
        2,
        "pacs",
    )
    moved = await _pull(client, world, uid_dimse, "dimse")
    assert (moved["patient_id"], moved["instance_count"]) == (world.patients["pa"].id, 3)
    # The PACS pull is for the institution's clinical staff only.
    denied = await client.post(
        f"{API}/imaging/pacs/pull", json={"study_uid": uid_web}, headers=world.auth("hana")
    )
    assert denied.status_code == 403


async def test_marks_round_trip_through_the_pacs_as_gsps_and_sr(
    client: httpx.AsyncClient, world: World, pacs: Any
) -> None:
    files = ct("R11", slices=2, size=128)
    await _peer(pacs).store(files)
    uid = pydicom.dcmread(io.BytesIO(files[0])).StudyInstanceUID
    study = await _pull(client, world, uid, "dicomweb")
    detail = (
        await client.get(f"{API}/imaging/studies/{study['id']}", headers=world.auth("alice"))
    ).json()
    sop = detail["series"][0]["instances"][0]["sop_uid"]
    url = f"{API}/imaging/studies/{study['id']}/marks"
    drawn = [
        ("alice", {"kind": "length", "points": [[10, 64], [110, 64]]}),
        ("alice", {"kind": "ellipse", "points": [[59, 40], [69, 60]]}),
        ("nina", {"kind": "polygon", "points": [[37, 64], [47, 64], [47, 74], [37, 74]]}),
        ("nina", {"kind": "arrow", "points": [[90, 90], [70, 70]]}),
        ("nina", {"kind": "text", "points": [[20, 20]], "text": "右肺结节"}),
    ]
    for who, body in drawn:
        r = await client.post(url, json={**body, "sop_uid": sop}, headers=world.auth(who))
        assert r.status_code == 201, r.text
    saved = await client.post(
        f"{API}/imaging/studies/{study['id']}/save-to-pacs", headers=world.auth("nina")
    )
    assert saved.status_code == 200, saved.text
    pr_uid, sr_uid = saved.json()["presentation_state_uid"], saved.json()["report_uid"]

    # Orthanc lists both objects in the study and returns them.
    peer = _peer(pacs)
    listed = {
        i["00080018"]["Value"][0]: i["00080016"]["Value"][0]
        for i in await peer.search_instances(uid)
    }
    assert listed[pr_uid] == "1.2.840.10008.5.1.4.1.1.11.1"  # Grayscale Softcopy PS
    assert listed[sr_uid] == "1.2.840.10008.5.1.4.1.1.88.34"  # Comprehensive 3D SR
    whole = await peer.retrieve_study(uid)
    by_uid = {pydicom.dcmread(io.BytesIO(d)).SOPInstanceUID: d for d in whole}
    pr = pydicom.dcmread(io.BytesIO(by_uid[pr_uid]))
    back = export.marks_from_presentation_state(pr)
    names = {world.users["alice"].display_name, world.users["nina"].display_name}
    assert sorted(m.kind for m in back) == ["arrow", "ellipse", "length", "polygon", "text"]
    assert {m.author for m in back} == names
    assert next(m for m in back if m.kind == "text").text == "右肺结节"
    sr = hd.sr.Comprehensive3DSR.from_dataset(pydicom.dcmread(io.BytesIO(by_uid[sr_uid])))
    groups = sr.content.get_planar_roi_measurement_groups()
    assert len(groups) == 3  # length, ellipse, polygon
    values = sorted(
        round(float(m.value), 1)
        for g in groups
        for m in g.get_measurements()
        if m.name == pydicom.sr.codedict.codes.SCT.Length
    )
    assert values == [pytest.approx(273.4, abs=0.2)]

    # A reload of the viewer shows the marks read back from the PACS objects.
    marks = (await client.get(url, headers=world.auth("alice"))).json()
    assert sorted(m["kind"] for m in marks) == ["arrow", "ellipse", "length", "polygon", "text"]
    assert {m["source"] for m in marks} == {"pacs"}
    assert {m["author"] for m in marks} == names
    length = next(m for m in marks if m["kind"] == "length")
    assert length["measurement"]["length_mm"] == pytest.approx(273.4, abs=0.2)
    roi = next(m for m in marks if m["kind"] == "polygon")
    assert roi["measurement"]["mean"] == pytest.approx(-850, abs=10)

    # One more mark and a second save: the new presentation state keeps all six.
    r = await client.post(
        url,
        json={"kind": "arrow", "sop_uid": sop, "points": [[5, 5], [15, 15]]},
        headers=world.auth("alice"),
    )
    assert r.status_code == 201
    again = await client.post(
        f"{API}/imaging/studies/{study['id']}/save-to-pacs", headers=world.auth("alice")
    )
    assert again.status_code == 200
    marks = (await client.get(url, headers=world.auth("alice"))).json()
    assert len(marks) == 6 and {m["source"] for m in marks} == {"pacs"}
