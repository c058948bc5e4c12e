"""Consent-scoped recording in real Chromium on each media engine: without the patient's
consent the host's "Start recording" is refused with the reason on the page; with it,
only the people who stay included are written (a participant who unticks "Include me
in recordings" is not), both pages show REC, the stored file and its per-participant
parts hold exactly the host's audio and video, the host plays it back (audited), and a
user of another institution gets 404 for the page and the file."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import av
import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import ENGINES, LiveServer, serve_engine, shot, sign_in
from yiyun.core.storage import LocalStore
from yiyun.media.recording import probe_tracks
from yiyun.settings import blob_keys

pytestmark = [pytest.mark.e2e, pytest.mark.media, pytest.mark.slow]

HOST, OTHER, OUTSIDER = "alice", "nina", "mallory"  # CHC A doctor, CHC A nurse, CHC B doctor
PLAYBACK_SHOT = Path("/tmp/playback.png")


@pytest.fixture(scope="module", params=ENGINES)
def rec_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    with serve_engine(request.param, tmp_path_factory.mktemp("rec")) as server:
        yield server


def _db(server: LiveServer) -> sqlite3.Connection:
    return sqlite3.connect(server.settings.db.url.split(":///", 1)[1])


def _row(server: LiveServer, recording_id: int) -> dict[str, Any]:
    with closing(_db(server)) as db:
        key, sha, tracks = db.execute(
            "SELECT storage_key, sha256, tracks FROM meetings_recording WHERE id = ?",
            (recording_id,),
        ).fetchone()
    return {"storage_key": key, "sha256": sha, "tracks": json.loads(tracks)}


def _audits(server: LiveServer, action: str, recording_id: int) -> list[tuple[int, int]]:
    """(actor id, patient id) of each audit entry of `action` on the recording."""
    with closing(_db(server)) as db:
        rows = db.execute(
            "SELECT actor_id, patient_id FROM audit_event WHERE action = ?"
            " AND entity_type = 'recording' AND entity_id = ? ORDER BY seq",
            (action, str(recording_id)),
        ).fetchall()
    return [(int(a), int(p)) for a, p in rows]


def _api(server: LiveServer, method: str, path: str, **kw: Any) -> httpx.Response:
    return httpx.request(
        method, f"{server.url}/api/v1{path}", headers=server.world.auth(HOST), timeout=10, **kw
    )


def _ready_recording(server: LiveServer, meeting_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while True:
        res = _api(server, "GET", f"/meetings/{meeting_id}/recordings")
        assert res.status_code == 200, res.text
        rows = res.json()
        if rows and rows[0]["state"] not in ("recording",):
            assert len(rows) == 1, rows
            assert rows[0]["state"] == "ready", rows[0]
            return dict(rows[0])
        assert time.monotonic() < deadline, f"the recording never became ready: {rows}"
        time.sleep(0.2)


def _joined_with_video(page: Page) -> None:
    """Joined, and the other person's video plays on this page."""
    page.wait_for_function(
        """() => window.yiyunCall.phase === 'joined' && window.yiyunCall.roster.length === 2
          && [...document.querySelectorAll('.tile:not(.self) video')]
               .some(v => v.videoWidth > 0)""",
        timeout=30_000,
    )


def _collect_errors(into: list[str]) -> Callable[[str | bytes], None]:
    def on_frame(payload: str | bytes) -> None:
        try:
            msg = json.loads(payload)
        except ValueError:
            return
        if isinstance(msg, dict) and msg.get("type") == "error":
            into.append(str(msg.get("code")))

    return on_frame


def _status(page: Page, url: str) -> int:
    response = page.goto(url)
    assert response is not None, url
    return response.status


def _said(page: Page, key: str) -> str:
    """What the call page says for `key`, in the page's language (data-i18n-* on #call)."""
    text = page.locator("#call").get_attribute(f"data-i18n-{key}")
    assert text, key
    return text


def _decoded_widths(path: Path, limit: int = 5) -> list[int]:
    widths: list[int] = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            widths.append(frame.width)
            if len(widths) >= limit:
                break
    return widths


