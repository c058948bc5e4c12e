"""Quizzes and courses with CME credit: who sets a quiz, scoring single and multiple
choice, credit only once every video is watched, every lecture attended long enough
and every quiz passed; the transcript, the staff report and the Chinese certificate."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from tests.factories import World
from tests.learning.helpers import API, meeting, stay, video, watch_all
from yiyun.core.clock import district, now

QUIZ = {
    "title": "课后测验",
    "pass_percent": 50,
    "questions": [
        {"text": "高血压的诊断标准？", "choices": ["≥140/90", "≥120/80"], "answer": [0]},
        {
            "text": "哪些是危险因素？",
            "choices": ["吸烟", "高盐饮食", "规律运动"],
            "answer": [0, 1],
            "multiple": True,
        },
    ],
}


async def test_a_quiz_is_set_by_the_owner_and_scored_exactly(
    app: Any, client: httpx.AsyncClient, world: World
) -> None:
    vid = await video(app, world)
    url = f"{API}/learning/quizzes/video/{vid}"
    assert (await client.put(url, headers=world.auth("nina"), json=QUIZ)).status_code == 403
    res = await client.put(url, headers=world.auth("alice"), json=QUIZ)
    assert res.status_code == 200, res.text
    shown = (await client.get(url, headers=world.auth("bob"))).json()
    assert "answer" not in shown["questions"][0] and shown["passed"] is False

    async def answer(*answers: list[int]) -> dict[str, Any]:
        res = await client.post(
            f"{url}/attempts", headers=world.auth("bob"), json={"answers": list(answers)}
        )
        assert res.status_code == 201, res.text
        return dict(res.json())

    assert (await answer([1], [0]))["score_percent"] == 0
    half = await answer([0], [0])  # the multiple-choice question needs both
    assert half["score_percent"] == 50 and half["passed"] is True
    assert (await answer([0], [1, 0]))["score_percent"] == 100
    shown = (await client.get(url, headers=world.auth("bob"))).json()
    assert shown["passed"] is True and shown["best_percent"] == 100
    for bad, code in [
        ({"answers": [[0]]}, "learning.quiz_incomplete"),
        ({"answers": [[0, 1], [0]]}, "learning.single_choice"),
        ({"answers": [[7], [0]]}, "learning.not_a_choice"),
        ({"answers": [[], [0]]}, "learning.quiz_incomplete"),
    ]:
        res = await client.post(f"{url}/attempts", headers=world.auth("bob"), json=bad)
        assert res.status_code == 422 and res.json()["error"]["code"] == code, bad


@pytest.mark.parametrize(
    "question",
    [
        {"text": "?", "choices": ["a"], "answer": [0]},
        {"text": "?", "choices": ["a", "b"], "answer": [2]},
        {"text": "?", "choices": ["a", "b"], "answer": [0, 1]},
        {"text": "", "choices": ["a", "b"], "answer": [0]},
    ],
)
async def test_a_malformed_quiz_is_refused(
    app: Any, client: httpx.AsyncClient, world: World, question: dict[str, Any]
) -> None:
    vid = await video(app, world)
    res = await client.put(
        f"{API}/learning/quizzes/video/{vid}",
        headers=world.auth("alice"),
        json={"title": "x", "questions": [question]},
    )
    assert res.status_code == 422


async def test_a_lecture_quiz_is_the_organisers_and_for_those_who_took_part(
    app: Any, client: httpx.AsyncClient, world: World
) -> None:
    mid = await meeting(client, world)
    url = f"{API}/learning/quizzes/lecture/{mid}"
    assert (await client.put(url, headers=world.auth("alice"), json=QUIZ)).status_code == 403
    assert (await client.put(url, headers=world.auth("bob"), json=QUIZ)).status_code == 200
    assert (await client.get(url, headers=world.auth("alice"))).status_code == 200  # invited
    assert (await client.get(url, headers=world.auth("carol"))).status_code == 404


async def test_credit_is_awarded_only_when_every_rule_is_met(
    app: Any, client: httpx.AsyncClient, world: World
) -> None:
    vid = await video(app, world)
    mid = await meeting(client, world)
    await client.put(f"{API}/learning/quizzes/lecture/{mid}", headers=world.auth("bob"), json=QUIZ)
    course = {
        "title": "高血压规范化管理",
        "credit_hours": 2,
        "min_minutes": 30,
        "items": [{"kind": "video", "ref_id": vid}, {"kind": "lecture", "ref_id": mid}],
    }
    res = await client.post(f"{API}/learning/courses", headers=world.auth("bob"), json=course)
    assert res.status_code == 201, res.text
    cid = res.json()["id"]
    url = f"{API}/learning/courses/{cid}"

    enrolled = await client.post(f"{url}/enrol", headers=world.auth("alice"))
    assert enrolled.status_code == 200 and enrolled.json()["enrolled"] is True

    async def state() -> dict[str, Any]:
        return dict((await client.get(url, headers=world.auth("alice"))).json())

    assert [i["done"] for i in (await state())["items"]] == [False, False]
    await watch_all(client, world, "alice", vid)
    await stay(app, world, mid, "alice", 25)  # not long enough
    body = await state()
    assert [i["done"] for i in body["items"]] == [True, False] and body["completed_at"] is None
    earlier = now() - timedelta(minutes=90)  # a second, separate stay adds up
    await stay(app, world, mid, "alice", 10, start=earlier, connection="earlier")
    body = await state()
    assert body["items"][1]["watched_or_attended"] is True
    assert body["items"][1]["quiz_passed"] is False and body["completed_at"] is None

    await client.post(
        f"{API}/learning/quizzes/lecture/{mid}/attempts",
        headers=world.auth("alice"),
        json={"answers": [[0], [0, 1]]},
    )
    body = await state()
    assert body["completed_at"] is not None

    year = district(now()).year
    mine = (await client.get(f"{API}/learning/credits/mine", headers=world.auth("alice"))).json()
    assert [(c["course_id"], c["credit_hours"], c["credit_year"]) for c in mine] == [
        (cid, 2.0, year)
    ]
    # Awarded once: looking again adds nothing.
    await state()
    again = await client.get(f"{API}/learning/credits/mine", headers=world.auth("alice"))
    assert len(again.json()) == 1

    # The administrators see their staff's credit; others get 403.
    def hours(rows: list[dict[str, Any]]) -> dict[str, float]:
        return {r["display_name"]: r["credit_hours"] for r in rows}

    alice = world.users["alice"].display_name
    ines = await client.get(f"{API}/learning/credits?year={year}", headers=world.auth("ines"))
    assert hours(ines.json()) == {alice: 2.0}
    assert alice in hours(
        (await client.get(f"{API}/learning/credits", headers=world.auth("admin"))).json()
    )
    for who in ("alice", "bob", "hana"):
        res = await client.get(f"{API}/learning/credits", headers=world.auth(who))
        assert res.status_code == 403, who

    # The certificate: a PDF in Chinese, for the learner and their administrator only.
    cert = mine[0]["certificate_url"]
    pdf = await client.get(cert, headers=world.auth("alice"))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    assert pdf.headers["content-type"] == "application/pdf"
    assert (await client.get(cert, headers=world.auth("ines"))).status_code == 200
    for who in ("nina", "mallory", "bob"):
        assert (await client.get(cert, headers=world.auth(who))).status_code == 404, who
    page = await client.get("/learning/transcript", headers=world.auth("alice"))
    assert "高血压规范化管理" in page.text and mine[0]["certificate_no"] in page.text


async def test_a_course_only_holds_what_its_author_may_use(
    app: Any, client: httpx.AsyncClient, world: World
) -> None:
    mid = await meeting(client, world)  # bob's lecture
    for who, items, status in [
        ("alice", [{"kind": "lecture", "ref_id": mid}], 403),  # not her lecture
        ("alice", [{"kind": "video", "ref_id": 999999}], 404),
        ("carol", [{"kind": "lecture", "ref_id": mid}], 403),  # may not publish
        ("bob", [{"kind": "lecture", "ref_id": mid}] * 2, 422),
        ("bob", [], 422),
    ]:
        res = await client.post(
            f"{API}/learning/courses",
            headers=world.auth(who),
            json={"title": "课程", "items": items},
        )
        assert res.status_code == status, (who, res.text)
