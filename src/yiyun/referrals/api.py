"""Referral JSON API."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request

from yiyun.referrals import service
from yiyun.referrals.schemas import Decision, ReferralDown, ReferralRead, ReferralUp
from yiyun.web.deps import CurrentPrincipal, DbSession, PatientCtx
from yiyun.web.params import Id

router = APIRouter()


@router.get("/referrals", response_model=list[ReferralRead])
async def list_referrals(
    session: DbSession,
    principal: CurrentPrincipal,
    box: Literal["all", "in", "out"] = "all",
    state: str | None = None,
    direction: Literal["up", "down"] | None = None,
) -> list[ReferralRead]:
    """Referrals to and from the caller's institution."""
    work = await service.worklist(
        session=session, principal=principal, box=box, state=state, direction=direction
    )
    return [ReferralRead.model_validate(r.referral) for r in work.rows]


@router.post("/referrals/up", response_model=ReferralRead, status_code=201)
async def refer_up(
    data: ReferralUp, request: Request, session: DbSession, ctx: PatientCtx
) -> ReferralRead:
    referral = await service.refer_up(
        session=session, bus=request.app.state.bus, ctx=ctx, data=data
    )
    return ReferralRead.model_validate(referral)


@router.post("/referrals/down", response_model=ReferralRead, status_code=201)
async def refer_down(
    data: ReferralDown, request: Request, session: DbSession, ctx: PatientCtx
) -> ReferralRead:
    referral = await service.refer_down(
        session=session, bus=request.app.state.bus, ctx=ctx, data=data
    )
    return ReferralRead.model_validate(referral)


@router.get("/referrals/{referral_id}", response_model=ReferralRead)
async def get_referral(referral_id: Id, session: DbSession, ctx: PatientCtx) -> ReferralRead:
    referral = await service.read_with_audit(session=session, ctx=ctx, referral_id=referral_id)
    return ReferralRead.model_validate(referral)


@router.post("/referrals/{referral_id}/{action}", response_model=ReferralRead)
async def decide(
    referral_id: Id,
    action: Literal["accept", "reject", "arrive", "complete", "cancel"],
    data: Decision,
    request: Request,
    session: DbSession,
    ctx: PatientCtx,
) -> ReferralRead:
    """Accept (booking the appointment), reject or cancel with a reason, arrive, complete."""
    referral = await service.decide(
        session=session,
        bus=request.app.state.bus,
        ctx=ctx,
        referral_id=referral_id,
        action=action,
        data=data,
    )
    return ReferralRead.model_validate(referral)
