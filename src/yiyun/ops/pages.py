"""Operations pages: the terminal fleet (enrol, revoke), alarms and their history, topology."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from yiyun.auth import policy
from yiyun.auth.policy import Action, Target
from yiyun.auth.principal import Principal
from yiyun.core.errors import InvalidInput
from yiyun.ops import alarms, devices, fleet, workflow
from yiyun.ops.config import config_from
from yiyun.ops.models import AlarmKind, AlarmState
from yiyun.org.enums import TerminalStatus
from yiyun.web.deps import CurrentActor, CurrentPrincipal, DbSession
from yiyun.web.pagekit import page, see_other
from yiyun.web.params import Id

router = APIRouter()
PAGE_SIZE = 100
Days = Annotated[int, Query(ge=1, le=366)]
PageNo = Annotated[int, Query(ge=1, le=10_000)]

STATE_LABELS = {
    "online": "Online",
    "offline": "Offline",
    "fault": "Fault",
    "raised": "Raised",
    "acknowledged": "Acknowledged",
    "cleared": "Cleared",
}
SEVERITY_LABELS = {"critical": "Critical", "major": "Major", "minor": "Minor"}
COMPONENT_LABELS = {"ok": "Working", "fault": "Fault", "absent": "None"}


E = TypeVar("E", bound=StrEnum)


def _choice(kind: type[E], value: str, field: str) -> E | None:
    """A filter from a query string: empty is "any", anything else must be a member."""
    if not value:
        return None
    try:
        return kind(value)
    except ValueError:
        raise InvalidInput(
            "Some values are not valid; see the fields marked.",
            code="invalid_input",
            details={"field": field},
        ) from None


def _scope(principal: Principal) -> policy.Scope:
    scope = policy.scope(principal, Action.VIEW_OPERATIONS)
    if scope.nothing:
        policy.require(principal, Action.VIEW_OPERATIONS)
    return scope


def _labels() -> dict[str, Any]:
    return {
        "state_labels": STATE_LABELS,
        "severity_labels": SEVERITY_LABELS,
        "component_labels": COMPONENT_LABELS,
        "kind_labels": {k.value: v for k, v in alarms.LABELS.items()},
    }


@router.get("/ops/terminals", response_class=HTMLResponse)
async def terminals(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    status_filter: Annotated[str, Query(alias="status", max_length=16)] = "",
    p: PageNo = 1,
) -> Response:
    status = _choice(TerminalStatus, status_filter, "status")
    scope = _scope(principal)
    rows, total = await fleet.fleet(
        session=session,
        scope=scope,
        status=status,
        limit=PAGE_SIZE,
        offset=(p - 1) * PAGE_SIZE,
    )
    return page(
        request,
        principal,
        "ops/terminals.html",
        {
            "rows": rows,
            "total": total,
            "counts": await fleet.counts(session=session, scope=scope),
            "status": status.value if status else "",
            "p": p,
            "pages": max(1, -(-total // PAGE_SIZE)),
            "enrolment": None,
        }
        | _labels(),
    )


@router.post("/ops/terminals/{terminal_id}/enrol", response_class=HTMLResponse)
async def enrol(
    terminal_id: Id,
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
) -> Response:
    """A one-time enrolment code, shown on this page once."""
    terminal = await devices.get_terminal(session=session, terminal_id=terminal_id)
    policy.require(principal, Action.MANAGE_TERMINALS, Target.of(terminal.institution_id))
    done = await devices.enrol(
        session=session,
        terminal=terminal,
        actor=actor,
        config=config_from(request.app.state.settings),
    )
    response = page(request, principal, "ops/enrolment.html", {"done": done})
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/ops/terminals/{terminal_id}/revoke")
async def revoke(
    terminal_id: Id, session: DbSession, principal: CurrentPrincipal, actor: CurrentActor
) -> Response:
    terminal = await devices.get_terminal(session=session, terminal_id=terminal_id)
    policy.require(principal, Action.MANAGE_TERMINALS, Target.of(terminal.institution_id))
    await devices.revoke(session=session, terminal=terminal, actor=actor)
    return see_other("/ops/terminals?done=credential_revoked")


@router.get("/ops/alarms", response_class=HTMLResponse)
async def alarm_list(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    state_filter: Annotated[str, Query(alias="state", max_length=16)] = "",
    kind_filter: Annotated[str, Query(alias="kind", max_length=24)] = "",
    days: Days = 30,
    p: PageNo = 1,
) -> Response:
    state = _choice(AlarmState, state_filter, "state")
    kind = _choice(AlarmKind, kind_filter, "kind")
    scope = _scope(principal)
    rows, total = await alarms.history(
        session=session,
        institutions=scope.institutions,
        state=state,
        kind=kind,
        days=days,
        limit=PAGE_SIZE,
        offset=(p - 1) * PAGE_SIZE,
    )
    template = "ops/_alarm_rows.html" if request.headers.get("hx-request") else "ops/alarms.html"
    return page(
        request,
        principal,
        template,
        {
            "rows": rows,
            "total": total,
            "state": state.value if state else "",
            "kind": kind.value if kind else "",
            "days": days,
            "p": p,
            "pages": max(1, -(-total // PAGE_SIZE)),
            "kinds": list(AlarmKind),
            "states": list(AlarmState),
            "manage": policy.allows(principal, Action.MANAGE_ALARMS),
        }
        | _labels(),
    )


@router.post("/ops/alarms/{alarm_id}/{action}")
async def alarm_action(
    alarm_id: Id,
    action: Annotated[str, Path(min_length=1, max_length=32)],
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
    back: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    alarm = await alarms.get(
        session=session, alarm_id=alarm_id, institutions=_scope(principal).institutions
    )
    if action not in ("acknowledge", "clear"):
        raise workflow.MACHINE.illegal(alarm.state, action)
    await alarms.act(
        session=session,
        bus=request.app.state.bus,
        alarm=alarm,
        action=action,
        principal=principal,
        actor=actor,
    )
    target = back if back.startswith("/ops/alarms") else "/ops/alarms"
    joiner = "&" if "?" in target else "?"
    return see_other(f"{target}{joiner}done=alarm")


@router.get("/ops/topology", response_class=HTMLResponse)
async def topology_page(request: Request, principal: CurrentPrincipal) -> Response:
    _scope(principal)
    return page(request, principal, "ops/topology.html", {})
