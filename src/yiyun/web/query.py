"""A page's GET form sends every field, the empty ones too (`?patient_id=&action=`). An
empty value means "not chosen": for a page this middleware drops such pairs before the
route reads them, so an optional number filter left blank is absent rather than a 422.
API and FHIR requests keep their query strings as sent (their clients mean what they send).
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from starlette.types import ASGIApp, Receive, Scope, Send

UNTOUCHED = ("/api/", "/fhir/", "/oauth/", "/ws/")


def without_blanks(query: bytes) -> bytes:
    """The query string without its empty `name=` pairs (order and repeats kept)."""
    pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
    kept = [(k, v) for k, v in pairs if v != ""]
    return query if len(kept) == len(pairs) else urlencode(kept).encode("latin-1")


class DropEmptyQuery:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] in ("GET", "HEAD")
            and scope.get("query_string")
            and not str(scope["path"]).startswith(UNTOUCHED)
        ):
            scope = {**scope, "query_string": without_blanks(scope["query_string"])}
        await self.app(scope, receive, send)
