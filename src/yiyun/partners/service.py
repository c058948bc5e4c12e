"""Partner use cases: register, change scopes, suspend and reactivate, keys, webhooks,
deliveries (replay), usage. Each change is audited with the acting administrator."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.audit import service as audit
from yiyun.audit.models import AuditEvent
from yiyun.audit.service import Actor
from yiyun.auth.policy import Action, Target, allows, require
from yiyun.auth.principal import Principal
from yiyun.core.clock import now
from yiyun.core.crypto import FieldCipher
from yiyun.core.errors import Conflict, NotFound
from yiyun.org.models import Institution
from yiyun.partners import keys as partner_keys
from yiyun.partners import signing, webhooks
from yiyun.partners.errors import bad_field
from yiyun.partners.models import (
    DeliveryState,
    Partner,
    PartnerDelivery,
    PartnerKey,
    PartnerStatus,
    PartnerWebhook,
)
from yiyun.partners.schemas import PartnerCreate, WebhookCreate


async def _audit(
    session: AsyncSession, actor: Actor, action: str, partner: Partner, **details: Any
) -> None:
    await audit.record(
        session=session,
        actor=actor,
        action=action,
        entity_type="partner",
        entity_id=partner.id,
        subject_institutions=frozenset({partner.institution_id}),
        details=details or None,
    )


async def visible(*, session: AsyncSession, principal: Principal) -> list[Partner]:
    """The partners the caller may see: all (consortium admin) or its institution's."""
    query = select(Partner).order_by(Partner.name)
    if not allows(principal, Action.VIEW_PARTNER):
        require(principal, Action.VIEW_PARTNER, Target.of(principal.institution_id))
        query = query.where(Partner.institution_id == principal.institution_id)
    return list(await session.scalars(query))


async def get(
    *,
    session: AsyncSession,
    principal: Principal,
    partner_id: int,
    action: Action = Action.VIEW_PARTNER,
) -> Partner:
    """A partner the caller may see (404 otherwise), then `action` on it (403)."""
    partner = await session.get(Partner, partner_id)
    target = Target.of(partner.institution_id) if partner else None
    if partner is None or target is None or not allows(principal, Action.VIEW_PARTNER, target):
        raise NotFound("partner not found", code="partner.not_found")
    require(principal, action, target)
    return partner


async def register(
    *,
    session: AsyncSession,
    principal: Principal,
    actor: Actor,
    data: PartnerCreate,
    jwk: str = "",
) -> Partner:
    """Register a partner system; it gets a client id, and signs with `jwk` or its JWKS URL."""
    require(principal, Action.MANAGE_PARTNERS)
    inst = await session.get(Institution, data.institution_id)
    if inst is None or not inst.active:
        raise bad_field("institution_id", "choose an institution", "partner.bad_institution")
    key = partner_keys.public_jwk(jwk) if jwk.strip() else None
    if key is None and data.jwks_url is None:
        raise bad_field("jwk", "give a public key or a JWKS URL", "partner.no_key")
    at = now()
    partner = Partner(
        client_id=f"p-{secrets.token_hex(8)}",
        name=data.name,
        institution_id=data.institution_id,
        contact_name=data.contact_name,
        contact_email=data.contact_email,
        contact_phone=data.contact_phone,
        scopes=data.scopes,
        jwks_url=data.jwks_url,
        status=PartnerStatus.ACTIVE,
        created_by_id=principal.user_id,
        created_at=at,
        updated_at=at,
    )
    session.add(partner)
    await session.flush()
    if key is not None:
        session.add(
            PartnerKey(
                partner_id=partner.id, kid=key["kid"], alg=key["alg"], jwk=key, created_at=at
            )
        )
    await _audit(session, actor, "partner.register", partner, scopes=data.scopes)
    return partner


async def set_scopes(
    *,
    session: AsyncSession,
    principal: Principal,
    actor: Actor,
    partner: Partner,
    scopes: list[str],
) -> None:
    require(principal, Action.MANAGE_PARTNERS)
    before = list(partner.scopes)
    partner.scopes = scopes
    await _audit(session, actor, "partner.scopes", partner, before=before, after=scopes)


async def suspend(
    *, session: AsyncSession, principal: Principal, actor: Actor, partner: Partner
) -> None:
    """Suspend at once: no new token, and every token already issued is refused."""
    require(principal, Action.MANAGE_PARTNERS)
    if partner.status is PartnerStatus.SUSPENDED:
        raise Conflict("the partner is suspended already", code="partner.suspended_already")
    partner.status = PartnerStatus.SUSPENDED
    partner.tokens_valid_after = now()
    await _audit(session, actor, "partner.suspend", partner)


async def reactivate(
    *, session: AsyncSession, principal: Principal, actor: Actor, partner: Partner
) -> None:
    require(principal, Action.MANAGE_PARTNERS)
    if partner.status is PartnerStatus.ACTIVE:
        raise Conflict("the partner is active already", code="partner.active_already")
    partner.status = PartnerStatus.ACTIVE
    await _audit(session, actor, "partner.reactivate", partner)


