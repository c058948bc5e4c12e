"""The policy table itself: role reach, who may grant what, the read-only authority, and
the one scope helper."""

from __future__ import annotations

import pytest
from sqlalchemy import literal, select

from yiyun.auth import policy
from yiyun.auth.policy import ANY, Action, Reach, Target
from yiyun.auth.principal import Principal
from yiyun.org.enums import Role

OWN, OTHER = 1, 2


def who(*roles: Role, institution_id: int = OWN, user_id: int = 1) -> Principal:
    return Principal(
        user_id=user_id,
        username="p",
        display_name="P",
        institution_id=institution_id,
        roles=frozenset(roles),
    )


# Written out by hand from DESIGN.md §1: whose work reaches beyond their own institution.
EXPECTED_REACH = {
    Role.CONSORTIUM_ADMIN: Reach.CONSORTIUM,
    Role.AUTHORITY: Reach.CONSORTIUM,
    Role.DISPATCHER: Reach.CONSORTIUM,
    Role.OPS_ENGINEER: Reach.CONSORTIUM,
    Role.INSTITUTION_ADMIN: Reach.INSTITUTION,
    Role.COMMUNITY_DOCTOR: Reach.INSTITUTION,
    Role.SPECIALIST: Reach.INSTITUTION,
    Role.NURSE: Reach.INSTITUTION,
}


def test_each_roles_reach_is_read_from_the_table() -> None:
    assert {r: policy.reach(r) for r in Role} == EXPECTED_REACH


def reaches(role: Role) -> set[tuple[Action, Target]]:
    """Where a holder of `role` at OWN may act, beyond what every staff member may."""
    p = who(role)
    return {
        (a, t)
        for a in Action
        for t in (ANY, Target.of(OTHER), Target.of(OWN))
        if policy.allows(p, a, t) and not all(policy.allows(who(r), a, t) for r in Role)
    }


@pytest.mark.parametrize("granter", [Role.INSTITUTION_ADMIN, Role.CONSORTIUM_ADMIN])
def test_every_grantable_role_reaches_no_further_than_its_granter(granter: Role) -> None:
    p = who(granter)
    grantable = policy.grantable_roles(p, OWN, user_id=2)
    assert grantable, granter
    for role in grantable:
        assert policy.reach(role) is Reach.INSTITUTION or policy.reach(granter) is Reach.CONSORTIUM
        # What the role may do never reaches an institution or scope the granter cannot.
        beyond = {(a, t) for a, t in reaches(role) if t is ANY or t == Target.of(OTHER)}
        if policy.reach(granter) is Reach.INSTITUTION:
            assert beyond == set(), (role, beyond)


def test_an_institution_admin_grants_only_institution_roles_there_and_never_to_itself() -> None:
    admin = who(Role.INSTITUTION_ADMIN, user_id=7)
    assert policy.grantable_roles(admin, OWN, user_id=8) == {
        Role.INSTITUTION_ADMIN,
        Role.COMMUNITY_DOCTOR,
        Role.SPECIALIST,
        Role.NURSE,
    }
    assert Role.DISPATCHER not in policy.grantable_roles(admin, OWN, user_id=8)
    assert Role.OPS_ENGINEER not in policy.grantable_roles(admin, OWN, user_id=8)
    assert policy.grantable_roles(admin, OWN, user_id=7) == frozenset()
    assert policy.grantable_roles(admin, OTHER, user_id=8) == frozenset()
    for role in Role:
        if role not in (Role.INSTITUTION_ADMIN, Role.CONSORTIUM_ADMIN):
            assert policy.grantable_roles(who(role), OWN, user_id=8) == frozenset()
    assert policy.grantable_roles(who(Role.CONSORTIUM_ADMIN), OTHER, user_id=8) == set(Role)


