"""Consultation notices go by e-mail and SMS as well as in the app, in each recipient's
language, only after the transaction commits, with the recipient masked in the log."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from tests import db
from tests.consult.conftest import CW, assigned, request_body
from yiyun.auth import service as auth_service
from yiyun.core import events
from yiyun.org.models import User

PHONE = "13912345678"


async def test_notices_go_by_email_and_sms_in_the_recipients_language(
    app: Any, client: httpx.AsyncClient, cw: CW, caplog: pytest.LogCaptureFixture
) -> None:
    async with app.state.sessions.begin() as s:
        carol = await s.get(User, cw.uid("carol"))
        carol.email, carol.locale = "carol@lead.example", "en"
        bob = await s.get(User, cw.uid("bob"))
        bob.email, bob.locale = None, "zh_CN"
        bob.phone_enc = auth_service.cipher(db.SECURITY).encrypt(PHONE, context="staff-phone")
    email, sms = app.state.outbound.email, app.state.outbound.sms
    email.sent.clear()
    sms.sent.clear()
    caplog.set_level(logging.INFO, logger="yiyun.notify.channels")

    # A refused request (no such specialty) rolls back: nothing is sent.
    bad = await client.post(
        "/api/v1/consults", headers=cw.auth("alice"), json=request_body(cw, specialty="99")
    )
    assert bad.status_code == 422
    await events.settle()
    assert email.sent == [] and sms.sent == []

    await assigned(client, cw, "bob")
    await events.settle()
    to_carol = [m for m in email.sent if m.to == "carol@lead.example"]
    assert [m.subject for m in to_carol] == ["New consultation request (Urgent)"]
    to_bob = [m for m in sms.sent if m.to == PHONE]
    assert [m.subject for m in to_bob] == ["您被邀请参加会诊（加急）"]
    assert "北京时间" in to_bob[0].body
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "139****78" in logged and PHONE not in logged
    assert "c***@lead.example" in logged
