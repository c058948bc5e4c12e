"""Generated CT series for the demo, the tests and the rendering benchmark: a chest-like
phantom (body, two lungs, spine, a nodule) in Hounsfield units, on pydicom's bundled
CT_small.dcm as the template for every CT attribute. Nothing is downloaded."""

from __future__ import annotations

import io

import numpy as np
import pydicom
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, RLELossless, generate_uid


def template() -> Dataset:
    path = get_testdata_file("CT_small.dcm")
    if path is None:  # bundled with pydicom: only a broken install lacks it
        raise RuntimeError("pydicom's CT_small.dcm is missing")
    return pydicom.dcmread(path)


def phantom(size: int, z: float) -> np.ndarray:
    """One axial slice in HU; `z` in 0..1 moves the nodule and narrows the lungs."""
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) / size - 0.5
    img = np.full((size, size), -1000.0, dtype=np.float32)  # air
    img[(xs / 0.42) ** 2 + (ys / 0.32) ** 2 <= 1] = 40.0  # soft tissue
    lung = 0.13 - 0.03 * abs(z - 0.5)
    for cx in (-0.17, 0.17):
        img[((xs - cx) / lung) ** 2 + ((ys + 0.02) / 0.2) ** 2 <= 1] = -850.0
    img[(xs / 0.05) ** 2 + ((ys - 0.22) / 0.05) ** 2 <= 1] = 700.0  # vertebra
    nodule = (xs + 0.17) ** 2 + (ys + 0.05 - 0.1 * z) ** 2 <= 0.02**2
    img[nodule] = 30.0
    rng = np.random.default_rng(int(z * 1000))
    return img + rng.normal(0, 8, img.shape).astype(np.float32)


def ct_series(
    *,
    patient_id: str,
    patient_name: str,
    slices: int = 12,
    size: int = 512,
    study_uid: str | None = None,
    description: str = "CT chest",
    compressed: bool = False,
) -> list[bytes]:
    """Part 10 files of one CT series (RLE Lossless when `compressed`)."""
    base = template()
    study_uid = study_uid or generate_uid()
    series_uid = generate_uid()
    frame_of_reference = generate_uid()
    spacing = 350.0 / size
    out: list[bytes] = []
    for n in range(slices):
        ds = base.copy()
        hu = phantom(size, n / max(slices - 1, 1))
        stored = np.clip(hu + 1024, 0, 4095).astype(np.uint16)
        ds.Rows, ds.Columns = size, size
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
        ds.WindowCenter, ds.WindowWidth = 40, 400
        ds.PixelSpacing = [spacing, spacing]
        ds.SliceThickness = 5.0
        ds.ImagePositionPatient = [-175.0, -175.0, -100.0 + 5.0 * n]
        ds.SliceLocation = -100.0 + 5.0 * n
        ds.PatientID = patient_id
        ds.PatientName = patient_name
        ds.SpecificCharacterSet = "ISO_IR 192"
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.FrameOfReferenceUID = frame_of_reference
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.StudyDescription = description
        ds.SeriesDescription = "Axial 5 mm"
        ds.SeriesNumber = 2
        ds.InstanceNumber = n + 1
        ds.StudyDate = ds.SeriesDate = "20261201"
        ds.AccessionNumber = ""
        for tag in ("SmallestImagePixelValue", "LargestImagePixelValue"):
            if tag in ds:
                del ds[tag]
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.PixelData = stored.tobytes()
        if compressed:
            ds.compress(RLELossless, stored)
        buf = io.BytesIO()
        ds.save_as(buf, enforce_file_format=True)
        out.append(buf.getvalue())
    return out
