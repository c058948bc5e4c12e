"""What taking part in a meeting grants: clinical staff invited to a meeting about a
patient may read that patient's record while the meeting is not over.

Registered with the access policy at application start (`web.app.register_relationships`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, false, select

from yiyun.auth.policy import Action, Relationship
from yiyun.auth.principal import Principal
from yiyun.meetings.models import Meeting, MeetingMember
from yiyun.org.enums import CLINICAL_ROLES

# The stored states of a meeting that is not over yet (scheduled or open).
LIVE_STATES = ("scheduled", "open")


def patients_in_my_meetings(principal: Principal) -> Select[Any]:
    """Patients of the live meetings the principal is a member of (clinical staff only)."""
    query = (
        select(Meeting.patient_id.label("patient_id"))
        .join(MeetingMember, MeetingMember.meeting_id == Meeting.id)
        .where(
            MeetingMember.user_id == principal.user_id,
            Meeting.patient_id.is_not(None),
            Meeting.state.in_(LIVE_STATES),
        )
    )
    if not principal.has(*CLINICAL_ROLES):
        return query.where(false())
    return query


MEETING_ABOUT_PATIENT = Relationship(
    name="meetings.member_of_meeting_about_patient",
    grants=frozenset({Action.READ_PATIENT}),
    patients=patients_in_my_meetings,
)
