"""Hash chain: each row's hash covers its content and the previous row's hash.

`row_hash` is the single definition used both when writing and when verifying, so
editing any field, deleting a row or reordering rows breaks the chain at that row.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64


def canonical_time(value: datetime) -> str:
    """Microsecond UTC ISO time, identical on SQLite and PostgreSQL. An aware time in
    another zone is the same instant in UTC (as the database gives it back to `verify`);
    a naive one is taken as UTC already."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def row_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    """SHA-256 over the previous hash and the canonical JSON of the row's fields."""
    body = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((prev_hash + "\n" + body).encode("utf-8")).hexdigest()


def hashed_fields(
    *,
    seq: int,
    at: datetime,
    actor_id: int | None,
    actor: str,
    action: str,
    entity_type: str | None,
    entity_id: str | None,
    patient_id: int | None,
    institution_id: int | None,
    outcome: str,
    ip: str | None,
    request_id: str | None,
    details: dict[str, Any],
    subject_institutions: str | None = None,
) -> dict[str, Any]:
    """The exact set of fields the hash covers (subject institutions only when recorded,
    so entries written before they existed keep their hash)."""
    fields = {
        "seq": seq,
        "at": canonical_time(at),
        "actor_id": actor_id,
        "actor": actor,
        "action": action,
        "entity_type": entity_type,
        "entity_id": entity_id,
        "patient_id": patient_id,
        "institution_id": institution_id,
        "outcome": outcome,
        "ip": ip,
        "request_id": request_id,
        "details": details,
    }
    if subject_institutions is not None:
        fields["subject_institutions"] = subject_institutions
    return fields


def encode_institutions(ids: frozenset[int] | None) -> str | None:
    """`{7, 3}` -> `",3,7,"`: a stored form that a portable LIKE '%,3,%' can search."""
    if not ids:
        return None
    return "," + ",".join(str(i) for i in sorted(ids)) + ","


def institution_marker(institution_id: int) -> str:
    """What `encode_institutions` writes for one institution (a LIKE substring)."""
    return f",{institution_id},"
