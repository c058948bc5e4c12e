"""The command room's picture of the district, in one query set."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.auth.policy import Action, require
from yiyun.auth.principal import Principal
from yiyun.emergency import service
from yiyun.emergency.models import Incident, Task
from yiyun.org import overview as org_overview
from yiyun.org.enums import InstitutionKind, TerminalStatus
from yiyun.org.models import Institution

# Surveillance registers a provider: site id -> the worst open alert state there.
AlertStates = Callable[[AsyncSession], Awaitable[dict[int | None, dict[str, Any]]]]
_alert_states: list[AlertStates] = []


def register_alert_states(provider: AlertStates) -> AlertStates:
    if provider not in _alert_states:
        _alert_states.append(provider)
    return provider


async def board(*, session: AsyncSession, principal: Principal) -> dict[str, Any]:
    require(principal, Action.COMMAND_EMERGENCY)
    sites = (
        await session.scalars(
            select(Institution)
            .where(Institution.kind != InstitutionKind.HEALTH_AUTHORITY)
            .order_by(Institution.id)
        )
    ).all()
    terminals = await org_overview.terminals_by_site(session=session)
    district = await org_overview.overview(session=session)
    alerts: dict[int | None, dict[str, Any]] = {}
    for provider in _alert_states:
        alerts.update(await provider(session))
    resources = {r.site_id: r for r in await service.latest_resources(session=session)}
    open_tasks = dict(
        (
            await session.execute(
                select(Task.site_id, func.count())
                .where(Task.state.in_(("sent", "acknowledged")))
                .group_by(Task.site_id)
            )
        ).all()
    )
    incidents = (
        await session.scalars(
            select(Incident).where(Incident.state == "open").order_by(Incident.id.desc())
        )
    ).all()
    return {
        "sites": [
            {
                "id": s.id,
                "code": s.code,
                "name": s.name,
                "name_en": s.name_en,
                "kind": s.kind.value,
                "x": s.map_x,
                "y": s.map_y,
                "lon": s.lon,
                "lat": s.lat,
                "terminals": {
                    "online": terminals.get(s.id, {}).get(TerminalStatus.ONLINE, 0),
                    "total": sum(terminals.get(s.id, {}).values()),
                },
                "alert": alerts.get(s.id),
                "open_tasks": int(open_tasks.get(s.id, 0)),
                "resources": None
                if s.id not in resources
                else {
                    "beds_free": resources[s.id].beds_free,
                    "beds_total": resources[s.id].beds_total,
                    "fever_waiting": resources[s.id].fever_clinic_waiting,
                    "fever_capacity": resources[s.id].fever_clinic_capacity,
                    "reported_at": resources[s.id].reported_at.isoformat(),
                },
            }
            for s in sites
        ],
        # the district's figure, counted as the home page counts it (one query, one figure)
        "terminals": {
            "online": district.terminals_by_status.get(TerminalStatus.ONLINE, 0),
            "total": district.terminals_total,
        },
        "district_alert": alerts.get(None),
        "incidents": [
            {
                "id": i.id,
                "title": i.title,
                "sites": i.site_ids,
                "meeting_id": i.meeting_id,
                "alert_id": i.alert_id,
                "created_at": i.created_at.isoformat(),
            }
            for i in incidents
        ],
    }
