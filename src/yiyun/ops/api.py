"""Operations API: terminal enrolment and revocation, the fleet, alarms, topology; and
the device side (enrol, heartbeat) authenticated by device credential, not by a user.

Every refused device call is counted in `yiyun_device_refusals_total{reason}`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request
from pydantic import ValidationError

from yiyun.auth import policy
from yiyun.auth.policy import Action, Target
from yiyun.core.db import retry_when_locked, transaction
from yiyun.core.errors import NotAuthenticated, YiyunError
from yiyun.core.jobs import node_name
from yiyun.core.pagination import Page
from yiyun.ops import alarms, devices, fleet, topology, workflow
from yiyun.ops.config import config_from
from yiyun.ops.metrics import OpsMetrics
from yiyun.ops.models import AlarmKind, AlarmState
from yiyun.ops.schemas import (
    AlarmRead,
    BeatRead,
    CredentialRead,
    EnrolmentRead,
    FleetTerminalRead,
    HealthRead,
    RevokedRead,
    TopologyRead,
)
from yiyun.org.enums import TerminalStatus
from yiyun.web.deps import CurrentActor, CurrentPrincipal, DbSession, client_ip
from yiyun.web.pagekit import invalid
from yiyun.web.params import Id, Paging

router = APIRouter()
OPS = "/ops"
REASONS = {
    "ops.unknown": "unknown",
    "ops.revoked": "revoked",
    "ops.replayed": "replayed",
    "ops.expired": "expired",
    "ops.flood": "flood",
    "ops.enrol_limited": "flood",
    "invalid_input": "invalid",
}
Days = Annotated[int, Query(ge=1, le=366, description="raised in the last N days")]
ACTIONS = ("acknowledge", "clear")


def _metrics(request: Request) -> OpsMetrics:
    found: OpsMetrics = request.app.state.ops_metrics
    return found


@asynccontextmanager
async def counted(request: Request) -> AsyncIterator[None]:
    """Count a refused device call by its reason, then let the error answer."""
    try:
        yield
    except YiyunError as exc:
        _metrics(request).refusals.labels(REASONS.get(exc.code, "other")).inc()
        raise


def device_credential(authorization: str | None) -> str | None:
    if authorization and authorization[:7].lower() == "device ":
        return authorization[7:].strip()
    return None


# --- the device side ------------------------------------------------------------------


@router.post("/devices/enrol", response_model=CredentialRead, status_code=201)
async def enrol_device(
    data: devices.EnrolExchange, request: Request, session: DbSession
) -> CredentialRead:
    """Exchange the terminal code and its one-time enrolment code for a device credential
    (shown once; send it as `Authorization: Device <credential>`)."""
    async with counted(request):
        issued = await devices.exchange(
            session=session, data=data, limiter=request.app.state.limiter, ip=client_ip(request)
        )
    return CredentialRead(
        terminal_id=issued.terminal.id,
        terminal_code=issued.terminal.code,
        credential=issued.credential,
    )


@router.post("/devices/heartbeat", response_model=BeatRead)
async def heartbeat(
    request: Request,
    session: DbSession,
    authorization: Annotated[str | None, Header()] = None,
) -> BeatRead:
    """One heartbeat (JSON body: `seq`, `version`, `camera`, `microphone`, `screen`,
    `rtt_ms`, `loss_pct`, `bandwidth_kbps`). Unknown or revoked credentials: 401; a
    replayed `seq`: 409; a flood: 429; a value out of range: 422 naming the field."""
    async with counted(request):
        credential = device_credential(authorization)
        if credential is None:
            raise NotAuthenticated("unknown device credential", code="ops.unknown")
        device = await devices.authenticate(session=session, credential=credential)
        try:
            beat = devices.Heartbeat.model_validate_json(await request.body())
        except ValidationError as exc:
            raise invalid(exc) from None
        config = config_from(request.app.state.settings)
        await devices.refuse_flood(device=device, limiter=request.app.state.limiter, config=config)
        factory = request.app.state.sessions
        node = node_name()

        async def write() -> TerminalStatus:
            # Its own transaction, so a write that lost SQLite's lock is retried whole
            # (credential read again, replay check, health row, status).
            async with transaction(factory) as own:
                again = await devices.authenticate(session=own, credential=credential)
                return await devices.store(session=own, device=again, beat=beat, node=node)

        status = await retry_when_locked(write)
    _metrics(request).heartbeats.inc()
    return BeatRead(status=status)


# --- operations -----------------------------------------------------------------------


@router.post(
    f"{OPS}/terminals/{{terminal_id}}/enrolment", response_model=EnrolmentRead, status_code=201
)
async def enrol_terminal(
    terminal_id: Id,
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
) -> EnrolmentRead:
    """A one-time enrolment code for the terminal (shown once); ends its credential."""
    terminal = await devices.get_terminal(session=session, terminal_id=terminal_id)
    policy.require(principal, Action.MANAGE_TERMINALS, Target.of(terminal.institution_id))
    done = await devices.enrol(
        session=session,
        terminal=terminal,
        actor=actor,
        config=config_from(request.app.state.settings),
    )
    return EnrolmentRead(terminal_id=terminal.id, code=done.code, expires_at=done.expires_at)


@router.post(f"{OPS}/terminals/{{terminal_id}}/revoke", response_model=RevokedRead)
async def revoke_terminal(
    terminal_id: Id, session: DbSession, principal: CurrentPrincipal, actor: CurrentActor
) -> RevokedRead:
    """End the terminal's device credential (its heartbeats and kiosk are refused)."""
    terminal = await devices.get_terminal(session=session, terminal_id=terminal_id)
    policy.require(principal, Action.MANAGE_TERMINALS, Target.of(terminal.institution_id))
    ended = await devices.revoke(session=session, terminal=terminal, actor=actor)
    return RevokedRead(terminal_id=terminal.id, ended=ended)