def _opened(store: LocalStore, key: str, directory: Path) -> Path:
    """The plaintext of a stored file, after checking the file on disk is sealed."""
    raw = (store.root / key).read_bytes()
    out = directory / key.replace("/", "_")
    with store.open_sync(key) as reader:
        out.write_bytes(reader.read())
    head = out.read_bytes()[:32]  # the EBML header (magic 1A 45 DF A3, doc type)
    assert head.startswith(b"\x1a\x45\xdf\xa3"), key
    assert raw.startswith(b"YYEB") and head[:16] not in raw and head[16:] not in raw, key
    return out


def test_recording_follows_consent_and_plays_back(
    rec_server: LiveServer, browser: Browser, tmp_path: Path
) -> None:
    server, world = rec_server, rec_server.world
    engine = server.settings.media.engine
    started = time.monotonic()
    patient = world.patients["pa"]  # CHC A's patient: alice may read it
    res = _api(
        server,
        "POST",
        "/meetings",
        json={"title": "录制会诊", "invitees": [OTHER], "patient_id": patient.id},
    )
    assert res.status_code == 201, res.text
    meeting_id = int(res.json()["id"])
    call_url = f"{server.url}/meetings/{meeting_id}"

    contexts = {}
    pages = {}
    errors: list[str] = []  # `error` codes the server sends the host's page
    for name in (HOST, OTHER):
        ctx = browser.new_context(viewport={"width": 1280, "height": 800})
        contexts[name] = ctx
        page = ctx.new_page()
        sign_in(page, server, name)
        if name == HOST:
            page.on("websocket", lambda ws: ws.on("framereceived", _collect_errors(errors)))
        page.goto(call_url)
        pages[name] = page
    host, other = pages[HOST], pages[OTHER]
    for page in (host, other):
        _joined_with_video(page)
    ids = {name: str(page.evaluate("() => window.yiyunCall.me")) for name, page in pages.items()}
    joined_s = time.monotonic() - started

    # no recording consent on record: the host's attempt is refused, and the page says why
    host.click("[data-action=people]")
    host.click("[data-control=record_start]")
    reason = _said(host, "no-recording-consent")  # 录制需要患者档案中有录制同意 (zh_CN)
    expect(host.locator(".call-toast.error", has_text=reason)).to_be_visible(timeout=10_000)
    assert errors == ["meeting.no_recording_consent"], errors
    expect(host.locator("[data-rec]")).to_be_hidden()
    expect(host.locator("[data-control=record_start]")).to_be_visible()
    assert host.evaluate("() => window.yiyunCall.recordingState") is None
    res = _api(server, "GET", f"/meetings/{meeting_id}/recordings")
    assert res.status_code == 200 and res.json() == [], res.text

    # the patient consents (recorded by alice); the nurse opts out in the call
    res = _api(server, "POST", f"/patients/{patient.id}/consents", json={"purpose": "recording"})
    assert res.status_code == 201, res.text
    other.click("[data-action=settings]")
    expect(other.locator("[data-consent]")).to_be_checked()
    other.uncheck("[data-consent]")
    host.wait_for_function(
        "(id) => window.yiyunCall.roster.find(p => p.id === id)?.recording === false",
        arg=ids[OTHER],
        timeout=10_000,
    )
    opted_out = f'li.person[data-participant="{ids[OTHER]}"] .st.consent.no'
    expect(host.locator(opted_out)).to_be_visible()

    host.click("[data-control=record_start]")
    for page in (host, other):
        expect(page.locator("[data-rec]")).to_be_visible(timeout=10_000)
        page.wait_for_function("() => window.yiyunCall.recordingState === 'recording'")
    rec_text = _said(host, "rec")
    expect(host.locator("[data-rec-text]")).to_have_text(rec_text)
    expect(other.locator("[data-rec-text]")).to_have_text(
        f"{rec_text} · {_said(other, 'not-recording-you')}"
    )
    assert host.evaluate("() => window.yiyunCall.recordingIncluded") is True
    assert other.evaluate("() => window.yiyunCall.recordingIncluded") is False
    expect(host.locator("[data-control=record_stop]")).to_be_visible()
    host.wait_for_timeout(3000)
    host.click("[data-control=record_stop]")
    for page in (host, other):
        expect(page.locator("[data-rec]")).to_be_hidden(timeout=10_000)
    recorded_s = time.monotonic() - started

    rec = _ready_recording(server, meeting_id)
    ready_s = time.monotonic() - started
    for ctx in contexts.values():  # the call is over; keep only the host's session
        for page in ctx.pages:
            page.close()
    contexts[OTHER].close()

    # what was written: the host's audio and video, nothing of the nurse's
    a_id, b_id = f"u{world.users[HOST].id}", f"u{world.users[OTHER].id}"
    assert rec["engine"] == engine
    assert rec["included"] == [a_id], rec
    assert rec["excluded"] == [b_id], rec
    row = _row(server, rec["id"])
    store = LocalStore(server.settings.storage.path, blob_keys(server.settings.security))
    master = _opened(store, row["storage_key"], tmp_path)
    assert hashlib.sha256(master.read_bytes()).hexdigest() == row["sha256"] == rec["sha256"]
    streams = sorted(probe_tracks(master))
    titles = [title for title, _codec in streams]
    assert titles == [f"{ids[HOST]}:audio", f"{ids[HOST]}:video"], streams
    assert not any(ids[OTHER] in title for title in titles)
    assert [(t["participant"], t["identity"], t["kinds"]) for t in rec["tracks"]] == [
        (ids[HOST], a_id, ["audio", "video"])
    ], rec["tracks"]
    (track,) = row["tracks"]
    part = _opened(store, track["key"], tmp_path)
    assert hashlib.sha256(part.read_bytes()).hexdigest() == track["sha256"]
    # the part is the host's streams remuxed (untitled: the row says whose they are)
    assert sorted(codec for _title, codec in probe_tracks(part)) == sorted(
        codec for _title, codec in streams
    )
    widths = _decoded_widths(part)
    assert widths and all(w > 0 for w in widths), widths

    # the host plays it back; the playback is audited once
    play_url = f"{server.url}/meetings/{meeting_id}/recordings/{rec['id']}"
    page = contexts[HOST].new_page()
    assert _status(page, play_url) == 200
    expect(page.locator("[data-recording-state=ready]")).to_be_visible()
    video = page.locator("video[data-part]")
    expect(video).to_have_count(1)
    page.click("[data-action=play]")
    page.wait_for_function(
        """() => { const v = document.querySelector('video[data-part]');
          return v.videoWidth > 0 && v.currentTime > 0.2 && !v.paused; }""",
        timeout=10_000,
    )
    t0 = float(video.evaluate("v => v.currentTime"))
    page.wait_for_timeout(400)
    t1 = float(video.evaluate("v => v.currentTime"))
    assert t1 > t0, (t0, t1)
    played = [(world.users[HOST].id, patient.id)]
    assert _audits(server, "meeting.recording.play", rec["id"]) == played
    page.click("[data-action=pause]")
    page.screenshot(path=str(PLAYBACK_SHOT), full_page=True)
    shot(page, f"recording-playback-{engine}")
    contexts[HOST].close()

    # a user of another institution: neither the page nor the file exists for them
    ctx = browser.new_context()
    page = ctx.new_page()
    sign_in(page, server, OUTSIDER)
    assert _status(page, play_url) == 404
    part_url = f"{server.url}/api/v1/meetings/{meeting_id}/recordings/{rec['id']}/parts/0"
    assert page.request.get(part_url).status == 404
    ctx.close()
    assert _audits(server, "meeting.recording.play", rec["id"]) == played
    print(
        json.dumps(
            {
                "engine": engine,
                "joined_s": round(joined_s, 2),
                "stopped_s": round(recorded_s, 2),
                "ready_s": round(ready_s, 2),
                "total_s": round(time.monotonic() - started, 2),
            }
        )
    )
