"""FHIR R4 routes (placeholder until the resources are mapped)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
