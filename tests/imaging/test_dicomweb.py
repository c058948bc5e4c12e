"""Our DICOMweb, as a viewer's client library sees it: `dicomweb-client` stores (STOW-RS),
searches (QIDO-RS) and retrieves (WADO-RS: instances, metadata, frames, rendered) over
real HTTP, under the patient access rules."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pydicom
import pytest
from dicomweb_client.api import DICOMwebClient
from PIL import Image
from requests import HTTPError

from tests.e2e.conftest import LiveServer, serve
from tests.imaging.helpers import ct

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("dicomweb")]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with serve(Path(tmp_path_factory.mktemp("dicomweb"))) as live:
        yield live


def client(server: LiveServer, who: str) -> DICOMwebClient:
    return DICOMwebClient(
        url=f"{server.url}/dicomweb",
        headers={"Authorization": f"Bearer {server.world.tokens[who]}"},
    )


def test_dicomweb_client_stores_searches_and_retrieves(server: LiveServer) -> None:
    alice = client(server, "alice")
    datasets = [pydicom.dcmread(io.BytesIO(f)) for f in ct("R11", slices=3, size=64)]
    study_uid = datasets[0].StudyInstanceUID
    series_uid = datasets[0].SeriesInstanceUID
    answer = alice.store_instances(datasets=datasets)
    assert len(answer.ReferencedSOPSequence) == 3

    studies = alice.search_for_studies(search_filters={"PatientID": "R11"})
    found = [s for s in studies if s["0020000D"]["Value"][0] == study_uid]
    assert len(found) == 1
    assert found[0]["00201208"]["Value"] == [3]
    assert found[0]["00080061"]["Value"] == ["CT"]
    assert alice.search_for_studies(search_filters={"PatientID": "nobody"}) == []
    [series] = alice.search_for_series(study_uid)
    assert series["0020000E"]["Value"] == [series_uid]
    instances = alice.search_for_instances(study_uid, series_uid)
    assert sorted(i["00200013"]["Value"][0] for i in instances) == [1, 2, 3]

    sop = datasets[1].SOPInstanceUID
    got = alice.retrieve_instance(study_uid, series_uid, sop)
    assert got.SOPInstanceUID == sop
    assert np.array_equal(got.pixel_array, datasets[1].pixel_array)
    assert len(alice.retrieve_study(study_uid)) == 3
    metadata = alice.retrieve_study_metadata(study_uid)
    assert {m["00080018"]["Value"][0] for m in metadata} == {d.SOPInstanceUID for d in datasets}
    assert metadata[0]["00100020"]["Value"] == ["R11"]

    [frame] = alice.retrieve_instance_frames(
        study_uid, series_uid, sop, frame_numbers=[1], media_types=("application/octet-stream",)
    )
    raw = np.frombuffer(frame, dtype="<u2").reshape(64, 64)
    assert np.array_equal(raw, datasets[1].pixel_array)

    png = alice.retrieve_instance_rendered(
        study_uid,
        series_uid,
        sop,
        media_types=("image/png",),
        params={"window": "-600,1500,linear"},
    )
    assert Image.open(io.BytesIO(png)).size == (64, 64)
    jpeg = alice.retrieve_instance_frames_rendered(
        study_uid, series_uid, sop, frame_numbers=[1], media_types=("image/jpeg",)
    )
    assert jpeg[:2] == b"\xff\xd8"


def test_the_access_rules_hold_over_dicomweb(server: LiveServer) -> None:
    alice, mallory = client(server, "alice"), client(server, "mallory")
    datasets = [pydicom.dcmread(io.BytesIO(f)) for f in ct("R11", slices=1, size=32)]
    alice.store_instances(datasets=datasets)
    study_uid = datasets[0].StudyInstanceUID
    assert all(s["0020000D"]["Value"][0] != study_uid for s in mallory.search_for_studies())
    with pytest.raises(HTTPError) as refused:
        mallory.retrieve_study(study_uid)
    assert refused.value.response.status_code == 404
    # The health authority reads everything; nobody without a token reads anything.
    assert client(server, "hana").retrieve_study_metadata(study_uid)
    anonymous = DICOMwebClient(url=f"{server.url}/dicomweb")
    with pytest.raises(HTTPError) as unauthenticated:
        anonymous.search_for_studies()
    assert unauthenticated.value.response.status_code == 401
    # Mallory's STOW files the study under her own patient; alice sees nothing of it.
    other = [pydicom.dcmread(io.BytesIO(f)) for f in ct("R12", slices=1, size=32)]
    mallory.store_instances(datasets=other)
    assert any(
        s["0020000D"]["Value"][0] == other[0].StudyInstanceUID for s in mallory.search_for_studies()
    )
    assert all(
        s["0020000D"]["Value"][0] != other[0].StudyInstanceUID for s in alice.search_for_studies()
    )
