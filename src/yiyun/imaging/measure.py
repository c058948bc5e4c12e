"""Measurements of annotation marks in image coordinates (column x, row y, in pixels):
length in mm from Pixel Spacing, ROI area in mm² and mean/SD of the modality values
(HU on CT) inside an ellipse or polygon. Pure functions."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

Point = tuple[float, float]


def _mm(spacing: tuple[float, float] | None) -> tuple[float, float]:
    # PixelSpacing is (row spacing, column spacing); without it, a pixel counts as 1.
    return (spacing[1], spacing[0]) if spacing else (1.0, 1.0)


def length(points: Sequence[Point], spacing: tuple[float, float] | None) -> float:
    """Length of a line (first to last point) in mm (pixels without spacing)."""
    (x0, y0), (x1, y1) = points[0], points[-1]
    sx, sy = _mm(spacing)
    return math.hypot((x1 - x0) * sx, (y1 - y0) * sy)


def polygon_mask(points: Sequence[Point], shape: tuple[int, int]) -> np.ndarray:
    """Pixels whose centre lies inside the polygon (even-odd rule)."""
    rows, cols = shape
    ys, xs = np.mgrid[0:rows, 0:cols]
    px, py = xs + 0.5, ys + 0.5
    inside = np.zeros(shape, dtype=bool)
    n = len(points)
    for i in range(n):
        x0, y0 = points[i]
        x1, y1 = points[(i + 1) % n]
        if y0 == y1:
            continue
        crosses = (py >= min(y0, y1)) & (py < max(y0, y1))
        x_at = x0 + (py - y0) * (x1 - x0) / (y1 - y0)
        inside ^= crosses & (px < x_at)
    return inside


def ellipse_mask(points: Sequence[Point], shape: tuple[int, int]) -> np.ndarray:
    """The ellipse inscribed in the box of two opposite corners."""
    (x0, y0), (x1, y1) = points[0], points[-1]
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    rx, ry = max(abs(x1 - x0) / 2, 1e-6), max(abs(y1 - y0) / 2, 1e-6)
    rows, cols = shape
    ys, xs = np.mgrid[0:rows, 0:cols]
    return bool_mask(((xs + 0.5 - cx) / rx) ** 2 + ((ys + 0.5 - cy) / ry) ** 2 <= 1.0)


def bool_mask(values: np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=bool)


def polygon_area(points: Sequence[Point], spacing: tuple[float, float] | None) -> float:
    """Shoelace area in mm²."""
    sx, sy = _mm(spacing)
    total = 0.0
    for i in range(len(points)):
        x0, y0 = points[i]
        x1, y1 = points[(i + 1) % len(points)]
        total += x0 * y1 - x1 * y0
    return abs(total) / 2 * sx * sy


def ellipse_area(points: Sequence[Point], spacing: tuple[float, float] | None) -> float:
    (x0, y0), (x1, y1) = points[0], points[-1]
    sx, sy = _mm(spacing)
    return math.pi * abs(x1 - x0) / 2 * sx * abs(y1 - y0) / 2 * sy


def roi_stats(
    kind: str, points: Sequence[Point], image: np.ndarray, spacing: tuple[float, float] | None
) -> dict[str, float]:
    """Area (mm²), mean and SD of the values inside, and the pixel count."""
    shape = (int(image.shape[0]), int(image.shape[1]))
    if kind == "ellipse":
        mask, area = ellipse_mask(points, shape), ellipse_area(points, spacing)
    else:
        mask, area = polygon_mask(points, shape), polygon_area(points, spacing)
    inside = image[mask]
    if inside.size == 0:
        return {"area_mm2": round(area, 2), "mean": 0.0, "sd": 0.0, "pixels": 0}
    return {
        "area_mm2": round(area, 2),
        "mean": round(float(inside.mean()), 1),
        "sd": round(float(inside.std()), 1),
        "pixels": int(inside.size),
    }
