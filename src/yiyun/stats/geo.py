"""The district map: its GeoJSON (the deployment's, or the demo's fictional district)
and where each site is on it."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from yiyun.core.errors import InvalidInput

DEMO = Path(__file__).resolve().parent / "geo" / "yunxi-demo.geojson"
MAX_BYTES = 20 * 1024 * 1024


@lru_cache(maxsize=4)
def load(path: Path | None = None) -> dict[str, Any]:
    """The district's FeatureCollection (boundary and streets as polygons)."""
    source = path or DEMO
    if source.stat().st_size > MAX_BYTES:
        raise InvalidInput("the district map file is too large", code="stats.geo_too_large")
    doc = json.loads(source.read_text(encoding="utf-8"))
    if doc.get("type") != "FeatureCollection" or not isinstance(doc.get("features"), list):
        raise InvalidInput(
            "the district map is not a GeoJSON FeatureCollection", code="stats.geo_invalid"
        )
    return doc  # type: ignore[no-any-return]


def bbox(doc: dict[str, Any]) -> tuple[float, float, float, float]:
    """(min lon, min lat, max lon, max lat) of every polygon."""
    lons: list[float] = []
    lats: list[float] = []

    def walk(coords: Any) -> None:
        if coords and isinstance(coords[0], (int, float)):
            lons.append(float(coords[0]))
            lats.append(float(coords[1]))
            return
        for c in coords:
            walk(c)

    for feature in doc["features"]:
        walk(feature["geometry"]["coordinates"])
    return min(lons), min(lats), max(lons), max(lats)


def place(
    lon: float | None,
    lat: float | None,
    map_x: float | None,
    map_y: float | None,
    box: tuple[float, float, float, float],
) -> tuple[float, float] | None:
    """A site's coordinates; a site with only a schematic position is put on the map's box."""
    if lon is not None and lat is not None:
        return lon, lat
    if map_x is None or map_y is None:
        return None
    return box[0] + map_x * (box[2] - box[0]), box[3] - map_y * (box[3] - box[1])
