"""The hospital PACS as a peer: DICOMweb (QIDO-RS search, WADO-RS retrieve, STOW-RS
store) over httpx, and DIMSE C-FIND / C-MOVE with pynetdicom. Library errors become
`Upstream` (502) with a reason."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from pydicom.dataset import Dataset
from pynetdicom import AE, evt
from pynetdicom.presentation import AllStoragePresentationContexts
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    PatientRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelMove,
)

from yiyun.core.errors import InvalidInput, Upstream
from yiyun.imaging import dicomweb
from yiyun.settings import ImagingSettings

logger = logging.getLogger(__name__)
TIMEOUT = 30.0


def _upstream(exc: Exception | None = None, status: int | None = None) -> Upstream:
    return Upstream(
        "the PACS did not answer as expected",
        code="imaging.pacs_error",
        details={"status": status} if status else None,
    )


class DicomWebPeer:
    """A DICOMweb server (Orthanc's `/dicom-web`, another hospital's PACS)."""

    def __init__(self, base_url: str, *, username: str | None = None, password: str | None = None):
        self.base_url = base_url.rstrip("/")
        self.auth = httpx.BasicAuth(username, password or "") if username else None

    @classmethod
    def from_settings(cls, settings: ImagingSettings) -> DicomWebPeer:
        if not settings.pacs_url:
            raise InvalidInput("no PACS is configured", code="imaging.no_pacs")
        password = settings.pacs_password.get_secret_value() if settings.pacs_password else None
        return cls(settings.pacs_url, username=settings.pacs_username, password=password)

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, auth=self.auth, timeout=TIMEOUT)

    async def _get(
        self, path: str, accept: str, params: dict[str, str] | None = None
    ) -> httpx.Response:
        try:
            async with self._client() as client:
                response = await client.get(path, params=params, headers={"Accept": accept})
        except httpx.HTTPError as exc:
            raise _upstream(exc) from exc
        if response.status_code == 204:
            return response
        if response.status_code >= 400:
            raise _upstream(status=response.status_code)
        return response

    async def search_studies(self, filters: dict[str, str] | None = None) -> list[dict[str, Any]]:
        """QIDO-RS studies."""
        response = await self._get("/studies", dicomweb.DICOM_JSON, filters)
        if response.status_code == 204 or not response.content:
            return []
        result: list[dict[str, Any]] = response.json()
        return result

    async def search_instances(self, study_uid: str) -> list[dict[str, Any]]:
        response = await self._get(f"/studies/{study_uid}/instances", dicomweb.DICOM_JSON)
        if response.status_code == 204 or not response.content:
            return []
        result: list[dict[str, Any]] = response.json()
        return result

    async def retrieve_study(self, study_uid: str) -> list[bytes]:
        """WADO-RS: every instance of the study as Part 10 bytes."""
        accept = 'multipart/related; type="application/dicom"; transfer-syntax=*'
        response = await self._get(f"/studies/{study_uid}", accept)
        return dicomweb.parse_multipart(response.content, response.headers.get("content-type", ""))

    async def retrieve_instance(self, study_uid: str, series_uid: str, sop_uid: str) -> bytes:
        accept = 'multipart/related; type="application/dicom"; transfer-syntax=*'
        path = f"/studies/{study_uid}/series/{series_uid}/instances/{sop_uid}"
        response = await self._get(path, accept)
        parts = dicomweb.parse_multipart(response.content, response.headers.get("content-type", ""))
        if len(parts) != 1:
            raise _upstream()
        return parts[0]

    async def store(self, files: list[bytes]) -> dict[str, Any]:
        """STOW-RS; the PACS's answer (referenced and failed SOP sequences)."""
        body, content_type = dicomweb.multipart(files)
        try:
            async with self._client() as client:
                response = await client.post(
                    "/studies",
                    content=body,
                    headers={"Content-Type": content_type, "Accept": dicomweb.DICOM_JSON},
                )
        except httpx.HTTPError as exc:
            raise _upstream(exc) from exc
        if response.status_code >= 400:
            raise _upstream(status=response.status_code)
        result: dict[str, Any] = response.json() if response.content else {}
        return result


