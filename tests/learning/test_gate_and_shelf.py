"""The de-identification gate over the API (a clinical recording reaches the library
only once approved; 409 otherwise) and the literature shelf (PDF only, trigram search in
Chinese and English)."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from tests.factories import World
from tests.learning.helpers import API, meeting, recording
from yiyun.audit.models import AuditEvent
from yiyun.teaching.models import Video, VideoState

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


async def test_a_clinical_recording_is_published_only_after_approval(
    app: Any, client: httpx.AsyncClient, world: World
) -> None:
    mid = await meeting(
        client, world, host="alice", invitees=["bob"], patient_id=world.patients["pa"].id
    )
    rid = await recording(app, world, mid, who="alice")
    publish = f"{API}/learning/recordings/{rid}/publish"

    refused = await client.post(publish, headers=world.auth("alice"))
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "learning.review_required"

    # Without the patient's consent to teaching use, nothing is even submitted.
    early = await client.post(
        f"{API}/learning/recordings/{rid}/review", headers=world.auth("alice"), json={}
    )
    assert early.status_code == 409
    assert early.json()["error"]["code"] == "learning.consent_missing"
    consent = await client.post(
        f"/api/v1/patients/{world.patients['pa'].id}/consents",
        headers=world.auth("alice"),
        json={"purpose": "teaching"},
    )
    assert consent.status_code == 201, consent.text

    sub = await client.post(
        f"{API}/learning/recordings/{rid}/review",
        headers=world.auth("alice"),
        json={"note": "面部已打码，姓名已静音"},
    )
    assert sub.status_code == 200 and sub.json()["state"] == "submitted", sub.text
    review_id = sub.json()["id"]
    refused = await client.post(publish, headers=world.auth("alice"))
    assert refused.status_code == 409
    assert refused.json()["error"]["details"] == {"state": "submitted", "action": "publish"}

    # The submitter cannot approve their own work; a rejection needs a reason.
    own = await client.post(
        f"{API}/learning/reviews/{review_id}/approve", headers=world.auth("alice"), json={}
    )
    assert own.status_code in (403, 404)
    bare = await client.post(
        f"{API}/learning/reviews/{review_id}/reject", headers=world.auth("ines"), json={}
    )
    assert bare.status_code == 422 and bare.json()["error"]["code"] == "learning.reason_required"
    rej = await client.post(
        f"{API}/learning/reviews/{review_id}/reject",
        headers=world.auth("ines"),
        json={"reason": "第 3 分钟仍可见患者面部"},
    )
    assert rej.status_code == 200 and rej.json()["state"] == "rejected"
    assert (await client.post(publish, headers=world.auth("alice"))).status_code == 409

    again = await client.post(
        f"{API}/learning/recordings/{rid}/review", headers=world.auth("alice"), json={}
    )
    assert again.status_code == 200 and again.json()["state"] == "submitted"
    ok = await client.post(
        f"{API}/learning/reviews/{review_id}/approve", headers=world.auth("ines"), json={}
    )
    assert ok.status_code == 200 and ok.json()["state"] == "approved"
    twice = await client.post(
        f"{API}/learning/reviews/{review_id}/approve", headers=world.auth("ines"), json={}
    )
    assert twice.status_code == 409
    assert twice.json()["error"]["details"] == {"state": "approved", "action": "approve"}
    assert twice.json()["error"]["message"] == "去标识化审核当前状态不允许此操作。"

    video = await client.post(publish, headers=world.auth("alice"))
    assert video.status_code == 202, video.text
    assert video.json()["state"] == "uploaded"
    assert (await client.post(publish, headers=world.auth("alice"))).status_code == 409

    async with app.state.sessions() as s:
        row = await s.get(Video, video.json()["id"])
        assert row is not None and row.state is VideoState.UPLOADED
        actions = set(
            await s.scalars(
                select(AuditEvent.action).where(AuditEvent.action.like("learning.review.%"))
            )
        )
    assert {
        "learning.review.submit",
        "learning.review.reject",
        "learning.review.resubmit",
        "learning.review.approve",
        "learning.review.publish",
    } <= actions


async def test_a_recording_about_no_patient_needs_no_review(
    app: Any, client: httpx.AsyncClient, world: World
) -> None:
    mid = await meeting(client, world)
    rid = await recording(app, world, mid)
    sub = await client.post(
        f"{API}/learning/recordings/{rid}/review", headers=world.auth("bob"), json={}
    )
    assert sub.status_code == 409
    res = await client.post(f"{API}/learning/recordings/{rid}/publish", headers=world.auth("bob"))
    assert res.status_code == 202, res.text
    # Nobody but the organiser (or an administrator of the site) touches the recording.
    for who in ("alice", "mallory", "ines"):
        res = await client.post(f"{API}/learning/recordings/{rid}/publish", headers=world.auth(who))
        assert res.status_code == 404, who


async def test_the_shelf_takes_pdfs_and_finds_them_by_a_chinese_word(
    app: Any, client: httpx.AsyncClient, world: World
) -> None:
    mid = await meeting(client, world)

    async def add(who: str, name: str, data: bytes, **form: Any) -> httpx.Response:
        return await client.post(
            f"{API}/learning/documents",
            headers=world.auth(who),
            data={"title": "中国高血压防治指南（2024 年修订版）", "meeting_id": mid} | form,
            files={"file": (name, data, "application/pdf")},
        )

    res = await add("bob", "guideline.pdf", PDF, description="Hypertension guideline")
    assert res.status_code == 201, res.text
    assert (await add("bob", "guideline.pdf", b"MZ\x90\0")).json()["error"]["code"] == (
        "learning.not_a_pdf"
    )
    assert (await add("bob", "guideline.exe", PDF)).json()["error"]["code"] == "upload.disguised"
    assert (await add("bob", "x.pdf", b"")).status_code == 422
    assert (await add("alice", "x.pdf", PDF)).status_code == 403  # not her lecture
    both = await add("bob", "x.pdf", PDF, course_id=1)
    assert both.status_code in (404, 422)

    for q, found in [("高血压", True), ("防治指南", True), ("guideline", True), ("糖尿病", False)]:
        res = await client.get(
            f"{API}/learning/documents", params={"q": q}, headers=world.auth("nina")
        )
        assert res.status_code == 200
        assert (res.json()["total"] == 1) is found, q
    doc = res.json()
    listed = await client.get(f"{API}/learning/documents", headers=world.auth("nina"))
    url = listed.json()["items"][0]["url"]
    pdf = await client.get(url, headers=world.auth("mallory"))
    assert pdf.status_code == 200 and pdf.content == PDF
    assert (await client.get(url)).status_code == 401
    page = await client.get("/learning/shelf?q=指南", headers=world.auth("nina"))
    assert "中国高血压防治指南" in page.text
    assert doc["total"] == 0
