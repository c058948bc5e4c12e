"""Logs are JSON with request context, and never carry identifiers or secrets."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator
from datetime import date
from typing import Any

import httpx
import pytest

from tests.factories import PASSWORD, World
from yiyun.core.logging import (
    JsonFormatter,
    RedactingFilter,
    configure_logging,
    redact,
    request_id_var,
    user_id_var,
)
from yiyun.records import resident_id

ID_X = "11010519491231002X"  # the standard's own example, check character X
ID_DIGIT = resident_id.make("440305", date(1985, 6, 15), 123)


def _emit(msg: str, *args: object, exc: bool = False) -> dict[str, Any]:
    """Log one record through the filter and formatter; return the parsed JSON line."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(f"tests.redaction.{id(buffer)}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        if exc:
            try:
                raise ValueError(msg % args if args else msg)
            except ValueError:
                logger.exception(msg, *args)
        else:
            logger.info(msg, *args)
    finally:
        logger.removeHandler(handler)
    lines = buffer.getvalue().splitlines()
    assert len(lines) == 1
    entry: dict[str, Any] = json.loads(lines[0])
    return entry


@pytest.mark.parametrize(
    ("text", "secret", "marker"),
    [
        (f"registered {ID_DIGIT} at CHC A", ID_DIGIT, "[resident-id]"),
        (f"registered {ID_X} at CHC A", ID_X, "[resident-id]"),
        (f"registered {ID_X.lower()} at CHC A", ID_X.lower(), "[resident-id]"),
        (f"id={ID_DIGIT};", ID_DIGIT, "[resident-id]"),
        ("call 13812345678 back", "13812345678", "[phone]"),
        ("phone:19987654321", "19987654321", "[phone]"),
        ("call +86 13812345678", "13812345678", "[phone]"),
        ("call +8613812345678", "13812345678", "[phone]"),
        ("header Bearer abc.DEF-123_xyz~+/= sent", "abc.DEF-123_xyz~+/=", "[token]"),
        ("bearer yy_0123456789abcdef", "yy_0123456789abcdef", "[token]"),
        ("login password=Correct-Horse-42 ok", "Correct-Horse-42", "[redacted]"),
        ("login PASSWORD: hunter2!", "hunter2!", "[redacted]"),
        ('body {"password": "s3cret-Value"}', "s3cret-Value", "[redacted]"),
        ("url ?token=abcdef123456&x=1", "abcdef123456", "[redacted]"),
        ("mfa code=492817", "492817", "[redacted]"),
        ("secret = topsecretvalue", "topsecretvalue", "[redacted]"),
        ("cookie: yiyun_session=abc", "abc", "[redacted]"),
    ],
)
def test_it_scrubs_identifiers_and_secrets(text: str, secret: str, marker: str) -> None:
    scrubbed = redact(text)
    assert secret not in scrubbed
    assert marker in scrubbed


@pytest.mark.parametrize(
    "text",
    [
        "consult 42 accepted in 12 ms",
        "order 12345678901 shipped",  # 11 digits but no mobile prefix
        "batch 1234567890123456789012 done",  # 22 digits: not an ID number
        "room 1001 has 3 participants",
    ],
)
def test_it_leaves_ordinary_text_alone(text: str) -> None:
    assert redact(text) == text


def test_the_filter_redacts_percent_style_arguments() -> None:
    entry = _emit(
        "patient %s phone %s token %s", ID_DIGIT, "13912345678", "Bearer abcdefghijklmnop"
    )
    assert ID_DIGIT not in entry["message"]
    assert "13912345678" not in entry["message"]
    assert "abcdefghijklmnop" not in entry["message"]
    assert entry["message"] == "patient [resident-id] phone [phone] token Bearer [token]"
    assert entry["level"] == "INFO"


def test_the_formatter_redacts_exception_text() -> None:
    entry = _emit("lookup failed for %s", ID_X, exc=True)
    assert ID_X not in entry["message"]
    assert "ValueError" in entry["exc"]
    assert ID_X not in entry["exc"]
    assert "[resident-id]" in entry["exc"]


