"""What taking part in a consultation grants: an expert who accepted it reads the
patient's record while the consultation is open (accepted, in session, reported; not
once the inviting doctor has closed it, nor if it is cancelled).

Registered with the access policy at application start (`web.app.register_relationships`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, false, select

from yiyun.auth.policy import Action, Relationship
from yiyun.auth.principal import Principal
from yiyun.consult.models import Answer, Consult, ConsultExpert
from yiyun.consult.workflow import OPEN_STATES
from yiyun.org.enums import Role


def patients_of_my_consultations(principal: Principal) -> Select[Any]:
    query = (
        select(Consult.patient_id.label("patient_id"))
        .join(ConsultExpert, ConsultExpert.consult_id == Consult.id)
        .where(
            ConsultExpert.expert_id == principal.user_id,
            ConsultExpert.answer == Answer.ACCEPTED.value,
            Consult.state.in_([s.value for s in OPEN_STATES]),
        )
    )
    if not principal.has(Role.SPECIALIST):
        return query.where(false())
    return query


EXPERT_OF_OPEN_CONSULTATION = Relationship(
    name="consult.expert_of_open_consultation",
    grants=frozenset({Action.READ_PATIENT}),
    patients=patients_of_my_consultations,
)
