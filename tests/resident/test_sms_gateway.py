"""The HTTP SMS gateway adapter against a real HTTP server this test starts."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from yiyun.notify.channels import (
    DeliveryError,
    HttpSmsChannel,
    OutboundMessage,
    deliver,
    sms_channel,
)

MESSAGE = OutboundMessage(to="13812345678", subject="验证码", body="Yiyun: your code is 123456.")


class Gateway:
    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.status = 200


@pytest.fixture
def gateway() -> Iterator[tuple[Gateway, str]]:
    state = Gateway()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            state.received.append(
                {
                    "path": self.path,
                    "auth": self.headers.get("Authorization"),
                    "json": json.loads(self.rfile.read(length)),
                }
            )
            self.send_response(state.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}/sms/send"
    finally:
        server.shutdown()
        server.server_close()


async def test_it_posts_the_number_and_text_with_the_token(gateway: tuple[Gateway, str]) -> None:
    state, url = gateway
    channel = sms_channel("http", url=url, token="s3cret", timeout=5, show_body=False)
    assert await deliver(channel, MESSAGE)
    [got] = state.received
    assert got["path"] == "/sms/send" and got["auth"] == "Bearer s3cret"
    assert got["json"] == {"to": "13812345678", "text": MESSAGE.body}


async def test_a_refusal_is_permanent_and_not_retried(gateway: tuple[Gateway, str]) -> None:
    state, url = gateway
    state.status = 400
    channel = HttpSmsChannel(url, token="s3cret")
    with pytest.raises(DeliveryError) as err:
        await channel.send(MESSAGE)
    assert err.value.permanent
    assert await deliver(channel, MESSAGE, attempts=3) is False
    assert len(state.received) == 2  # one send above, one try in deliver


async def test_a_gateway_failure_is_retried(gateway: tuple[Gateway, str]) -> None:
    state, url = gateway
    state.status = 503
    channel = HttpSmsChannel(url)
    assert await deliver(channel, MESSAGE, attempts=3) is False
    assert len(state.received) == 3 and state.received[0]["auth"] is None


async def test_an_unreachable_gateway_is_a_retryable_failure() -> None:
    channel = HttpSmsChannel("http://127.0.0.1:9/sms", timeout=1)  # discard port: refused
    with pytest.raises(DeliveryError) as err:
        await channel.send(MESSAGE)
    assert not err.value.permanent and "13812345678" not in str(err.value)


def test_the_http_backend_needs_a_url() -> None:
    with pytest.raises(ValueError, match="gateway URL"):
        sms_channel("http", url=None, token=None, timeout=5, show_body=False)