async def add_key(
    *, session: AsyncSession, principal: Principal, actor: Actor, partner: Partner, jwk: str
) -> PartnerKey:
    """Key rotation, step one: add the new public key (both verify until the old is revoked)."""
    require(principal, Action.OPERATE_PARTNER, Target.of(partner.institution_id))
    key = partner_keys.public_jwk(jwk)
    taken = await session.scalar(
        select(PartnerKey.id).where(
            PartnerKey.partner_id == partner.id, PartnerKey.kid == key["kid"]
        )
    )
    if taken is not None:
        raise bad_field("jwk", "a key with this kid exists already", "partner.kid_taken")
    row = PartnerKey(
        partner_id=partner.id, kid=key["kid"], alg=key["alg"], jwk=key, created_at=now()
    )
    session.add(row)
    await session.flush()
    await _audit(session, actor, "partner.key_add", partner, kid=key["kid"])
    return row


async def revoke_key(
    *, session: AsyncSession, principal: Principal, actor: Actor, partner: Partner, key_id: int
) -> None:
    """Key rotation, step two: the old key verifies no more assertions."""
    require(principal, Action.OPERATE_PARTNER, Target.of(partner.institution_id))
    key = await session.get(PartnerKey, key_id)
    if key is None or key.partner_id != partner.id or key.revoked_at is not None:
        raise NotFound("key not found", code="partner.key_not_found")
    key.revoked_at = now()
    partner_keys.forget(partner.jwks_url)
    await _audit(session, actor, "partner.key_revoke", partner, kid=key.kid)


async def add_webhook(
    *,
    session: AsyncSession,
    principal: Principal,
    actor: Actor,
    cipher: FieldCipher,
    partner: Partner,
    data: WebhookCreate,
) -> tuple[PartnerWebhook, str]:
    """A new endpoint and its signing secret (returned once, stored encrypted)."""
    require(principal, Action.MANAGE_PARTNERS)
    secret = signing.new_secret()
    hook = PartnerWebhook(
        partner_id=partner.id,
        url=data.url,
        events=data.events,
        secret_enc=cipher.encrypt(secret, context=webhooks.SECRET_CONTEXT),
        active=True,
        created_at=now(),
    )
    session.add(hook)
    await session.flush()
    await _audit(
        session, actor, "partner.webhook_add", partner, webhook_id=hook.id, events=data.events
    )
    return hook, secret


async def webhooks_of(session: AsyncSession, partner: Partner) -> list[PartnerWebhook]:
    return list(
        await session.scalars(
            select(PartnerWebhook)
            .where(PartnerWebhook.partner_id == partner.id)
            .order_by(PartnerWebhook.id)
        )
    )


async def keys_of(session: AsyncSession, partner: Partner) -> list[PartnerKey]:
    return list(
        await session.scalars(
            select(PartnerKey).where(PartnerKey.partner_id == partner.id).order_by(PartnerKey.id)
        )
    )


async def deliveries_of(
    session: AsyncSession, partner: Partner, limit: int = 50
) -> list[PartnerDelivery]:
    return list(
        await session.scalars(
            select(PartnerDelivery)
            .join(PartnerWebhook, PartnerWebhook.id == PartnerDelivery.webhook_id)
            .where(PartnerWebhook.partner_id == partner.id)
            .order_by(PartnerDelivery.id.desc())
            .limit(limit)
        )
    )


async def replay(
    *, session: AsyncSession, principal: Principal, actor: Actor, partner: Partner, delivery_id: int
) -> PartnerDelivery:
    """Send a past delivery again (the same event id: receivers deduplicate by it)."""
    require(principal, Action.OPERATE_PARTNER, Target.of(partner.institution_id))
    old = await session.get(PartnerDelivery, delivery_id)
    hook = await session.get(PartnerWebhook, old.webhook_id) if old else None
    if old is None or hook is None or hook.partner_id != partner.id:
        raise NotFound("delivery not found", code="partner.delivery_not_found")
    at = now()
    copy = PartnerDelivery(
        webhook_id=old.webhook_id,
        event_id=old.event_id,
        event_type=old.event_type,
        subject=old.subject,
        payload=old.payload,
        status=DeliveryState.PENDING,
        attempts=0,
        created_at=at,
        next_at=at,
    )
    session.add(copy)
    await session.flush()
    await _audit(session, actor, "partner.replay", partner, delivery_id=old.id)
    return copy


@dataclass(frozen=True)
class Usage:
    calls: int  # audited calls in the window
    denied: int
    tokens: int
    by_action: list[tuple[str, str, int]]  # action, outcome, count


async def usage(session: AsyncSession, partner: Partner, *, days: int = 7) -> Usage:
    """What the partner did in the last `days`, read from the audit log (its actor name)."""
    since = now() - timedelta(days=days)
    rows = (
        await session.execute(
            select(AuditEvent.action, AuditEvent.outcome, func.count())
            .where(AuditEvent.actor == f"partner:{partner.client_id}", AuditEvent.at >= since)
            .group_by(AuditEvent.action, AuditEvent.outcome)
            .order_by(func.count().desc())
        )
    ).all()
    by_action = [(str(a), str(o), int(n)) for a, o, n in rows]
    return Usage(
        calls=sum(n for a, _o, n in by_action if a != "partner.token"),
        denied=sum(n for _a, o, n in by_action if o != "success"),
        tokens=sum(n for a, o, n in by_action if a == "partner.token" and o == "success"),
        by_action=by_action,
    )
