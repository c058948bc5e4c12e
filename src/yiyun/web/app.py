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
from yiyun.clinics import access as clinic_access
from yiyun.clinics import reminders as clinic_reminders
from yiyun.collab.meeting_docs import register_meeting_documents
from yiyun.collab.rooms import RoomManager
from yiyun.consult import access as consult_access
from yiyun.consult import casework
from yiyun.consult import sla as consult_sla
from yiyun.core import migrate
from yiyun.core.bus import create_bus
from yiyun.core.crypto import FieldCipher
from yiyun.core.db import create_engine, session_factory
from yiyun.core.jobs import Periodic, node_name
from yiyun.core.logging import configure_logging
from yiyun.core.ratelimit import create_limiter
from yiyun.core.storage import LocalStore
from yiyun.imaging.dicom import FrameCache
from yiyun.inquiry import jobs as inquiry_jobs
from yiyun.media.hub import SignalHub
from yiyun.media.registry import create_engine as create_media_engine
from yiyun.meetings import access as meeting_access
from yiyun.meetings import reminders as meeting_reminders
from yiyun.meetings.room import RoomControl
from yiyun.notify import service as notify_service
from yiyun.notify.channels import Outbound, console_outbound, sms_channel
from yiyun.ops import jobs as ops_jobs
from yiyun.ops import simulate as ops_simulate
from yiyun.ops.config import config_from as ops_config
from yiyun.ops.metrics import OpsMetrics
from yiyun.partners import webhooks as partner_webhooks
from yiyun.records import break_glass
from yiyun.referrals import access as referral_access
from yiyun.settings import Settings, blob_keys, check_production, secret, with_secrets
from yiyun.stats import jobs as stats_jobs
from yiyun.stats import report as stats_report
from yiyun.stats.config import stats_config
from yiyun.surveillance import jobs as surveillance_jobs
from yiyun.surveillance.config import config_from
from yiyun.teaching import worker as teaching_worker
from yiyun.teaching.live_streams import LiveStreams
from yiyun.web import errors, openapi, routes
from yiyun.web.fhir import errors as fhir_errors
from yiyun.web.htmx import HtmxRedirect
from yiyun.web.middleware import Metrics, RequestContextMiddleware
from yiyun.web.query import DropEmptyQuery
from yiyun.web.security import EdgeMiddleware, security_headers

logger = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"


def register_relationships() -> None:
    """The workflow relationships that grant access to patients, all named here."""
    policy.register_relationship(meeting_access.MEETING_ABOUT_PATIENT)
    policy.register_relationship(break_glass.BREAK_GLASS)
    policy.register_relationship(clinic_access.SPECIALIST_IN_VISIT)
    policy.register_relationship(referral_access.REFERRED_TO_MY_INSTITUTION)
    policy.register_relationship(consult_access.EXPERT_OF_OPEN_CONSULTATION)


