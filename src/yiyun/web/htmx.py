"""htmx helpers at the ASGI level.

A form sent by htmx that succeeds answers with a redirect (post/redirect/get). The
browser's XMLHttpRequest would follow it silently and htmx would swap the next page's
body into this one, leaving the new page's own scripts unloaded. `HtmxRedirect` turns
such a redirect into `HX-Redirect`, so htmx loads the next page in full, while a
refused form (4xx) stays in place with its errors beside the fields.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

REDIRECTS = frozenset({301, 302, 303, 307, 308})


class HtmxRedirect:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        if b"hx-request" not in headers or b"hx-boosted" not in headers:
            await self.app(scope, receive, send)
            return

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] in REDIRECTS:
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"location"]
                location = next(
                    (v for k, v in message.get("headers", []) if k.lower() == b"location"), b"/"
                )
                message = {
                    **message,
                    "status": 200,
                    "headers": [*kept, (b"hx-redirect", location)],
                }
            await send(message)

        await self.app(scope, receive, send_wrapper)
