"""Browser tests: a real server on 127.0.0.1 and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from tests.factories import World, seed_world
from tests.services import free_port
from yiyun.core import migrate
from yiyun.ops.config import OpsSettings
from yiyun.settings import (
    DbSettings,
    MediaSettings,
    SecuritySettings,
    Settings,
    StorageSettings,
)
from yiyun.web.app import create_app

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
]
SCREENSHOTS = Path(os.environ.get("YIYUN_SCREENSHOTS", "test-results/screenshots"))


@dataclass
class LiveServer:
    url: str
    world: World
    settings: Settings
    demo_totp: dict[str, str] = field(default_factory=dict)  # demo logins, when seeded
    app: Any = None  # the served app (its console SMS channel keeps what it "sent")


@contextlib.contextmanager
def serve(
    tmp: Path,
    media: MediaSettings | None = None,
    *,
    demo: bool = False,
    ops: OpsSettings | None = None,
) -> Iterator[LiveServer]:
    """A seeded app on 127.0.0.1 in a background thread, stopped on exit; `demo` adds
    the full demo consortium (`yiyun demo`: 94 sites and their staff)."""
    url = f"sqlite+aiosqlite:///{tmp}/e2e.db"
    migrate.upgrade(url)
    settings = Settings(
        env="test",
        data_dir=tmp,
        log_json=True,
        db=DbSettings(url=url, migrate_on_start=False),
        storage=StorageSettings(path=tmp / "blobs"),
        media=media or MediaSettings(engine="fake"),
        ops=ops or OpsSettings(),
        security=SecuritySettings(
            secret_key="e2e-secret-key-0123456789abcdef",
            data_key="e2e-data-key-0123456789abcdef",
            argon2_time_cost=1,
            argon2_memory_kib=64,
        ),
    )
    app = create_app(settings, configure_logs=False)

    async def seed() -> World:
        async with app.state.sessions() as s, s.begin():
            return await seed_world(s, settings.security, app.state.cipher)

    async def seed_demo() -> dict[str, str]:
        from yiyun.clinics.demo import seed_clinics
        from yiyun.demo.seed import seed as demo_seed

        summary = await demo_seed(app.state.sessions, settings, patients_per_centre=2)
        await seed_clinics(app.state.sessions)
        return {login.username: login.totp_secret for login in summary.logins}

    # Own thread: Playwright's sync API may already run an event loop in this one.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        world = pool.submit(asyncio.run, seed()).result()
        demo_totp = pool.submit(asyncio.run, seed_demo()).result() if demo else {}
        pool.submit(asyncio.run, app.state.engine.dispose()).result()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield LiveServer(
            url=f"http://127.0.0.1:{port}",
            world=world,
            settings=settings,
            demo_totp=demo_totp,
            app=app,
        )
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with serve(tmp_path_factory.mktemp("e2e")) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/install-system.sh")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


_LAST_STEP: dict[tuple[str, str], int] = {}


def _fresh_code(server: LiveServer, name: str, secret: str) -> str:
    """A TOTP code the server has not seen for this person: a code is accepted once, so a
    second sign-in in the same 30 s uses the next step (inside the server's window)."""
    import pyotp

    from yiyun.auth.totp import PERIOD, VALID_WINDOW

    key = (server.url, name)
    step = max(int(time.time() // PERIOD), _LAST_STEP.get(key, -1) + 1)
    while step > int(time.time() // PERIOD) + VALID_WINDOW:
        time.sleep(1)
    _LAST_STEP[key] = step
    return pyotp.TOTP(secret).at(step * PERIOD)


def _sign_in(page: Any, server: LiveServer, name: str, password: str, secret: str) -> None:
    page.goto(server.url + "/login")
    page.fill("#username", name)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_url("**/2fa**")
    page.fill("#code", _fresh_code(server, name, secret))
    page.click("button[type=submit]")
    page.wait_for_url(server.url + "/", timeout=10_000)


def sign_in(page: object, server: LiveServer, name: str) -> None:
    """Password then TOTP, as a person would."""
    from tests.factories import PASSWORD

    _sign_in(page, server, name, PASSWORD, server.world.totp[name])


def sign_in_demo(page: object, server: LiveServer, name: str) -> None:
    """A demo consortium login (`yiyun demo`), password then TOTP."""
    from yiyun.demo.data import DEMO_PASSWORD

    _sign_in(page, server, name, DEMO_PASSWORD, server.demo_totp[name])


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with serve(tmp_path_factory.mktemp("demo"), demo=True) as server:
        yield server


def shot(page: object, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    return path


# Browser tests that run on each media engine; the Janus variant carries the janus marker.
ENGINES = ["embedded", pytest.param("janus", marks=pytest.mark.janus)]


@contextlib.contextmanager
def serve_engine(engine: str, tmp: Path) -> Iterator[LiveServer]:
    """A live server on the embedded engine, or on Janus in a network namespace."""
    if engine == "janus":
        from tests.media import janus_harness as jh

        reason = jh.janus_missing() or jh.namespaces_missing()
        if reason:
            pytest.fail(f"Janus browser test cannot run: {reason}")
        with jh.janus_in_namespace() as node, serve(tmp, jh.janus_media_settings(node)) as server:
            yield server
    else:
        media = MediaSettings(engine="embedded", loopback_candidates=True)
        with serve(tmp, media) as server:
            yield server


class Requests:
    """The page's requests still in flight, counted from Playwright's events."""

    def __init__(self, page: Any) -> None:
        self.open: set[object] = set()
        page.on("request", self.started)
        page.on("requestfinished", self.ended)
        page.on("requestfailed", self.ended)

    def started(self, request: object) -> None:
        self.open.add(request)

    def ended(self, request: object) -> None:
        self.open.discard(request)


def settle(page: Any, *, quiet_ms: int = 100, timeout_ms: int = 15_000) -> None:
    """Wait until the page has loaded and no request has been in flight for `quiet_ms`
    (htmx fragments, an island's fetches): Playwright's "networkidle" with a shorter
    quiet spell than its fixed 500 ms. The page's requests are watched from the first
    call on, so call it once right after the page is opened as well."""
    watched: Requests | None = getattr(page, "_yiyun_requests", None)
    if watched is None:
        watched = Requests(page)
        page._yiyun_requests = watched
        page.wait_for_load_state("networkidle", timeout=timeout_ms)
        return
    page.wait_for_load_state("load", timeout=timeout_ms)
    deadline = time.monotonic() + timeout_ms / 1000
    quiet_since: float | None = None
    while time.monotonic() < deadline:
        now = time.monotonic()
        if watched.open:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = now
        elif now - quiet_since >= quiet_ms / 1000:
            return
        page.wait_for_timeout(25)  # lets Playwright deliver the page's events
    raise TimeoutError(f"requests still in flight after {timeout_ms} ms: {len(watched.open)}")
