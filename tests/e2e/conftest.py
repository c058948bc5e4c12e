"""Browser tests: a real server on 127.0.0.1 and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn

from tests.factories import World, seed_world
from tests.services import free_port
from yiyun.core import migrate
from yiyun.settings import DbSettings, SecuritySettings, Settings, StorageSettings
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


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("e2e")
    url = f"sqlite+aiosqlite:///{tmp}/e2e.db"
    migrate.upgrade(url)
    settings = Settings(
        env="test",
        data_dir=tmp,
        log_json=True,
        db=DbSettings(url=url, migrate_on_start=False),
        storage=StorageSettings(path=tmp / "blobs"),
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

    world = asyncio.run(seed())
    asyncio.run(app.state.engine.dispose())
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    yield LiveServer(url=f"http://127.0.0.1:{port}", world=world, settings=settings)
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/install-system.sh")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


def shot(page: object, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    return path
