"""The video library through its API: upload checks, the transcoder job (claims, retries,
dead runs), search in Chinese and English, watch progress, withdrawal, and who sees what."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.orm.exc import StaleDataError

from tests.factories import PERSONAS, World
from tests.teaching.clips import make_clip
from yiyun.audit.models import AuditEvent
from yiyun.audit.service import SYSTEM
from yiyun.core.clock import now
from yiyun.notify.models import Notification
from yiyun.teaching import worker, workflow
from yiyun.teaching.models import Video, VideoState

API = "/api/v1/teaching/videos"


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return make_clip(tmp_path_factory.mktemp("clips") / "c.mp4", seconds=3).read_bytes()


def transcoder(app: Any, **config: Any) -> worker.Transcoder:
    settings = app.state.settings
    return worker.Transcoder(
        worker.Context(
            factory=app.state.sessions,
            bus=app.state.bus,
            store=app.state.store,
            config=settings.teaching.model_copy(update={"retry_minutes": 0, **config}),
            work_dir=settings.data_dir / "teaching-work" / "runs",
        )
    )


async def upload(
    client: httpx.AsyncClient,
    world: World,
    who: str,
    data: bytes,
    *,
    name: str = "lecture.mp4",
    **fields: str,
) -> httpx.Response:
    form = {"title": "社区获得性肺炎的诊治", "specialty": "呼吸内科", "tags": "肺炎, CAP"} | fields
    return await client.post(
        API, headers=world.auth(who), data=form, files={"file": (name, data, "video/mp4")}
    )


async def ready_video(
    app: Any, client: httpx.AsyncClient, world: World, clip: bytes, who: str = "alice", **f: str
) -> int:
    res = await upload(client, world, who, clip, **f)
    assert res.status_code == 202, res.text
    assert await transcoder(app).tick() == res.json()["id"]
    return int(res.json()["id"])


async def test_an_upload_is_transcoded_published_and_its_owner_told(
    app: Any, client: httpx.AsyncClient, world: World, clip: bytes
) -> None:
    res = await upload(client, world, "alice", clip)
    assert res.status_code == 202, res.text
    body = res.json()
    assert body["state"] == "uploaded" and body["playlist_url"] is None
    # Not in the library for others yet; the uploader follows it.
    listed = await client.get(API, headers=world.auth("bob"))
    assert body["id"] not in [v["id"] for v in listed.json()["items"]]
    assert (await client.get(f"{API}/{body['id']}", headers=world.auth("bob"))).status_code == 404

    assert await transcoder(app).tick() == body["id"]
    video = (await client.get(f"{API}/{body['id']}", headers=world.auth("bob"))).json()
    assert video["state"] == "ready" and video["progress"] == 1.0
    assert video["height"] == 240 and 2.9 < video["duration_s"] < 3.2
    assert video["playlist_url"] == f"/teaching/videos/{body['id']}/hls/master.m3u8"

    # Playlists and segments come out of the (encrypted) store to signed-in staff.
    master = await client.get(video["playlist_url"], headers=world.auth("bob"))
    assert master.status_code == 200 and "240p/index.m3u8" in master.text
    assert master.headers["content-type"].startswith("application/vnd.apple.mpegurl")
    rung = await client.get(
        f"/teaching/videos/{body['id']}/hls/240p/index.m3u8", headers=world.auth("bob")
    )
    first = next(line for line in rung.text.splitlines() if line.endswith(".m4s"))
    segment = await client.get(
        f"/teaching/videos/{body['id']}/hls/240p/{first}", headers=world.auth("bob")
    )
    assert segment.status_code == 200 and len(segment.content) > 1000
    thumb = await client.get(
        f"/teaching/videos/{body['id']}/thumbnail.jpg", headers=world.auth("bob")
    )
    assert thumb.content[:3] == b"\xff\xd8\xff"
    for bad in ("../../blobs", "240p/seg_1.m4s", "240p/index.m3u8.bak", "x/y/index.m3u8"):
        res = await client.get(
            f"/teaching/videos/{body['id']}/hls/{bad}", headers=world.auth("bob")
        )
        assert res.status_code in (404, 422), bad  # `..` is resolved before routing
    assert (await client.get(video["playlist_url"])).status_code == 401

    async with app.state.sessions() as s:
        told = await s.scalar(
            select(Notification).where(Notification.user_id == world.users["alice"].id)
        )
        steps = set(
            await s.scalars(
                select(AuditEvent.action).where(AuditEvent.entity_id == str(body["id"]))
            )
        )
    assert told is not None and told.kind == "teaching.ready" and "肺炎" in told.body
    assert {"teaching.video.upload", "teaching.video.start", "teaching.video.finish"} <= steps


@pytest.mark.parametrize(
    ("name", "data", "code"),
    [
        ("photo.mp4", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "teaching.not_a_video"),
        ("notes.mp4", b"just some text", "teaching.not_a_video"),
        ("lecture.exe", None, "upload.disguised"),
        ("broken.mp4", b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 300, "teaching.no_video"),
    ],
)
async def test_what_is_not_a_playable_video_is_refused_and_nothing_stored(
    app: Any,
    client: httpx.AsyncClient,
    world: World,
    clip: bytes,
    name: str,
    data: bytes | None,
    code: str,
) -> None:
    res = await upload(client, world, "alice", clip if data is None else data, name=name)
    assert res.status_code == 422 and res.json()["error"]["code"] == code, res.text
    async with app.state.sessions() as s:
        assert await s.scalar(select(Video.id)) is None
    assert not list((app.state.settings.data_dir / "teaching-work").glob("upload-*"))


async def test_too_large_and_missing_titles_are_refused(
    app: Any, client: httpx.AsyncClient, world: World, clip: bytes
) -> None:
    app.state.settings = app.state.settings.model_copy(
        update={"teaching": app.state.settings.teaching.model_copy(update={"max_upload_mb": 1})}
    )
    res = await upload(client, world, "alice", clip + b"\x00" * (1 << 20))
    assert res.status_code in (413, 422) and res.json()["error"]["code"] == "upload.too_large"
    res = await upload(client, world, "alice", clip, title="  ")
    assert res.status_code == 422
    assert res.json()["error"]["details"]["errors"][0]["field"] == "title"


# Written out by hand from the policy comments: clinicians and administrators upload for
# their own institution; the uploader, their institution's administrator and the consortium
# administrator withdraw; every staff member watches.
UPLOADERS = {"alice", "nina", "ines", "mallory", "bob", "admin"}
WITHDRAWERS = {"alice", "ines", "admin"}  # the video below is alice's, of CHC A


async def test_each_persona_gets_what_the_library_allows(
    app: Any, client: httpx.AsyncClient, world: World, clip: bytes
) -> None:
    video_id = await ready_video(app, client, world, clip)
    page = f"/teaching/videos/{video_id}"
    for who in PERSONAS:
        auth = world.auth(who)
        res = await upload(client, world, who, clip)
        assert res.status_code == (202 if who in UPLOADERS else 403), (who, res.text)
        for url in (f"{API}/{video_id}", page, f"{page}/hls/master.m3u8", f"{page}/thumbnail.jpg"):
            assert (await client.get(url, headers=auth)).status_code == 200, (who, url)
        res = await client.put(f"{API}/{video_id}/progress", headers=auth, json={"position_s": 1})
        assert res.status_code == 200, who
        if who not in WITHDRAWERS:
            res = await client.post(f"{API}/{video_id}/withdraw", headers=auth)
            assert res.status_code == 403, who
    # A form post is a page route: the same rule, then back to the video.
    res = await client.post(f"{page}/withdraw", headers=world.auth("ines"))
    assert res.status_code == 303 and res.headers["location"].startswith(page)
    for who in PERSONAS:  # withdrawn: only those who may manage it still see it
        seen = (await client.get(f"{API}/{video_id}", headers=world.auth(who))).status_code
        assert seen == (200 if who in WITHDRAWERS else 404), who
        assert (await client.get(page)).status_code in (303, 401)  # never without a session


async def test_search_finds_chinese_words_of_any_length_and_english_words(
    app: Any, client: httpx.AsyncClient, world: World, clip: bytes
) -> None:
    pneumonia = await ready_video(app, client, world, clip)
    heart = await ready_video(
        app, client, world, clip, title="Heart failure: the 2024 guideline",
        specialty="心血管内科", tags="心衰, guideline", description="射血分数降低的心力衰竭",
    )  # fmt: skip
    literal = await ready_video(
        app, client, world, clip, title="100% 达标_率", specialty="", tags=""
    )

    async def found(q: str) -> list[int]:
        res = await client.get(API, headers=world.auth("mallory"), params={"q": q})
        assert res.status_code == 200
        return [v["id"] for v in res.json()["items"]]

    assert await found("肺炎") == [pneumonia]  # two characters: below the trigram size
    assert await found("获得性肺炎") == [pneumonia]
    assert await found("心力衰竭") == [heart]  # from the description
    assert await found("heart GUIDELINE") == [heart]  # every term, any case
    assert await found("心衰 肺炎") == []
    assert await found("100%") == [literal] and await found("_率") == [literal]
    assert await found("failure") == [heart]
    assert await found('"fail') == [] and await found("NEAR(") == []  # no FTS syntax
    for q in ("failure\x00", "\x00\x01"):  # a control character never reaches the index
        res = await client.get(API, headers=world.auth("mallory"), params={"q": q})
        assert res.status_code in (200, 422), res.text  # PostgreSQL's text refuses NUL: 422
        if res.status_code == 200 and q.startswith("failure"):
            assert [v["id"] for v in res.json()["items"]] == [heart]
    assert sorted(await found("")) == sorted([pneumonia, heart, literal])
    by_specialty = await client.get(
        API, headers=world.auth("bob"), params={"specialty": "心血管内科"}
    )
    assert [v["id"] for v in by_specialty.json()["items"]] == [heart]


async def test_progress_resumes_counts_watched_time_and_completes(
    app: Any, client: httpx.AsyncClient, world: World, clip: bytes
) -> None:
    video_id = await ready_video(app, client, world, clip)
    url = f"{API}/{video_id}/progress"

    async def report(who: str, position: float, *played: tuple[float, float]) -> dict[str, Any]:
        res = await client.put(
            url, headers=world.auth(who), json={"position_s": position, "played": played}
        )
        assert res.status_code == 200, res.text
        return dict(res.json())

    first = await report("bob", 1.0, (0.0, 1.0))
    assert first["position_s"] == 1.0 and first["completed_at"] is None
    assert first["watched_s"] == 0  # the 3-second video's one bucket has its middle at 1.5 s
    done = await report("bob", 2.9, (0.0, 2.9))
    assert done["completed_at"] is not None and done["watched_s"] == pytest.approx(3.0, abs=0.1)
    page = await client.get(f"/teaching/videos/{video_id}", headers=world.auth("bob"))
    assert 'data-resume="2.9"' in page.text
    for bad in ({"position_s": -1}, {"position_s": 1, "played": [[2, 1]]}):
        res = await client.put(url, headers=world.auth("bob"), json=bad)
        assert res.status_code == 422, bad
    other = await report("mallory", 1.0)  # someone else's progress is their own
    assert other["completed_at"] is None and other["watched_s"] == 0


async def test_a_long_video_completes_only_when_most_of_it_was_played(
    app: Any, world: World
) -> None:
    from yiyun.auth import service as auth_service
    from yiyun.teaching import service

    async with app.state.sessions() as s, s.begin():
        video = Video(
            institution_id=world.inst["chc_a"].id, uploaded_by_id=world.users["alice"].id,
            title="t", source_key="k", source_name="k.mp4", state=VideoState.READY,
            duration_s=100.0, hls_prefix="p", renditions=[], tags=[],
        )  # fmt: skip
        s.add(video)
        await s.flush()
        bob = auth_service.principal_of(world.users["bob"])

        async def played(*spans: tuple[float, float]) -> Any:
            return await service.watch(
                session=s, principal=bob, video=video, position_s=spans[-1][1],
                played=list(spans), fraction=0.9,
            )  # fmt: skip

        row = await played((0, 3), (97, 100))  # a look at the start, then a jump to the end
        assert row.completed_at is None and row.watched_s == 10.0  # two buckets
        row = await played((0, 50))
        row = await played((50, 80))
        assert row.completed_at is None and row.watched_s == 85.0  # 17 of 20 buckets
        row = await played((80, 90))
        assert row.completed_at is not None and row.watched_s == 95.0


async def test_a_failing_transcode_is_retried_then_given_up_and_never_half_published(
    app: Any, client: httpx.AsyncClient, world: World, clip: bytes
) -> None:
    res = await upload(client, world, "alice", clip)
    video_id = res.json()["id"]
    async with app.state.sessions() as s:
        key = await s.scalar(select(Video.source_key).where(Video.id == video_id))
    await app.state.store.delete(key)  # the source is lost (a disk fault)
    job = transcoder(app, max_attempts=2)
    for attempt in (1, 2):
        assert await job.tick() == video_id
        async with app.state.sessions() as s:
            video = await s.get(Video, video_id)
            assert video is not None
            assert video.state == VideoState.FAILED and video.attempts == attempt
            assert video.hls_prefix is None and video.error
    assert await job.tick() is None  # given up
    res = await client.get(f"{API}/{video_id}", headers=world.auth("alice"))
    assert res.json()["state"] == "failed"
    assert (
        await client.get(
            f"/teaching/videos/{video_id}/hls/master.m3u8", headers=world.auth("alice")
        )
    ).status_code == 404
    async with app.state.sessions() as s:
        kinds = list(await s.scalars(select(Notification.kind)))
    assert kinds == ["teaching.failed"]
    assert not list((app.state.settings.data_dir / "teaching-work" / "runs").iterdir())


async def test_a_transcode_whose_node_died_is_failed_and_retried(
    app: Any, client: httpx.AsyncClient, world: World, clip: bytes
) -> None:
    video_id = (await upload(client, world, "alice", clip)).json()["id"]
    job = transcoder(app)
    assert await job.claim() == video_id  # claimed, then the node dies
    assert await job.claim() is None
    async with app.state.sessions.begin() as s:
        await s.execute(
            update(Video)
            .values(progress_at=now() - timedelta(minutes=30))
            .where(Video.id == video_id)
        )
    assert await job.tick() == video_id  # failed as dead, then taken again
    async with app.state.sessions() as s:
        video = await s.get(Video, video_id)
        assert video is not None and video.state == VideoState.READY and video.attempts == 2


@pytest.mark.commits
async def test_two_nodes_claiming_the_same_upload_one_wins(
    app: Any, client: httpx.AsyncClient, world: World, clip: bytes
) -> None:
    video_id = (await upload(client, world, "alice", clip)).json()["id"]
    async with app.state.sessions() as one, app.state.sessions() as two:
        first = await one.get(Video, video_id)
        second = await two.get(Video, video_id)
        assert first is not None and second is not None
        await workflow.MACHINE.transition(
            session=one, bus=app.state.bus, entity=first, action="start", actor=SYSTEM
        )
        await one.commit()
        with pytest.raises(StaleDataError):
            await workflow.MACHINE.transition(
                session=two, bus=app.state.bus, entity=second, action="start", actor=SYSTEM
            )
        await two.rollback()
    # And two transcoders racing: exactly one claims.
    other = (await upload(client, world, "alice", clip)).json()["id"]
    claims = await asyncio.gather(transcoder(app).claim(), transcoder(app).claim())
    assert sorted(claims, key=lambda c: c is None) == [other, None]


async def test_withdrawing_and_republishing_is_the_owners_or_an_administrators(
    app: Any, client: httpx.AsyncClient, world: World, clip: bytes
) -> None:
    video_id = await ready_video(app, client, world, clip)
    for who in ("mallory", "nina", "bob"):  # another clinician, even of the same centre
        res = await client.post(f"{API}/{video_id}/withdraw", headers=world.auth(who))
        assert res.status_code == 403 and res.json()["error"]["code"] == "teaching.not_owner", who
    res = await client.post(f"{API}/{video_id}/withdraw", headers=world.auth("ines"))
    assert res.status_code == 200 and res.json()["state"] == "withdrawn"
    assert (await client.get(f"{API}/{video_id}", headers=world.auth("bob"))).status_code == 404
    assert (
        await client.get(
            f"/teaching/videos/{video_id}/hls/master.m3u8", headers=world.auth("alice")
        )
    ).status_code == 404
    again = await client.post(f"{API}/{video_id}/withdraw", headers=world.auth("alice"))
    assert again.status_code == 409 and again.json()["error"]["details"]["state"] == "withdrawn"
    assert (
        await client.post(f"{API}/{video_id}/delete", headers=world.auth("alice"))
    ).status_code == 422
    res = await client.post(f"{API}/{video_id}/republish", headers=world.auth("admin"))
    assert res.status_code == 200 and res.json()["state"] == "ready"
