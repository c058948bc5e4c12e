"""The API documentation page: Swagger UI served from the app's own static files.

FastAPI's built-in page loads Swagger UI from a public CDN with an inline script; our
Content-Security-Policy allows neither, and hospital networks may have no internet.
The assets are pinned through npm (`swagger-ui-dist`) and copied by the front-end build.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from yiyun.web.templating import render

router = APIRouter()


@router.get("/api/docs", response_class=HTMLResponse, include_in_schema=False)
async def api_docs(request: Request) -> HTMLResponse:
    openapi_url = request.app.openapi_url or "/api/v1/openapi.json"
    return render(request, "api_docs.html", {"openapi_url": openapi_url})
