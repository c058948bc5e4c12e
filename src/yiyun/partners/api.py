"""The OAuth 2.0 token endpoint (SMART Backend Services) and the SMART configuration.

Both are public: the token endpoint authenticates the client by its signed assertion.
Refusals follow RFC 6749 (`{"error": "invalid_client", "error_description": …}`), the
description a translated sentence; a refusal of a known partner is on the audit chain.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse

from yiyun import i18n
from yiyun.partners import keys as partner_keys
from yiyun.partners import scopes as smart_scopes
from yiyun.partners import tokens
from yiyun.partners.errors import TokenRefused
from yiyun.settings import Settings
from yiyun.web.deps import DbSession, client_ip
from yiyun.web.templating import locale_of

router = APIRouter()
TOKEN_PATH = "/oauth/token"  # noqa: S105 - a path, not a password
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _origin(request: Request) -> str:
    settings: Settings = request.app.state.settings
    return (settings.public_url or str(request.base_url)).rstrip("/")


def audiences(request: Request) -> set[str]:
    """The token endpoint's URL as a client may name it: the public URL, or this request's."""
    settings: Settings = request.app.state.settings
    found = {str(request.url_for("partner_token"))}
    if settings.public_url:
        found.add(settings.public_url.rstrip("/") + TOKEN_PATH)
    return found


@router.get("/.well-known/smart-configuration", name="smart_configuration")
async def smart_configuration(request: Request) -> JSONResponse:
    """What a SMART Backend Services client needs to find and use the token endpoint."""
    origin = _origin(request)
    return JSONResponse(
        {
            "issuer": origin,
            "token_endpoint": origin + TOKEN_PATH,
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": list(partner_keys.ALGORITHMS),
            "grant_types_supported": ["client_credentials"],
            "scopes_supported": [
                f"system/{r}.{p}" for r, p in sorted(smart_scopes.SUPPORTED.items())
            ],
            "capabilities": ["client-confidential-asymmetric", "permission-v2"],
            "fhir_base": origin + "/fhir/r4",
        },
        headers={"Cache-Control": "public, max-age=300"},
    )


@router.post(TOKEN_PATH, name="partner_token")
async def token(
    request: Request,
    session: DbSession,
    grant_type: Annotated[str, Form(max_length=64)] = "",
    scope: Annotated[str, Form(max_length=2000)] = "",
    client_assertion_type: Annotated[str, Form(max_length=128)] = "",
    client_assertion: Annotated[str, Form(max_length=tokens.MAX_ASSERTION_BYTES)] = "",
) -> JSONResponse:
    """Client-credentials grant with `private_key_jwt`: a short-lived bearer token limited
    to the requested scopes the partner holds, for its own institution's data."""
    settings: Settings = request.app.state.settings
    secret = settings.security.secret_key
    form = {
        "grant_type": grant_type,
        "scope": scope,
        "client_assertion_type": client_assertion_type,
        "client_assertion": client_assertion,
    }
    try:
        issued = await tokens.issue(
            session=session,
            form=form,
            audiences=audiences(request),
            secret_key=secret.get_secret_value() if secret else "",
            ip=client_ip(request),
        )
    except TokenRefused as refused:
        if refused.keep_changes:
            await session.commit()  # the refusal's audit entry stays
        body = {
            "error": refused.oauth,
            "error_description": i18n.gettext(locale_of(request), refused.message),
            "code": refused.code,
        }
        return JSONResponse(body, status_code=refused.status, headers=NO_STORE)
    return JSONResponse(
        {
            "access_token": issued.access_token,
            "token_type": "bearer",
            "expires_in": issued.expires_in,
            "scope": issued.scope,
        },
        headers=NO_STORE,
    )
