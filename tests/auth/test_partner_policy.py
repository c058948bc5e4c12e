"""The policy for partner systems: SMART v2 scopes instead of roles, the partner's own
institution for patient data, nothing else (no relationships, no staff actions)."""

from __future__ import annotations

import pytest

from yiyun.auth import policy
from yiyun.auth.policy import ANY, Action, Target
from yiyun.auth.principal import Principal
from yiyun.core.errors import PermissionDenied
from yiyun.partners import scopes

OWN, OTHER = 7, 8


def partner(*granted: str) -> Principal:
    return Principal(
        user_id=0,
        username="partner:p-1",
        display_name="HIS",
        institution_id=OWN,
        roles=frozenset(),
        partner_id=1,
        scopes=frozenset(granted),
    )


@pytest.mark.parametrize(
    ("granted", "action", "target", "allowed"),
    [
        ("system/Patient.rs", Action.READ_PATIENT, Target.of(OWN), True),
        ("system/Patient.rs", Action.READ_PATIENT, Target.of(OTHER), False),
        ("system/Patient.rs", Action.READ_PATIENT, ANY, False),
        ("system/Patient.rs", Action.LIST_PATIENTS, Target.of(OWN), True),
        ("system/Patient.rs", Action.REGISTER_PATIENT, Target.of(OWN), False),
        ("system/Patient.crus", Action.REGISTER_PATIENT, Target.of(OWN), True),
        ("system/Patient.crus", Action.WRITE_PATIENT, Target.of(OWN), True),
        ("system/Patient.s", Action.READ_PATIENT, Target.of(OWN), False),
        ("system/ServiceRequest.crs", Action.REFER, Target.of(OWN), True),
        ("system/ServiceRequest.crs", Action.REFER, Target.of(OTHER), False),
        ("system/Organization.rs", Action.VIEW_CONSORTIUM, ANY, True),
        ("system/*.rs", Action.READ_PATIENT, Target.of(OWN), True),
        # never a staff action, whatever the scopes
        ("system/*.cruds", Action.VIEW_AUDIT, ANY, False),
        ("system/*.cruds", Action.BREAK_GLASS, Target.of(OWN), False),
        ("system/*.cruds", Action.MANAGE_PARTNERS, ANY, False),
    ],
)
def test_a_partner_may_what_its_scopes_name_in_its_institution(
    granted: str, action: Action, target: Target, allowed: bool
) -> None:
    assert policy.allows(partner(granted), action, target) is allowed


def test_a_partner_scope_covers_its_own_institution_and_no_relationship() -> None:
    scope = policy.scope(partner("system/Patient.rs"), Action.READ_PATIENT)
    assert scope.institutions == frozenset({OWN}) and scope.related_patients == ()


def test_require_scope_refuses_a_partner_and_never_staff() -> None:
    policy.require_scope(partner("system/Patient.rs"), "Patient", "r")
    with pytest.raises(PermissionDenied):
        policy.require_scope(partner("system/Patient.rs"), "Patient", "c")
    staff = Principal(1, "alice", "Alice", OWN, frozenset())
    policy.require_scope(staff, "Patient", "c")


@pytest.mark.parametrize(
    "text",
    [
        "patient/Patient.rs",
        "system/Patient.read",
        "system/Patient.sr",
        "system/Foo.r",
        "system/Appointment.c",
    ],
)
def test_only_supported_smart_v2_system_scopes_parse(text: str) -> None:
    with pytest.raises(scopes.ScopeError):
        scopes.parse(text)


def test_a_token_never_exceeds_the_grant() -> None:
    granted = ["system/Patient.rs", "system/Organization.rs"]
    assert scopes.narrow("system/Patient.r system/Organization.rs", granted) == [
        "system/Patient.r",
        "system/Organization.rs",
    ]
    for asked in ("system/Patient.crs", "system/*.rs", "", "system/ServiceRequest.r"):
        with pytest.raises(scopes.ScopeError):
            scopes.narrow(asked, granted)