def test_the_formatter_adds_request_and_user_context() -> None:
    rid, uid = request_id_var.set("req-0123"), user_id_var.set(7)
    try:
        entry = _emit("something happened")
    finally:
        request_id_var.reset(rid)
        user_id_var.reset(uid)
    assert entry["request_id"] == "req-0123"
    assert entry["user_id"] == 7
    assert entry["message"] == "something happened"
    outside = _emit("no request")
    assert "request_id" not in outside
    assert "user_id" not in outside


# --- end to end: real requests, the configured handler -----------------------------


@pytest.fixture
def log_buffer(request: pytest.FixtureRequest) -> Iterator[io.StringIO]:
    """`configure_logging` as the app does, with its handler writing into a buffer."""
    root = logging.getLogger()
    level = root.level
    configure_logging(json_output=True, level=getattr(request, "param", "INFO"))
    ours = [h for h in root.handlers if getattr(h, "_yiyun", False)]
    assert len(ours) == 1
    handler = ours[0]
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    handler.setStream(buffer)
    yield buffer
    handler.setStream(sys.stderr)
    root.removeHandler(handler)
    root.setLevel(level)


@pytest.mark.parametrize("log_buffer", ["INFO", "DEBUG"], indirect=True)
async def test_requests_leave_no_identifiers_or_secrets_in_the_logs(
    client: httpx.AsyncClient, world: World, log_buffer: io.StringIO
) -> None:
    id_number = resident_id.make("440305", date(1985, 6, 15), 123)
    phone = "13912345678"
    name = "日志测试患者"
    code = world.code("alice")

    wrong = await client.post(
        "/api/v1/auth/token",
        json={"username": "alice", "password": "Wrong-Guess-99", "code": "123456"},
    )
    assert wrong.status_code == 401
    login = await client.post(
        "/api/v1/auth/token", json={"username": "alice", "password": PASSWORD, "code": code}
    )
    assert login.status_code == 200, login.text
    token = login.json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}

    created = await client.post(
        "/api/v1/patients",
        headers=headers,
        json={"name": name, "id_number": id_number, "phone": phone, "address": "示例路 1 号"},
    )
    assert created.status_code == 201, created.text
    patient_id = created.json()["id"]
    read = await client.get(f"/api/v1/patients/{patient_id}", headers=headers)
    assert read.status_code == 200
    found = await client.post(
        "/api/v1/patients/lookup", headers=headers, data={"id_number": id_number}
    )
    assert found.status_code == 200
    duplicate = await client.post(
        "/api/v1/patients",
        headers=headers,
        json={"name": name, "id_number": id_number, "phone": phone},
    )
    assert duplicate.status_code == 409
    bad = await client.post(
        "/api/v1/patients",
        headers=headers,
        json={
            "name": name,
            "id_number": id_number[:-1] + ("0" if id_number[-1] != "0" else "1"),
            "phone": phone,
        },
    )
    assert bad.status_code == 422

    text = log_buffer.getvalue()
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines, "the requests were not logged at all"
    forbidden = {
        "resident ID number": id_number,
        "resident ID number (first 17)": id_number[:17],
        "phone": phone,
        "password": PASSWORD,
        "wrong password": "Wrong-Guess-99",
        "bearer token": token,
        "TOTP code": code,
        "patient name": name,
    }
    for what, value in forbidden.items():
        assert value not in text, f"the {what} appears in the logs"

    logged_ids = {line.get("request_id") for line in lines}
    for response in (wrong, login, created, read, found, duplicate, bad):
        rid = response.headers["x-request-id"]
        assert rid in logged_ids
    access = [
        line
        for line in lines
        if line["logger"] == "yiyun.access"
        and line.get("request_id") == read.headers["x-request-id"]
    ]
    assert len(access) == 1
    assert access[0]["path"] == "/api/v1/patients/{patient_id}"  # the template, not the id
    assert access[0]["status"] == 200
    assert access[0]["user_id"] == world.users["alice"].id


async def test_the_access_log_names_the_full_route_template(
    client: httpx.AsyncClient, world: World, log_buffer: io.StringIO
) -> None:
    patient = world.patients["pa"]
    res = await client.get(f"/api/v1/patients/{patient.id}", headers=world.auth("alice"))
    assert res.status_code == 200
    lines = [json.loads(line) for line in log_buffer.getvalue().splitlines()]
    access = [line for line in lines if line["logger"] == "yiyun.access"]
    assert [line["path"] for line in access] == ["/api/v1/patients/{patient_id}"]
