"""What a remote visit grants: the session's specialist may read the patient's record
while the visit is open (called, not yet completed); nothing before, nothing after.

Registered with the access policy at application start (`web.app.register_relationships`);
every read goes through `records.service.load_patient`, audited with the patient's
institutions, so the community centre sees in its audit log what the specialist read.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, false, select

from yiyun.auth.policy import Action, Relationship
from yiyun.auth.principal import Principal
from yiyun.clinics.models import ClinicVisit, VisitState
from yiyun.org.enums import Role


def patients_in_my_open_visits(principal: Principal) -> Select[Any]:
    query = select(ClinicVisit.patient_id.label("patient_id")).where(
        ClinicVisit.specialist_id == principal.user_id,
        ClinicVisit.state == VisitState.IN_VISIT,
    )
    if not principal.has(Role.SPECIALIST):
        return query.where(false())
    return query


SPECIALIST_IN_VISIT = Relationship(
    name="clinics.specialist_in_open_visit",
    grants=frozenset({Action.READ_PATIENT}),
    patients=patients_in_my_open_visits,
)