def _scope(principal: Any) -> policy.Scope:
    scope = policy.scope(principal, Action.VIEW_OPERATIONS)
    if scope.nothing:
        policy.require(principal, Action.VIEW_OPERATIONS)
    return scope


@router.get(f"{OPS}/terminals", response_model=Page[FleetTerminalRead])
async def list_terminals(
    session: DbSession,
    principal: CurrentPrincipal,
    paging: Paging,
    status: TerminalStatus | None = None,
    site_id: Annotated[int | None, Query(gt=0, le=2**31 - 1)] = None,
) -> Page[FleetTerminalRead]:
    """The terminals the caller looks after, with their last heartbeat."""
    rows, total = await fleet.fleet(
        session=session,
        scope=_scope(principal),
        status=status,
        site_id=site_id,
        limit=paging.size,
        offset=paging.offset,
    )
    items = [
        FleetTerminalRead(
            id=r.terminal.id,
            code=r.terminal.code,
            name=r.terminal.name,
            kind=r.terminal.kind,
            status=r.terminal.status,
            institution_id=r.site.id,
            site=r.site.name,
            enrolled=r.enrolled,
            pending_enrolment=r.pending,
            health=HealthRead.model_validate(r.health) if r.health else None,
        )
        for r in rows
    ]
    return Page.of(items, total, paging)


@router.get(f"{OPS}/alarms", response_model=Page[AlarmRead])
async def list_alarms(
    session: DbSession,
    principal: CurrentPrincipal,
    paging: Paging,
    state: AlarmState | None = None,
    kind: AlarmKind | None = None,
    days: Days = 30,
) -> Page[AlarmRead]:
    """Alarms raised in the last `days` (1–366), open ones first."""
    rows, total = await alarms.history(
        session=session,
        institutions=_scope(principal).institutions,
        state=state,
        kind=kind,
        days=days,
        limit=paging.size,
        offset=paging.offset,
    )
    return Page.of([AlarmRead.model_validate(a) for a in rows], total, paging)


@router.post(f"{OPS}/alarms/{{alarm_id}}/{{action}}", response_model=AlarmRead)
async def alarm_action(
    alarm_id: Id,
    action: Annotated[str, Path(min_length=1, max_length=32)],
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
) -> AlarmRead:
    """`acknowledge` or `clear` an alarm (operations)."""
    alarm = await alarms.get(
        session=session, alarm_id=alarm_id, institutions=_scope(principal).institutions
    )
    if action not in ACTIONS:
        raise workflow.MACHINE.illegal(alarm.state, action)
    await alarms.act(
        session=session,
        bus=request.app.state.bus,
        alarm=alarm,
        action=action,
        principal=principal,
        actor=actor,
    )
    return AlarmRead.model_validate(alarm)


@router.get(f"{OPS}/topology", response_model=TopologyRead)
async def get_topology(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    site_id: Annotated[int | None, Query(gt=0, le=2**31 - 1)] = None,
) -> TopologyRead:
    """Sites → terminals → app nodes → media nodes → TURN, each with its state."""
    settings = request.app.state.settings
    found = await topology.graph(
        session=session,
        scope=_scope(principal),
        config=config_from(settings),
        engine=settings.media.engine,
        site_id=site_id,
    )
    return TopologyRead(nodes=found.nodes, links=found.links)
