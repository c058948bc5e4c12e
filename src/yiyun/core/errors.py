"""Domain error tree. Domain code raises only these; `web/errors.py` maps them once.

YiyunError
 +-- InvalidInput            422  bad values, with field details
 +-- NotAuthenticated        401
 +-- PermissionDenied        403
 +-- NotFound                404  (also what outsiders get for hidden records)
 +-- Conflict                409
 |    +-- IllegalTransition  409  names the state and the action
 +-- RateLimited             429
 +-- Upstream                502  an external system failed
"""

from __future__ import annotations

from typing import Any


class YiyunError(Exception):
    """Base of all domain errors: a stable `code`, a message and optional details."""

    status = 400
    code = "error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: dict[str, Any] | None = None,
        keep_changes: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details: dict[str, Any] = details or {}
        # True only when the transaction holds nothing but the record of this failure
        # (an audit entry, a failed-login count): the unit of work commits it anyway.
        self.keep_changes = keep_changes

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class InvalidInput(YiyunError):
    status = 422
    code = "invalid_input"


class NotAuthenticated(YiyunError):
    status = 401
    code = "not_authenticated"


class PermissionDenied(YiyunError):
    status = 403
    code = "permission_denied"


class NotFound(YiyunError):
    status = 404
    code = "not_found"


class Conflict(YiyunError):
    status = 409
    code = "conflict"


class IllegalTransition(Conflict):
    code = "illegal_transition"

    def __init__(self, *, state: str, action: str, code: str | None = None) -> None:
        super().__init__(
            f"cannot {action} when state is {state}",
            code=code,
            details={"state": state, "action": action},
        )


class RateLimited(YiyunError):
    status = 429
    code = "rate_limited"


class Upstream(YiyunError):
    status = 502
    code = "upstream_error"
