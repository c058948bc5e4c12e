"""What a referral grants: the receiving institution's clinicians may read the referred
patient's record while the referral is open (requested, accepted, arrived).

Registered at application start (`web.app.register_relationships`); reads go through
`records.service.load_patient`, audited with the patient's institutions, so the
referring institution sees in its audit log who read its patient.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, false, select

from yiyun.auth.policy import Action, Relationship
from yiyun.auth.principal import Principal
from yiyun.org.enums import CLINICAL_ROLES
from yiyun.referrals.models import Referral, ReferralState

OPEN = (ReferralState.REQUESTED, ReferralState.ACCEPTED, ReferralState.ARRIVED)


def patients_referred_to_me(principal: Principal) -> Select[Any]:
    query = select(Referral.patient_id.label("patient_id")).where(
        Referral.to_institution_id == principal.institution_id, Referral.state.in_(OPEN)
    )
    if not principal.has(*CLINICAL_ROLES):
        return query.where(false())
    return query


REFERRED_TO_MY_INSTITUTION = Relationship(
    name="referrals.referred_to_my_institution",
    grants=frozenset({Action.READ_PATIENT}),
    patients=patients_referred_to_me,
)
