"""Imaging: DICOM studies linked to patients, our DICOMweb, the viewer's rendering,
co-reading and annotations exported as DICOM presentation states and structured reports."""