def test_the_authority_writes_nothing_but_what_the_policy_names() -> None:
    hana = who(Role.AUTHORITY)
    assert policy.AUTHORITY_WRITES <= policy.WRITES
    allowed = {
        a
        for a in policy.WRITES
        for t in (ANY, Target.of(OWN), Target.of(OTHER))
        if policy.allows(hana, a, t)
    }
    assert allowed == policy.AUTHORITY_WRITES
    assert Action.COMMAND_EMERGENCY in allowed
    assert not allowed & {Action.WRITE_PATIENT, Action.REGISTER_PATIENT, Action.ADD_OPINION}
    assert policy.reads_everywhere_writes_nothing(hana)


def test_every_action_is_a_read_or_a_named_write() -> None:
    reads = {
        Action.VIEW_CONSORTIUM,
        Action.VIEW_CALL_QUALITY,
        Action.VIEW_STAFF,
        Action.VIEW_TERMINALS,
        Action.WATCH_TERMINALS,
        Action.LIST_PATIENTS,
        Action.READ_PATIENT,
        Action.VIEW_AUDIT,
        Action.VIEW_SURVEILLANCE_DISTRICT,
        Action.VIEW_SURVEILLANCE_SITE,
        Action.VIEW_DISPATCH,
        Action.VIEW_STATS,
        Action.VIEW_TEACHING,
        Action.VIEW_OPERATIONS,
        Action.VIEW_PARTNER,
        Action.VIEW_SUPERVISION,
    }
    assert reads | policy.WRITES == set(Action)
    assert not reads & policy.WRITES


@pytest.mark.parametrize(
    ("role", "institutions"),
    [
        (Role.AUTHORITY, None),
        (Role.NURSE, frozenset({OWN})),
        (Role.INSTITUTION_ADMIN, frozenset()),  # IT: no record without breaking the glass
        (Role.CONSORTIUM_ADMIN, frozenset()),
        (Role.OPS_ENGINEER, frozenset()),
        (Role.DISPATCHER, frozenset()),
    ],
)
def test_scope_is_everywhere_the_own_institution_or_nothing(
    role: Role, institutions: frozenset[int] | None
) -> None:
    scope = policy.scope(who(role), Action.READ_PATIENT)
    assert scope.institutions == institutions
    assert scope.covers(OWN) is (institutions is None or OWN in institutions)
    assert scope.covers(OTHER) is (institutions is None)


def test_a_relationship_may_grant_patient_actions_only() -> None:
    bad = policy.Relationship(
        name="test.bad",
        grants=frozenset({Action.MANAGE_STAFF}),
        patients=lambda p: select(literal(p.user_id)),
    )
    with pytest.raises(ValueError, match="patient actions only"):
        policy.register_relationship(bad)


@pytest.mark.parametrize(
    ("role", "own", "other"),
    [
        (Role.CONSORTIUM_ADMIN, True, True),
        (Role.INSTITUTION_ADMIN, True, False),
        (Role.COMMUNITY_DOCTOR, False, False),
        (Role.SPECIALIST, False, False),
        (Role.NURSE, False, False),
        (Role.AUTHORITY, False, False),
        (Role.OPS_ENGINEER, False, False),
        (Role.DISPATCHER, False, False),
    ],
)
def test_administrators_break_the_glass_within_their_reach_and_clinicians_not_at_all(
    role: Role, own: bool, other: bool
) -> None:
    principal = who(role)
    assert policy.allows(principal, Action.BREAK_GLASS, Target.of(OWN)) is own
    assert policy.allows(principal, Action.BREAK_GLASS, Target.of(OTHER)) is other
    for action in (Action.READ_PATIENT, Action.WRITE_PATIENT, Action.REGISTER_PATIENT):
        if role in (Role.CONSORTIUM_ADMIN, Role.INSTITUTION_ADMIN):
            assert not policy.allows(principal, action, Target.of(OWN))


def test_breaking_the_glass_keeps_the_institution_administrator_within_one_institution() -> None:
    assert policy.reach(Role.INSTITUTION_ADMIN) is Reach.INSTITUTION
