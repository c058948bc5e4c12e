"""SMART v2 system scopes: `system/<Resource>.<permissions>`, permissions a subset of
`cruds` in that order (create, read, update, delete, search).

Pure functions: parse a scope, check a requested set against a granted one, and answer
whether a set of scopes allows one interaction on one resource type.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# The resource types a partner may be granted, and what the server supports on each.
SUPPORTED: dict[str, str] = {
    "Patient": "crus",
    "ServiceRequest": "crs",
    "Appointment": "rs",
    "Organization": "rs",
    "Location": "rs",
    "Practitioner": "rs",
    "PractitionerRole": "rs",
    "Schedule": "rs",
    "Slot": "rs",
}
ORDER = "cruds"
_SCOPE = re.compile(r"^system/(?P<rtype>[A-Za-z]+|\*)\.(?P<perms>[cruds]{1,5})$")


class ScopeError(ValueError):
    """A scope that is not a supported SMART v2 system scope."""


@dataclass(frozen=True)
class Scope:
    resource: str  # a resource type, or "*"
    permissions: str

    def __str__(self) -> str:
        return f"system/{self.resource}.{self.permissions}"

    def allows(self, resource: str, interaction: str) -> bool:
        return self.resource in ("*", resource) and interaction in self.permissions


def parse(text: str) -> Scope:
    """One scope; raises `ScopeError` for anything else (v1 `.read`, user/patient scopes)."""
    match = _SCOPE.match(text.strip())
    if match is None:
        raise ScopeError(f"not a SMART v2 system scope: {text[:80]!r}")
    rtype, perms = match["rtype"], match["perms"]
    if [ORDER.index(p) for p in perms] != sorted({ORDER.index(p) for p in perms}):
        raise ScopeError(f"permissions must be in the order c, r, u, d, s: {text[:80]!r}")
    if rtype != "*" and rtype not in SUPPORTED:
        raise ScopeError(f"unsupported resource type: {rtype!r}")
    if rtype != "*" and not set(perms) <= set(SUPPORTED[rtype]):
        raise ScopeError(f"unsupported permission on {rtype}: {text[:80]!r}")
    return Scope(rtype, perms)


def parse_all(texts: list[str] | str) -> list[Scope]:
    items = texts.split() if isinstance(texts, str) else texts
    return [parse(t) for t in items if t.strip()]


def allows(scopes: frozenset[str] | list[str], resource: str, interaction: str) -> bool:
    """Whether any of `scopes` allows `interaction` (one of c r u d s) on `resource`."""
    for text in scopes:
        try:
            if parse(text).allows(resource, interaction):
                return True
        except ScopeError:
            continue
    return False


def narrow(requested: str, granted: list[str]) -> list[str]:
    """The requested scopes, each fully covered by the grant; raises `ScopeError` for
    the first one that is not (an access token never exceeds what was granted)."""
    grants = parse_all(granted)
    kept: list[str] = []
    for scope in parse_all(requested):
        if not all(
            any(g.allows(r, p) for g in grants)
            for r in ([scope.resource] if scope.resource != "*" else list(SUPPORTED))
            for p in scope.permissions
            if scope.resource != "*" or p in SUPPORTED[r]
        ):
            raise ScopeError(f"scope not granted: {scope}")
        kept.append(str(scope))
    if not kept:
        raise ScopeError("no scope requested")
    return kept
