"""htmx helpers at the ASGI level.

A form sent by htmx that succeeds answers with a redirect (post/redirect/get). The
browser's XMLHttpRequest would follow it silently and htmx would swap the next page's
body into this one, leaving the new page's own scripts unloaded. `HtmxRedirect` turns
such a redirect into `HX-Redirect`, so htmx loads the next page in full, while a
refused form (4xx) stays in place with its errors beside the fields.

A redirect back to the page the form is on with only a new `#fragment` (`?done=saved`
again, then `#meeting-7`) would make the browser scroll instead of loading, and the page
would show the state from before the step: such a redirect also says `HX-Refresh`.
"""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

REDIRECTS = frozenset({301, 302, 303, 307, 308})


def only_fragment_differs(current: str, location: str) -> bool:
    """Whether going from `current` to `location` changes nothing but the fragment."""
    if "#" not in location:
        return False
    here, there = urlsplit(current), urlsplit(urljoin(current, location))
    return (here.scheme, here.netloc, here.path, here.query) == (
        there.scheme,
        there.netloc,
        there.path,
        there.query,
    )


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
                extra = [(b"hx-redirect", location)]
                current = headers.get(b"hx-current-url", b"").decode("latin-1")
                if current and only_fragment_differs(current, location.decode("latin-1")):
                    extra.append((b"hx-refresh", b"true"))
                message = {**message, "status": 200, "headers": [*kept, *extra]}
            await send(message)

        await self.app(scope, receive, send_wrapper)
