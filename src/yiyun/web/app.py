"""`create_app(settings)`: the ASGI application with its lifespan and middleware."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy.ext.asyncio import AsyncConnection

from yiyun import __version__
from yiyun.audit import service as audit
from yiyun.auth import passwords, policy
from yiyun.auth.live import LiveSessions
from yiyun.consult import access as consult_access
from yiyun.consult import sla as consult_sla
from yiyun.core import migrate
from yiyun.core.bus import create_bus
from yiyun.core.crypto import FieldCipher
from yiyun.core.db import create_engine, session_factory
from yiyun.core.logging import configure_logging
from yiyun.core.ratelimit import create_limiter
from yiyun.core.storage import LocalStore
from yiyun.media.hub import SignalHub
from yiyun.media.registry import create_engine as create_media_engine
from yiyun.meetings import access as meeting_access
from yiyun.meetings import reminders as meeting_reminders
from yiyun.meetings.room import RoomControl
from yiyun.notify.channels import console_outbound
from yiyun.records import break_glass
from yiyun.settings import Settings, blob_keys, check_production, secret, with_secrets
from yiyun.surveillance import jobs as surveillance_jobs
from yiyun.surveillance.config import config_from
from yiyun.web import errors, routes
from yiyun.web.fhir import errors as fhir_errors
from yiyun.web.htmx import HtmxRedirect
from yiyun.web.middleware import Metrics, RequestContextMiddleware
from yiyun.web.security import EdgeMiddleware, security_headers

logger = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"


def register_relationships() -> None:
    """The workflow relationships that grant access to patients, all named here."""
    policy.register_relationship(meeting_access.MEETING_ABOUT_PATIENT)
    policy.register_relationship(break_glass.BREAK_GLASS)
    policy.register_relationship(consult_access.EXPERT_OF_OPEN_CONSULTATION)


def create_app(
    settings: Settings, *, configure_logs: bool = True, bind: AsyncConnection | None = None
) -> FastAPI:
    """Build the application from settings; nothing here reads the environment.

    `bind`: one open connection, in a transaction, for every session of the app
    (tests roll it back afterwards); by default an engine on `settings.db.url`.
    """
    settings = with_secrets(settings)
    check_production(settings)
    register_relationships()
    passwords.configure(
        time_cost=settings.security.argon2_time_cost, memory_kib=settings.security.argon2_memory_kib
    )
    if configure_logs:
        configure_logging(json_output=settings.log_json, level=settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.db.migrate_on_start:
            if settings.db.url.startswith("sqlite"):
                settings.data_dir.mkdir(parents=True, exist_ok=True)
            await asyncio.to_thread(migrate.upgrade, settings.db.url)
        await app.state.rooms.sweep_working_files()
        await app.state.live.start()
        await app.state.hub.start()
        runner = surveillance_jobs.Runner(app.state.sessions, app.state.bus, config_from(settings))
        runner.start()
        reminder_runner = meeting_reminders.Runner(
            meeting_reminders.Context(
                factory=app.state.sessions,
                bus=app.state.bus,
                outbound=app.state.outbound,
                cipher=app.state.cipher,
                config=settings.meetings,
                public_url=settings.public_url,
                locale=settings.default_locale,
            )
        )
        reminder_runner.start()
        sla_runner = consult_sla.Runner(
            consult_sla.Context(app.state.sessions, app.state.bus, settings.consult)
        )
        sla_runner.start()
        yield
        await sla_runner.stop()
        await reminder_runner.stop()
        await runner.stop()
        await app.state.rooms.close()
        await app.state.hub.close()
        await app.state.live.close()
        await app.state.bus.close()
        await app.state.limiter.close()
        await app.state.engine.dispose()

    app = FastAPI(
        title="Yiyun API",
        version=__version__,
        description="Regional telemedicine platform: consortium, identity, patient records.",
        lifespan=lifespan,
        docs_url=None,  # web/apidocs.py serves Swagger UI from our own static files
        redoc_url=None,
        openapi_url="/api/v1/openapi.json",
    )
    engine = (
        bind.engine if bind is not None else create_engine(settings.db.url, echo=settings.db.echo)
    )
    metrics = Metrics()
    app.state.settings = settings
    app.state.engine = engine
    app.state.bus = create_bus(settings.bus.url)
    app.state.limiter = create_limiter(settings.bus.url)  # one limiter, shared like the bus
    # Callers cached for a few seconds; sessions revoked on any node close here too.
    app.state.live = LiveSessions(app.state.bus)
    app.state.sessions = session_factory(bind if bind is not None else engine)
    app.state.sessions.configure(info=app.state.live.session_info())
    app.state.audit_writer = audit.GroupWriter(app.state.sessions)
    app.state.store = LocalStore(settings.storage.path, blob_keys(settings.security))
    app.state.cipher = FieldCipher(secret(settings.security.data_key))
    app.state.metrics = metrics
    app.state.outbound = console_outbound()  # SMS and e-mail (console until configured)
    app.state.hub = SignalHub(
        create_media_engine(settings.media), ice_servers=list(settings.media.ice_servers)
    )
    app.state.rooms = RoomControl(
        app.state.hub,
        app.state.sessions,
        app.state.bus,
        app.state.store,
        recordings_dir=settings.data_dir / "recordings-work",
        empty_end_seconds=settings.meetings.empty_end_minutes * 60,
    )
    app.state.static_url = "/static"
    errors.install(app)
    fhir_errors.install(app)  # OperationOutcome on /fhir/ paths
    routes.mount(app)
    STATIC.mkdir(parents=True, exist_ok=True)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(HtmxRedirect)
    # The API docs page is served by web/apidocs.py (docs_url is None): name its path here.
    app.add_middleware(EdgeMiddleware, docs_paths=["/api/docs", app.openapi_url])
    app.add_middleware(
        RequestContextMiddleware, metrics=metrics, headers=security_headers(settings)
    )
    return app