# --- DIMSE ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DimsePeer:
    ae_title: str
    host: str
    port: int
    our_ae_title: str = "YIYUN"

    @classmethod
    def from_settings(cls, settings: ImagingSettings) -> DimsePeer:
        if not settings.pacs_dicom_port:
            raise InvalidInput("no PACS is configured", code="imaging.no_pacs")
        return cls(
            settings.pacs_ae_title,
            settings.pacs_host,
            settings.pacs_dicom_port,
            settings.our_ae_title,
        )


def _find(peer: DimsePeer, query: Dataset) -> list[Dataset]:
    ae = AE(ae_title=peer.our_ae_title)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    ae.add_requested_context(PatientRootQueryRetrieveInformationModelFind)
    assoc = ae.associate(peer.host, peer.port, ae_title=peer.ae_title)
    if not assoc.is_established:
        raise _upstream()
    found: list[Dataset] = []
    try:
        for status, identifier in assoc.send_c_find(
            query, StudyRootQueryRetrieveInformationModelFind
        ):
            if status and status.Status in (0xFF00, 0xFF01) and identifier is not None:
                found.append(identifier)
            elif status and status.Status not in (0x0000, 0xFF00, 0xFF01):
                raise _upstream(status=int(status.Status))
    finally:
        assoc.release()
    return found


async def c_find_studies(
    peer: DimsePeer, patient_id: str = "", study_uid: str = ""
) -> list[Dataset]:
    """C-FIND at study level (Study Root)."""
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID = study_uid
    query.PatientID = patient_id
    query.PatientName = ""
    query.StudyDate = ""
    query.StudyDescription = ""
    query.ModalitiesInStudy = ""
    return await asyncio.to_thread(_find, peer, query)


@contextmanager
def storage_scp(ae_title: str, port: int, received: list[bytes]) -> Iterator[None]:
    """A C-STORE receiver for the duration of a C-MOVE (the PACS must know it by
    `ae_title` at this port)."""

    def on_store(event: Any) -> int:
        import io

        from pydicom.filewriter import dcmwrite

        ds = event.dataset
        ds.file_meta = event.file_meta
        out = io.BytesIO()
        dcmwrite(out, ds, enforce_file_format=True)
        received.append(out.getvalue())
        return 0x0000

    ae = AE(ae_title=ae_title)
    ae.supported_contexts = AllStoragePresentationContexts
    server = ae.start_server(
        ("127.0.0.1", port), block=False, evt_handlers=[(evt.EVT_C_STORE, on_store)]
    )
    try:
        yield
    finally:
        if server is not None:
            server.shutdown()


_MOVE_LOCK = threading.Lock()  # one receiver port: one move at a time


def _move(peer: DimsePeer, study_uid: str, port: int) -> list[bytes]:
    received: list[bytes] = []
    with _MOVE_LOCK, storage_scp(peer.our_ae_title, port, received):
        ae = AE(ae_title=peer.our_ae_title)
        ae.add_requested_context(StudyRootQueryRetrieveInformationModelMove)
        assoc = ae.associate(peer.host, peer.port, ae_title=peer.ae_title)
        if not assoc.is_established:
            raise _upstream()
        query = Dataset()
        query.QueryRetrieveLevel = "STUDY"
        query.StudyInstanceUID = study_uid
        try:
            for status, _ in assoc.send_c_move(
                query, peer.our_ae_title, StudyRootQueryRetrieveInformationModelMove
            ):
                if status and status.Status not in (0x0000, 0xFF00):
                    raise _upstream(status=int(status.Status))
        finally:
            assoc.release()
    return received


async def c_move_study(peer: DimsePeer, study_uid: str, our_port: int) -> list[bytes]:
    """C-MOVE a study to our own storage SCP; the files received."""
    return await asyncio.to_thread(_move, peer, study_uid, our_port)


__all__ = ["DicomWebPeer", "DimsePeer", "c_find_studies", "c_move_study"]
