"""Partner errors: the token endpoint's refusals carry their OAuth 2.0 error name."""

from __future__ import annotations

from typing import Any

from yiyun.core.errors import InvalidInput, NotAuthenticated


class TokenRefused(NotAuthenticated):
    """A token request refused; `oauth` is the RFC 6749 error name sent to the client."""

    def __init__(
        self, message: str, *, code: str, oauth: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message, code=code, details=details)
        self.oauth = oauth
        self.status = 401 if oauth == "invalid_client" else 400


def bad_request(message: str, code: str) -> TokenRefused:
    return TokenRefused(message, code=code, oauth="invalid_request")


def bad_client(message: str, code: str) -> TokenRefused:
    return TokenRefused(message, code=code, oauth="invalid_client")


def bad_field(field: str, message: str, code: str) -> InvalidInput:
    return InvalidInput(message, code=code, details={"field": field, "reasons": [message]})