def register_document_types() -> None:
    """The real-time document types (`collab.docs`), each with its access rule."""
    register_meeting_documents()
    casework.register_case_documents()


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
    partner_webhooks.install()
    register_document_types()
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
        transcoder = teaching_worker.Transcoder(
            teaching_worker.Context(
                factory=app.state.sessions,
                bus=app.state.bus,
                store=app.state.store,
                config=settings.teaching,
                work_dir=settings.data_dir / "teaching-work" / "runs",
            )
        )
        transcoder.start()
        stats_runner = stats_jobs.Runner(
            app.state.sessions,
            app.state.bus,
            stats_config(settings),
            stats_report.maker(app.state.sessions, app.state.store, stats_config(settings)),
        )
        stats_runner.start()
        ops_runner = _ops_runner(app, settings)
        ops_runner.start()
        clinic_runner = clinic_reminders.Runner(
            app.state.sessions, app.state.bus, enabled=settings.meetings.jobs_enabled
        )
        clinic_runner.start()
        inquiry_runner = inquiry_jobs.Runner(
            inquiry_jobs.Context(app.state.sessions, app.state.bus, settings.inquiry)
        )
        inquiry_runner.start()
        sla_runner = consult_sla.Runner(
            consult_sla.Context(app.state.sessions, app.state.bus, settings.consult)
        )
        sla_runner.start()
        webhook_runner = partner_webhooks.Runner(
            partner_webhooks.Context(app.state.sessions, app.state.cipher),
            enabled=settings.meetings.jobs_enabled,
        )
        webhook_runner.start()
        yield
        await webhook_runner.stop()
        await sla_runner.stop()
        await inquiry_runner.stop()
        await clinic_runner.stop()
        await ops_runner.stop()
        await stats_runner.stop()
        await transcoder.stop()
        await reminder_runner.stop()
        await runner.stop()
        await app.state.live_streams.close()
        await app.state.rooms.close()
        await app.state.collab.close()
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
    app.state.frames = FrameCache()  # decoded DICOM frames the viewer renders from
    app.state.metrics = metrics
    app.state.ops_metrics = OpsMetrics(metrics.registry)
    # SMS and e-mail (console until configured; the SMS gateway by `residents.sms_backend`)
    residents = settings.residents
    token = residents.sms_gateway_token
    app.state.outbound = Outbound(
        sms=sms_channel(
            residents.sms_backend,
            url=residents.sms_gateway_url,
            token=token.get_secret_value() if token else None,
            timeout=residents.sms_gateway_timeout_seconds,
            show_body=settings.env in ("dev", "demo"),
        ),
        email=console_outbound().email,
    )
    notify_service.install_outbound(app.state.outbound, app.state.cipher)
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
    app.state.collab = RoomManager(app.state.sessions, app.state.bus)
    app.state.live_streams = LiveStreams(
        app.state.hub.engine,
        settings.data_dir / "live-hls",
        segment_seconds=settings.teaching.live_hls_segment_seconds,
    )
    mos = app.state.ops_metrics.mos.labels(settings.media.engine)
    app.state.rooms.quality_observer = mos.observe
    app.state.static_url = "/static"
    errors.install(app)
    fhir_errors.install(app)  # OperationOutcome on /fhir/ paths
    routes.mount(app)
    openapi.install(app)  # links from each created resource to what takes its id
    STATIC.mkdir(parents=True, exist_ok=True)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(HtmxRedirect)
    app.add_middleware(DropEmptyQuery)  # a page's blank GET filter is "not chosen"
    # The API docs page is served by web/apidocs.py (docs_url is None): name its path here.
    app.add_middleware(EdgeMiddleware, docs_paths=["/api/docs", app.openapi_url])
    app.add_middleware(
        RequestContextMiddleware, metrics=metrics, headers=security_headers(settings)
    )
    return app


def _ops_runner(app: FastAPI, settings: Settings) -> ops_jobs.Runner:
    """This node's report and the alarm evaluation; in the demo, simulated terminals."""
    config = ops_config(settings)

    async def ready() -> bool:
        try:
            async with app.state.engine.connect() as conn:
                await conn.exec_driver_sql("SELECT 1")
        except Exception:  # any failure means not ready
            return False
        return bool(await app.state.bus.ping())

    async def load() -> dict[str, object]:
        hub: SignalHub = app.state.hub
        if not hub.started:
            return {"engine": settings.media.engine, "rooms": {}, "people": {}}
        found = await hub.engine.load()
        nodes = found.nodes or {"embedded@" + node_name(): found.rooms}
        people = {name: found.participants if len(nodes) == 1 else 0 for name in nodes}
        return {"engine": settings.media.engine, "rooms": dict(nodes), "people": people}

    probe = ops_jobs.Probe(
        ready=ready,
        load=load,
        data_dir=settings.data_dir,
        janus_urls=list(settings.media.janus_urls),
        turn_urls=list(settings.media.turn_urls),
    )
    runner = ops_jobs.Runner(
        factory=app.state.sessions,
        bus=app.state.bus,
        config=config,
        probe=probe,
        metrics=app.state.ops_metrics,
    )
    if config.simulate or settings.env == "demo":
        # The demo's simulated terminals beat on their own loop, beside the node report.
        beats = ops_simulate.DemoBeats(
            ops_simulate.Fleet(app.state.sessions, config, app.state.limiter)
        )
        runner.companions.append(Periodic("ops-demo-beats", beats, every_seconds=10.0))
    return runner
