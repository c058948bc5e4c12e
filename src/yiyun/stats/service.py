"""What the pages and the API ask: the caller's scope, institutions by id, checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.auth.policy import Action, Scope, Target, allows, require, scope
from yiyun.auth.principal import Principal
from yiyun.org.enums import InstitutionKind
from yiyun.org.models import Institution
from yiyun.stats import geo
from yiyun.stats.config import StatsSettings


def stats_scope(principal: Principal, institution_id: int | None = None) -> Scope:
    """Where the caller may read figures; narrowed to one institution when asked for."""
    require(principal, Action.VIEW_STATS, Target.of(principal.institution_id))
    if institution_id is not None:
        require(principal, Action.VIEW_STATS, Target.of(institution_id))
        return Scope(frozenset({institution_id}))
    return scope(principal, Action.VIEW_STATS)


def sees_all(principal: Principal) -> bool:
    return allows(principal, Action.VIEW_STATS)


@dataclass(frozen=True)
class Site:
    id: int
    code: str
    name: str
    name_en: str
    kind: str
    lon: float | None
    lat: float | None

    def label(self, locale: str) -> str:
        return self.name if locale.startswith("zh") else self.name_en


async def sites(session: AsyncSession, sc: Scope, config: StatsSettings) -> dict[int, Site]:
    box = geo.bbox(geo.load(config.geojson))
    rows = (
        await session.scalars(
            select(Institution)
            .where(Institution.kind != InstitutionKind.HEALTH_AUTHORITY, sc.where(Institution.id))
            .order_by(Institution.id)
        )
    ).all()
    out: dict[int, Site] = {}
    for i in rows:
        placed = geo.place(i.lon, i.lat, i.map_x, i.map_y, box)
        out[i.id] = Site(
            i.id,
            i.code,
            i.name,
            i.name_en,
            i.kind.value,
            placed[0] if placed else None,
            placed[1] if placed else None,
        )
    return out


def site_json(site: Site) -> dict[str, Any]:
    return {
        "id": site.id,
        "code": site.code,
        "name": site.name,
        "name_en": site.name_en,
        "kind": site.kind,
        "lon": site.lon,
        "lat": site.lat,
    }
