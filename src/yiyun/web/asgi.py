"""ASGI entry point for servers (`uvicorn yiyun.web.asgi:app`)."""

from __future__ import annotations

from yiyun.settings import get_settings
from yiyun.web.app import create_app

app = create_app(get_settings())
