"""The platform as a graph: sites → terminals → app nodes → media nodes → TURN.

Each node carries a state ("ok", "warn", "down", "idle") the page colours. A terminal
links to the app node that took its last heartbeat; app nodes link to the media nodes of
the engine (the embedded engine runs inside each app node; Janus nodes are shared), and
media nodes to the TURN servers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.auth.policy import Scope
from yiyun.core.clock import as_utc, now
from yiyun.ops.config import OpsSettings
from yiyun.ops.models import Node, NodeKind, TerminalHealth
from yiyun.org.enums import TerminalStatus
from yiyun.org.models import Institution, Terminal

LAYERS = ("site", "terminal", "app", "media", "turn")
TERMINAL_STATE = {
    TerminalStatus.ONLINE: "ok",
    TerminalStatus.FAULT: "warn",
    TerminalStatus.OFFLINE: "down",
}


@dataclass
class Graph:
    nodes: list[dict[str, Any]] = field(default_factory=list)
    links: list[dict[str, str]] = field(default_factory=list)

    def add(self, node_id: str, layer: str, name: str, state: str, **extra: Any) -> None:
        self.nodes.append({"id": node_id, "layer": layer, "name": name, "state": state, **extra})

    def link(self, source: str, target: str) -> None:
        self.links.append({"source": source, "target": target})


def _node_state(node: Node, stale_before: datetime) -> str:
    if not node.up:
        return "down"
    return "warn" if as_utc(node.seen_at) < stale_before else "ok"


async def graph(
    *,
    session: AsyncSession,
    scope: Scope,
    config: OpsSettings,
    engine: str,
    site_id: int | None = None,
) -> Graph:
    result = Graph()
    stale = now() - timedelta(seconds=config.node_stale_seconds)
    nodes = list((await session.scalars(select(Node).order_by(Node.kind, Node.name))).all())
    apps = [n for n in nodes if n.kind is NodeKind.APP]
    janus = [n for n in nodes if n.kind is NodeKind.JANUS]
    turns = [n for n in nodes if n.kind is NodeKind.TURN]
    query = (
        select(Terminal, Institution, TerminalHealth.node)
        .join(Institution, Institution.id == Terminal.institution_id)
        .outerjoin(TerminalHealth, TerminalHealth.terminal_id == Terminal.id)
        .where(Terminal.active.is_(True))
        .order_by(Institution.code, Terminal.code)
    )
    if scope.institutions is not None:
        query = query.where(Terminal.institution_id.in_(sorted(scope.institutions)))
    if site_id is not None:
        query = query.where(Terminal.institution_id == site_id)
    app_ids = {n.name for n in apps}
    by_site: dict[int, list[str]] = {}
    sites: dict[int, Institution] = {}
    for terminal, site, via in (await session.execute(query)).all():
        sites[site.id] = site
        state = TERMINAL_STATE[TerminalStatus(terminal.status)]
        by_site.setdefault(site.id, []).append(state)
        tid = f"terminal:{terminal.id}"
        result.add(tid, "terminal", terminal.name, state, code=terminal.code, site=site.id)
        result.link(f"site:{site.id}", tid)
        if state != "down" and via in app_ids:
            result.link(tid, f"app:{via}")
    for sid, site in sites.items():
        states = by_site[sid]
        state = (
            "ok"
            if all(s == "ok" for s in states)
            else ("down" if all(s == "down" for s in states) else "warn")
        )
        result.add(f"site:{sid}", "site", site.name, state, name_en=site.name_en, code=site.code)
    for app in apps:
        result.add(f"app:{app.name}", "app", app.name, _node_state(app, stale))
        if engine == "janus":
            for media in janus:
                result.link(f"app:{app.name}", f"media:{media.name}")
        else:
            media_id = f"media:embedded@{app.name}"
            result.add(media_id, "media", f"embedded@{app.name}", _node_state(app, stale))
            result.link(f"app:{app.name}", media_id)
    for media in janus:
        result.add(f"media:{media.name}", "media", media.name, _node_state(media, stale))
    media_ids = [n["id"] for n in result.nodes if n["layer"] == "media"]
    for turn in turns:
        result.add(f"turn:{turn.name}", "turn", turn.name, _node_state(turn, stale))
        for media_id in media_ids:
            result.link(media_id, f"turn:{turn.name}")
    return result
