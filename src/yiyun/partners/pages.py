"""The third-party service portal's pages: the partners list and registration (the
consortium administrator), and each partner's page (its institution's administrator
too): usage and errors, keys (rotation), webhooks, deliveries (replay), suspension."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy import select

from yiyun.auth.policy import Action, Target, allows
from yiyun.org.models import Institution
from yiyun.partners import events as partner_events
from yiyun.partners import scopes as smart_scopes
from yiyun.partners import service
from yiyun.partners.schemas import PartnerCreate, WebhookCreate
from yiyun.web.deps import CurrentActor, CurrentPrincipal, DbSession, get_cipher
from yiyun.web.pagekit import invalid, page, see_other
from yiyun.web.params import Id

router = APIRouter()
SCOPE_CHOICES = [f"system/{r}.{p}" for r, p in sorted(smart_scopes.SUPPORTED.items())]


@router.get("/partners", response_class=HTMLResponse)
async def partners(request: Request, session: DbSession, principal: CurrentPrincipal) -> Response:
    rows = await service.visible(session=session, principal=principal)
    institutions = list(
        await session.scalars(
            select(Institution).where(Institution.active.is_(True)).order_by(Institution.name)
        )
    )
    context = {
        "partners": rows,
        "institutions": institutions,
        "names": {i.id: i for i in institutions},
        "may_register": allows(principal, Action.MANAGE_PARTNERS),
        "scope_choices": SCOPE_CHOICES,
    }
    return page(request, principal, "partners/list.html", context)


@router.post("/partners")
async def register(
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
    name: Annotated[str, Form(max_length=100)],
    institution_id: Annotated[int, Form(gt=0, le=2**31 - 1)],
    contact_name: Annotated[str, Form(max_length=100)],
    contact_email: Annotated[str, Form(max_length=200)],
    scopes: Annotated[list[str], Form(max_length=30)],
    contact_phone: Annotated[str, Form(max_length=20)] = "",
    jwks_url: Annotated[str, Form(max_length=500)] = "",
    jwk: Annotated[str, Form(max_length=8000)] = "",
) -> Response:
    try:
        data = PartnerCreate.model_validate(
            {
                "name": name,
                "institution_id": institution_id,
                "contact_name": contact_name,
                "contact_email": contact_email,
                "contact_phone": contact_phone,
                "scopes": scopes,
                "jwks_url": jwks_url or None,
            }
        )
    except ValidationError as exc:
        raise invalid(exc) from None
    partner = await service.register(
        session=session, principal=principal, actor=actor, data=data, jwk=jwk
    )
    return see_other(f"/partners/{partner.id}?done=created")


async def _detail(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    partner_id: int,
    secret: str | None = None,
) -> Response:
    partner = await service.get(session=session, principal=principal, partner_id=partner_id)
    context = {
        "partner": partner,
        "institution": await session.get(Institution, partner.institution_id),
        "usage": await service.usage(session, partner),
        "keys": await service.keys_of(session, partner),
        "hooks": await service.webhooks_of(session, partner),
        "deliveries": await service.deliveries_of(session, partner),
        "may_manage": allows(principal, Action.MANAGE_PARTNERS),
        "may_operate": allows(principal, Action.OPERATE_PARTNER, Target.of(partner.institution_id)),
        "event_types": partner_events.EVENT_TYPES,
        "secret": secret,
    }
    return page(request, principal, "partners/detail.html", context)


@router.get("/partners/{partner_id}", response_class=HTMLResponse)
async def detail(
    partner_id: Id, request: Request, session: DbSession, principal: CurrentPrincipal
) -> Response:
    return await _detail(request, session, principal, partner_id)


@router.post("/partners/{partner_id}/{action}")
async def act(
    partner_id: Id,
    action: str,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
) -> Response:
    """Suspend (at once) or reactivate."""
    partner = await service.get(session=session, principal=principal, partner_id=partner_id)
    if action == "suspend":
        await service.suspend(session=session, principal=principal, actor=actor, partner=partner)
    elif action == "reactivate":
        await service.reactivate(session=session, principal=principal, actor=actor, partner=partner)
    else:
        return see_other(f"/partners/{partner_id}")
    return see_other(f"/partners/{partner_id}?done=saved")


@router.post("/partners/{partner_id}/keys/add")
async def add_key(
    partner_id: Id,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
    jwk: Annotated[str, Form(max_length=8000)],
) -> Response:
    partner = await service.get(session=session, principal=principal, partner_id=partner_id)
    await service.add_key(
        session=session, principal=principal, actor=actor, partner=partner, jwk=jwk
    )
    return see_other(f"/partners/{partner_id}?done=saved")


@router.post("/partners/{partner_id}/keys/{key_id}/revoke")
async def revoke_key(
    partner_id: Id,
    key_id: Id,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
) -> Response:
    partner = await service.get(session=session, principal=principal, partner_id=partner_id)
    await service.revoke_key(
        session=session, principal=principal, actor=actor, partner=partner, key_id=key_id
    )
    return see_other(f"/partners/{partner_id}?done=saved")


@router.post("/partners/{partner_id}/webhooks/add", response_class=HTMLResponse)
async def add_webhook(
    partner_id: Id,
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
    url: Annotated[str, Form(max_length=500)],
    events: Annotated[list[str], Form(max_length=64)],
) -> Response:
    """The endpoint's signing secret is shown on this one answer, never again."""
    partner = await service.get(session=session, principal=principal, partner_id=partner_id)
    try:
        data = WebhookCreate.model_validate({"url": url, "events": events})
    except ValidationError as exc:
        raise invalid(exc) from None
    _hook, secret = await service.add_webhook(
        session=session,
        principal=principal,
        actor=actor,
        cipher=get_cipher(request),
        partner=partner,
        data=data,
    )
    await session.flush()
    return await _detail(request, session, principal, partner_id, secret=secret)


@router.post("/partners/{partner_id}/deliveries/{delivery_id}/replay")
async def replay(
    partner_id: Id,
    delivery_id: Id,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
) -> Response:
    partner = await service.get(session=session, principal=principal, partner_id=partner_id)
    await service.replay(
        session=session, principal=principal, actor=actor, partner=partner, delivery_id=delivery_id
    )
    return see_other(f"/partners/{partner_id}?done=replayed")
