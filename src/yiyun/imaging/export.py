"""Co-reading marks as standard DICOM objects (highdicom): a Grayscale Softcopy
Presentation State with one graphic layer per author (every mark, arrows and text
included) and a TID 1500 Measurement Report with the lengths and ROI measurements;
and the way back, marks read from a presentation state."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import highdicom as hd
import numpy as np
from highdicom.sr import (
    CodedConcept,
    ImageRegion,
    Measurement,
    MeasurementReport,
    ObservationContext,
    PersonObserverIdentifyingAttributes,
    PlanarROIMeasurementsAndQualitativeEvaluations,
    SourceImageForRegion,
    TrackingIdentifier,
)
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

MANUFACTURER = "Yiyun"
MODEL = "Yiyun co-reading"
VERSION = "1"
KINDS = ("arrow", "text", "length", "ellipse", "polygon")


@dataclass
class MarkData:
    """One mark in image pixel coordinates (x = column, y = row)."""

    kind: str
    sop_uid: str
    points: list[tuple[float, float]]
    author: str
    text: str = ""
    frame: int = 1
    measurement: dict[str, float] = field(default_factory=dict)


def person(name: str) -> str:
    """A DICOM person name (PN) of a display name: one component, marked as such."""
    clean = name.replace("^", " ").replace("=", " ").strip()[:60] or "Unknown"
    return clean + "^"


def label(mark: MarkData) -> str:
    m = mark.measurement
    if mark.kind == "length" and "length_mm" in m:
        return f"{m['length_mm']:.1f} mm"
    if mark.kind in ("ellipse", "polygon") and "area_mm2" in m:
        return f"{m['area_mm2']:.1f} mm² {m.get('mean', 0):.0f}±{m.get('sd', 0):.0f} HU"
    return mark.text


def _graphic(mark: MarkData, index: int) -> hd.pr.GraphicObject:
    pts = np.array(mark.points, dtype=np.float64)
    tid, tuid = f"{mark.kind}:{index}", generate_uid()
    if mark.kind == "ellipse":
        (x0, y0), (x1, y1) = mark.points[0], mark.points[-1]
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        pts = np.array(
            [[x0, cy], [x1, cy], [cx, y0], [cx, y1]], dtype=np.float64
        )  # major axis then minor axis end points (PS3.3 C.10.5.1.2)
        return hd.pr.GraphicObject(
            hd.pr.GraphicTypeValues.ELLIPSE, pts, "PIXEL", tracking_id=tid, tracking_uid=tuid
        )
    if mark.kind == "polygon":
        pts = np.vstack([pts, pts[:1]])  # closed polyline
    if mark.kind == "text":
        return hd.pr.GraphicObject(
            hd.pr.GraphicTypeValues.POINT, pts[:1], "PIXEL", tracking_id=tid, tracking_uid=tuid
        )
    return hd.pr.GraphicObject(
        hd.pr.GraphicTypeValues.POLYLINE,
        pts[:2] if mark.kind in ("arrow", "length") else pts,
        "PIXEL",
        tracking_id=tid,
        tracking_uid=tuid,
    )


def _layer_name(n: int) -> str:
    return f"AUTHOR{n}"


def presentation_state(
    marks: Sequence[MarkData],
    images: dict[str, Dataset],
    *,
    series_uid: str,
    creator: str,
    institution: str,
) -> Dataset:
    """A GSPS over the marked images: one layer per author (its description names them)."""
    authors = sorted({m.author for m in marks})
    layers = {
        a: hd.pr.GraphicLayer(_layer_name(i + 1), order=i + 1, description=a[:64])
        for i, a in enumerate(authors)
    }
    annotations = []
    for index, mark in enumerate(marks, start=1):
        image = images[mark.sop_uid]
        texts = []
        caption = label(mark)
        if caption:
            x, y = mark.points[-1]
            texts.append(
                hd.pr.TextObject(
                    caption[:64],
                    "PIXEL",
                    anchor_point=(float(x), float(y)),
                    tracking_id=f"label:{index}",
                    tracking_uid=generate_uid(),
                )
            )
        frames = int(image.get("NumberOfFrames", 1) or 1)
        annotations.append(
            hd.pr.GraphicAnnotation(
                referenced_images=[image],
                graphic_layer=layers[mark.author],
                referenced_frame_number=mark.frame if frames > 1 else None,
                graphic_objects=[_graphic(mark, index)],
                text_objects=texts or None,
            )
        )
    refs = list({m.sop_uid: images[m.sop_uid] for m in marks}.values())
    pr = hd.pr.GrayscaleSoftcopyPresentationState(
        referenced_images=refs,
        series_instance_uid=series_uid,
        series_number=990,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        manufacturer_model_name=MODEL,
        software_versions=VERSION,
        device_serial_number="1",
        content_label="CO_READING",
        content_description="Co-reading marks",
        graphic_annotations=annotations or None,
        graphic_layers=list(layers.values()) or None,
        institution_name=institution[:64] or None,
        content_creator_name=person(creator),
    )
    pr.SpecificCharacterSet = "ISO_IR 192"  # UTF-8: authors' names are often Chinese
    return pr


def measurement_report(
    marks: Sequence[MarkData],
    images: dict[str, Dataset],
    *,
    series_uid: str,
    observer: str,
) -> Dataset | None:
    """A TID 1500 report of the measured marks (lengths, ellipse and polygon ROIs)."""
    measured = [m for m in marks if m.kind in ("length", "ellipse", "polygon") and m.measurement]
    if not measured:
        return None
    groups = []
    for index, mark in enumerate(measured, start=1):
        image = images[mark.sop_uid]
        source = SourceImageForRegion.from_source_image(image)
        if mark.kind == "ellipse":
            (x0, y0), (x1, y1) = mark.points[0], mark.points[-1]
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            data = np.array([[x0, cy], [x1, cy], [cx, y0], [cx, y1]], dtype=np.float64)
            gtype = hd.sr.GraphicTypeValues.ELLIPSE
        elif mark.kind == "polygon":
            data = np.array([*mark.points, mark.points[0]], dtype=np.float64)
            gtype = hd.sr.GraphicTypeValues.POLYLINE
        else:
            data = np.array(mark.points[:2], dtype=np.float64)
            gtype = hd.sr.GraphicTypeValues.POLYLINE
        region = ImageRegion(graphic_type=gtype, graphic_data=data, source_image=source)
        values = _measurements(mark)
        groups.append(
            PlanarROIMeasurementsAndQualitativeEvaluations(
                tracking_identifier=TrackingIdentifier(
                    uid=generate_uid(), identifier=f"{mark.kind} {index} by {mark.author}"[:64]
                ),
                referenced_region=region,
                finding_type=codes.SCT.Lesion if mark.kind != "length" else codes.SCT.Length,
                measurements=values,
            )
        )
    context = ObservationContext(
        observer_person_context=hd.sr.ObserverContext(
            observer_type=codes.DCM.Person,
            observer_identifying_attributes=PersonObserverIdentifyingAttributes(
                name=person(observer)
            ),
        )
    )
    report = MeasurementReport(
        observation_context=context,
        procedure_reported=CodedConcept("363679005", "SCT", "Imaging procedure"),
        imaging_measurements=groups,
    )
    evidence = list({m.sop_uid: images[m.sop_uid] for m in measured}.values())
    sr = hd.sr.Comprehensive3DSR(
        evidence=evidence,
        content=report,
        series_instance_uid=series_uid,
        series_number=991,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        is_complete=True,
        is_final=False,
    )
    sr.SpecificCharacterSet = "ISO_IR 192"
    return sr


def _measurements(mark: MarkData) -> list[Measurement]:
    m = mark.measurement
    if mark.kind == "length":
        return [Measurement(codes.SCT.Length, float(m["length_mm"]), codes.UCUM.Millimeter)]
    hu = CodedConcept("[hnsf'U]", "UCUM", "Hounsfield unit")
    return [
        Measurement(codes.SCT.Area, float(m["area_mm2"]), CodedConcept("mm2", "UCUM", "mm2")),
        Measurement(codes.SCT.Mean, float(m["mean"]), hu),
        Measurement(codes.SCT.StandardDeviation, float(m["sd"]), hu),
    ]


def _frames_of(item: Any) -> int:
    for ref in item.get("ReferencedImageSequence", []):
        frames = ref.get("ReferencedFrameNumber")
        if frames:
            return int(frames[0] if isinstance(frames, list | tuple) else frames)
    return 1


def marks_from_presentation_state(ds: Dataset) -> list[MarkData]:
    """The marks a GSPS holds (as `presentation_state` writes them): kind from the
    tracking id, author from the layer's description, text from its text object."""
    authors = {
        str(layer.GraphicLayer): str(layer.get("GraphicLayerDescription", "") or "")
        for layer in ds.get("GraphicLayerSequence", [])
    }
    marks: list[MarkData] = []
    for item in ds.get("GraphicAnnotationSequence", []):
        refs = item.get("ReferencedImageSequence", [])
        if not refs:
            continue
        sop_uid = str(refs[0].ReferencedSOPInstanceUID)
        author = authors.get(str(item.GraphicLayer), "")
        frame = _frames_of(item)
        texts = [str(t.UnformattedTextValue) for t in item.get("TextObjectSequence", [])]
        for obj in item.get("GraphicObjectSequence", []):
            kind = str(obj.get("TrackingID", "") or "").partition(":")[0]
            data = [float(v) for v in obj.GraphicData]
            pts = [(data[i], data[i + 1]) for i in range(0, len(data), 2)]
            if kind == "ellipse" and len(pts) == 4:
                (x0, _), (x1, _), (_, y0), (_, y1) = pts
                pts = [(x0, y0), (x1, y1)]
            elif kind == "polygon" and len(pts) > 1 and pts[0] == pts[-1]:
                pts = pts[:-1]
            if kind not in KINDS:
                continue
            marks.append(
                MarkData(
                    kind=kind,
                    sop_uid=sop_uid,
                    points=pts,
                    author=author,
                    text=texts[0] if kind == "text" and texts else "",
                    frame=frame,
                )
            )
    return marks
