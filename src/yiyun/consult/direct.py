"""The invited department accepts a request directly (without the telemedicine centre).

A request may name a hospital department; while it waits for the dispatcher, a specialist
of that department may accept it at a time of their own calendar. The same rules as an
assignment hold (licence, years, title, specialty; the slot in their calendar and free),
and exactly one acceptance wins: a conditional UPDATE of `accepted_by_id` while the
request is still `requested`, so a dispatcher's assignment or a colleague's acceptance
at the same moment loses with a 409.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.consult import calendar, service, workflow
from yiyun.consult.models import Answer, Consult, ConsultExpert, ConsultKind, ConsultState
from yiyun.consult.schemas import Take
from yiyun.core.bus import EventBus
from yiyun.core.clock import district, now
from yiyun.core.errors import Conflict, InvalidInput, NotFound
from yiyun.i18n.text import Text
from yiyun.org import specialties
from yiyun.org.models import User
from yiyun.records.access import Ctx

C = ConsultState


async def take(
    *, session: AsyncSession, ctx: Ctx, bus: EventBus, consult_id: int, data: Take
) -> Consult:
    """A specialist of the invited department accepts at a time of their calendar."""
    principal = ctx.principal
    consult = await service.get(
        session=session, principal=principal, consult_id=consult_id, lock=True
    )
    workflow.MACHINE.check(consult, "take", principal)
    if consult.kind is not ConsultKind.SINGLE:
        raise Conflict(
            "a multidisciplinary consultation is put together by the telemedicine centre",
            code="consult.mdt_dispatch_only",
            details={"state": consult.state.value, "action": "take"},
        )
    user = await session.get(User, principal.user_id)
    if user is None:  # pragma: no cover - the principal's row
        raise NotFound("user not found", code="user.not_found")
    starts_at = calendar.local(data.starts_at)
    if starts_at < now() - timedelta(minutes=5):
        raise InvalidInput(
            "the consultation time must be in the future",
            code="consult.time_past",
            details={"field": "starts_at"},
        )
    ends_at = starts_at + timedelta(minutes=data.duration_minutes)
    why = service.refusal(user, consult, district(starts_at).date())
    codes = (await service.held_codes(session, [user]))[user.id]
    if why is None and not specialties.matches(consult.specialty, codes):
        why = "the expert does not practise the requested specialty"
    if why is not None:
        raise InvalidInput(why, code="consult.expert_refused", details={"field": "expert_ids"})
    await calendar.require_free(session, consult, user.id, starts_at, ends_at, action="take")
    won = await session.execute(
        update(Consult)
        .where(
            Consult.id == consult.id,
            Consult.accepted_by_id.is_(None),
            Consult.state == C.REQUESTED.value,
        )
        .values(accepted_by_id=user.id)
        .execution_options(synchronize_session=False)
    )
    if getattr(won, "rowcount", 0) != 1:
        raise Conflict(
            "another expert accepted this consultation first",
            code="consult.taken",
            details={"state": consult.state.value, "action": "take"},
        )
    at = now()
    session.add(
        ConsultExpert(
            consult_id=consult.id,
            expert_id=user.id,
            institution_id=user.institution_id,
            answer=Answer.ACCEPTED,
            starts_at=starts_at,
            ends_at=ends_at,
            assigned_by_id=user.id,
            assigned_at=at,
            answered_at=at,
        )
    )
    await session.flush()
    consult.accepted_by_id = user.id
    consult.scheduled_at, consult.duration_minutes = starts_at, data.duration_minutes
    consult.expert_ids = consult.accepted_ids = frozenset({user.id})
    await workflow.step(
        session=session,
        bus=bus,
        consult=consult,
        action="take",
        actor=ctx.actor,
        principal=principal,
        details={"expert_id": user.id, "starts_at": starts_at.isoformat()},
    )
    consult.due_at = consult.reminded_at = consult.escalated_at = None
    when = f"{district(starts_at):%Y-%m-%d %H:%M}"
    await service.tell(
        session,
        bus,
        consult,
        [consult.requester_id, *await service.dispatcher_ids(session)],
        "consult.accepted",
        Text("The invited department accepted the consultation"),
        Text("Booked for {when} (Beijing time)", when=when),
    )
    return consult
