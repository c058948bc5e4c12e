"""The one access policy: role + institution + relationship. Deny by default.

Every route asks this module. Rules are a table from `Action` to a predicate over the
principal and the target's institution scope. Patient access additionally consults
*relationship providers*: later domains (consultations, referrals) register a function
answering "does this user take part in something involving this patient?".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import ColumnElement, Select, false, literal, select, true, union
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.auth.principal import Principal
from yiyun.core.errors import NotFound, PermissionDenied
from yiyun.org.enums import Role
from yiyun.partners import scopes

R = Role


class Action(StrEnum):
    VIEW_CONSORTIUM = "consortium.view"
    MANAGE_INSTITUTION = "institution.manage"
    VIEW_STAFF = "staff.view"
    MANAGE_STAFF = "staff.manage"
    VIEW_TERMINALS = "terminal.view"
    MANAGE_TERMINALS = "terminal.manage"
    WATCH_TERMINALS = "terminal.watch"
    LIST_PATIENTS = "patient.list"
    REGISTER_PATIENT = "patient.register"
    READ_PATIENT = "patient.read"
    WRITE_PATIENT = "patient.write"
    ADD_OPINION = "patient.add_opinion"
    BREAK_GLASS = "patient.break_glass"
    VIEW_AUDIT = "audit.view"
    COMMAND_EMERGENCY = "emergency.command"
    VIEW_DISPATCH = "dispatch.view"
    RESPOND_EMERGENCY = "emergency.respond"
    VIEW_SURVEILLANCE_DISTRICT = "surveillance.view_district"
    VIEW_SURVEILLANCE_SITE = "surveillance.view_site"
    REPORT_COUNTS = "surveillance.report_counts"
    MANAGE_ALERTS = "surveillance.manage_alerts"
    RESPOND_ALERT = "surveillance.respond_alert"
    VIEW_CALL_QUALITY = "ops.call_quality"
    VIEW_TEACHING = "teaching.view"
    PUBLISH_TEACHING = "teaching.publish"
    MANAGE_TEACHING = "teaching.manage"
    VIEW_STATS = "stats.view"
    VIEW_OPERATIONS = "ops.view"
    MANAGE_ALARMS = "ops.manage_alarms"
    HOLD_CLINIC = "clinic.hold"
    BOOK_CLINIC = "clinic.book"
    REFER = "referral.refer"
    MANAGE_PARTNERS = "partner.manage"
    VIEW_PARTNER = "partner.view"
    OPERATE_PARTNER = "partner.operate"
    VIEW_SUPERVISION = "supervision.view"
    REVIEW_SUPERVISION = "supervision.review"


@dataclass(frozen=True)
class Target:
    """What is acted on: the institution(s) it belongs to; None means consortium-wide."""

    institutions: frozenset[int] | None = None

    @classmethod
    def of(cls, *institution_ids: int) -> Target:
        return cls(frozenset(institution_ids))


ANY = Target()


def own(principal: Principal) -> Target:
    """The caller's own institution as a target."""
    return Target.of(principal.institution_id)


Rule = Callable[[Principal, Target], bool]


def _own(p: Principal, t: Target) -> bool:
    return t.institutions is not None and p.institution_id in t.institutions


def _roles(*roles: Role) -> Rule:
    return lambda p, _t: p.has(*roles)


def _roles_own(*roles: Role) -> Rule:
    return lambda p, t: p.has(*roles) and _own(p, t)


def _any_of(*rules: Rule) -> Rule:
    return lambda p, t: any(rule(p, t) for rule in rules)


STAFF = tuple(Role)
CLINICAL = (R.COMMUNITY_DOCTOR, R.SPECIALIST, R.NURSE)
# A site's people: its clinical staff and its administrator (surveillance counts, alerts).
SITE_STAFF = (*CLINICAL, R.INSTITUTION_ADMIN)

RULES: dict[Action, Rule] = {
    Action.VIEW_CONSORTIUM: _roles(*STAFF),
    # Operations see every call's quality figures (no content, no patient data).
    Action.VIEW_CALL_QUALITY: _roles(R.OPS_ENGINEER, R.CONSORTIUM_ADMIN),
    # The operations pages (terminal fleet, alarms, topology): operations and the consortium
    # administrator for the whole platform, an institution's administrator for its own
    # terminals (the `scope` of this action); acknowledging and clearing alarms is ops'.
    Action.VIEW_OPERATIONS: _any_of(
        _roles(R.OPS_ENGINEER, R.CONSORTIUM_ADMIN), _roles_own(R.INSTITUTION_ADMIN)
    ),
    Action.MANAGE_ALARMS: _roles(R.OPS_ENGINEER, R.CONSORTIUM_ADMIN),
    Action.MANAGE_INSTITUTION: _roles(R.CONSORTIUM_ADMIN),
    Action.VIEW_STAFF: _any_of(
        _roles(R.CONSORTIUM_ADMIN, R.AUTHORITY, R.DISPATCHER, R.OPS_ENGINEER),
        _roles_own(*STAFF),
    ),
    Action.MANAGE_STAFF: _any_of(_roles(R.CONSORTIUM_ADMIN), _roles_own(R.INSTITUTION_ADMIN)),
    Action.VIEW_TERMINALS: _any_of(
        _roles(R.CONSORTIUM_ADMIN, R.AUTHORITY, R.OPS_ENGINEER, R.DISPATCHER),
        _roles_own(*STAFF),
    ),
    # Terminals needing attention across the consortium (home page).
    Action.WATCH_TERMINALS: _roles(R.OPS_ENGINEER, R.CONSORTIUM_ADMIN, R.AUTHORITY),
    Action.MANAGE_TERMINALS: _any_of(
        _roles(R.CONSORTIUM_ADMIN, R.OPS_ENGINEER), _roles_own(R.INSTITUTION_ADMIN)
    ),
    # Patient records are clinical: the institution's clinical staff, and the health
    # authority reading. Administrators run IT and read no record by default (least
    # privilege, PIPL): when a support case or an emergency needs one, they break the glass
    # (`records.break_glass`: one patient, reasoned, time-limited, read-only, audited), the
    # consortium administrator for any patient, an institution's for its own patients.
    # Who may list patients at all (asked for the own institution); the rows listed are
    # `scope(principal, READ_PATIENT)`.
    Action.LIST_PATIENTS: _any_of(_roles(R.AUTHORITY), _roles_own(*CLINICAL)),
    Action.REGISTER_PATIENT: _roles_own(*CLINICAL),
    Action.READ_PATIENT: _any_of(_roles(R.AUTHORITY), _roles_own(*CLINICAL)),
    Action.WRITE_PATIENT: _roles_own(*CLINICAL),
    # A doctor's signed opinion on the record (relationships may grant it elsewhere).
    Action.ADD_OPINION: _roles_own(R.COMMUNITY_DOCTOR, R.SPECIALIST),
    Action.BREAK_GLASS: _any_of(_roles(R.CONSORTIUM_ADMIN), _roles_own(R.INSTITUTION_ADMIN)),
    Action.VIEW_AUDIT: _any_of(
        _roles(R.AUTHORITY, R.CONSORTIUM_ADMIN), _roles_own(R.INSTITUTION_ADMIN)
    ),
    # The dispatcher's work area: today's meetings in the district, open incidents and
    # tasks (titles, sites and states; no patient data).
    Action.VIEW_DISPATCH: _roles(R.DISPATCHER),
    # The command room: open incidents, dispatch tasks, convene sites (health authority).
    Action.COMMAND_EMERGENCY: _roles(R.AUTHORITY, R.CONSORTIUM_ADMIN),
    # A site answers: acknowledge and complete its tasks, report its resources.
    Action.RESPOND_EMERGENCY: _any_of(
        _roles(R.AUTHORITY, R.CONSORTIUM_ADMIN),
        _roles_own(R.INSTITUTION_ADMIN, R.COMMUNITY_DOCTOR, R.SPECIALIST, R.NURSE),
    ),
    # Surveillance: the authority and the consortium admin see the whole district; a site's
    # own clinical staff and admin see, report and respond for their site only; ops see none.
    # Detection runs and the alert decisions (confirm, dismiss, close, assign) are the
    # authority's.
    Action.VIEW_SURVEILLANCE_DISTRICT: _roles(R.AUTHORITY, R.CONSORTIUM_ADMIN),
    Action.VIEW_SURVEILLANCE_SITE: _any_of(
        _roles(R.AUTHORITY, R.CONSORTIUM_ADMIN), _roles_own(*SITE_STAFF)
    ),
    Action.REPORT_COUNTS: _any_of(_roles(R.AUTHORITY, R.CONSORTIUM_ADMIN), _roles_own(*SITE_STAFF)),
    Action.MANAGE_ALERTS: _roles(R.AUTHORITY),
    Action.RESPOND_ALERT: _any_of(_roles(R.AUTHORITY), _roles_own(*SITE_STAFF)),
    # Teaching: every staff member watches the library; clinicians and administrators
    # upload for their own institution; administrators withdraw their institution's
    # videos (the consortium administrator any).
    Action.VIEW_TEACHING: _roles(*STAFF),
    Action.PUBLISH_TEACHING: _any_of(
        _roles(R.CONSORTIUM_ADMIN), _roles_own(*CLINICAL, R.INSTITUTION_ADMIN)
    ),
    Action.MANAGE_TEACHING: _any_of(_roles(R.CONSORTIUM_ADMIN), _roles_own(R.INSTITUTION_ADMIN)),
    # Statistics: the authority and the consortium admin see every institution's figures
    # (and the district's own); an institution's administrator sees its own only.
    Action.VIEW_STATS: _any_of(
        _roles(R.AUTHORITY, R.CONSORTIUM_ADMIN), _roles_own(R.INSTITUTION_ADMIN)
    ),
    # Remote clinics: a specialist holds sessions for their own institution; a community
    # centre's doctors and nurses book their own patients, check them in and see them
    # through the visit. What a specialist reads of the patient comes through the visit.
    Action.HOLD_CLINIC: _roles_own(R.SPECIALIST),
    Action.BOOK_CLINIC: _roles_own(R.COMMUNITY_DOCTOR, R.NURSE),
    # Referrals: the sending institution's clinicians refer their own patients; the
    # receiving institution's clinicians decide, receive and complete.
    Action.REFER: _roles_own(*CLINICAL),
    # Partner systems (the third-party service portal): the consortium administrator
    # registers, changes and suspends them; the owning institution's administrator sees
    # its partners' usage and deliveries and rotates their keys and replays deliveries.
    Action.MANAGE_PARTNERS: _roles(R.CONSORTIUM_ADMIN),
    Action.VIEW_PARTNER: _any_of(_roles(R.CONSORTIUM_ADMIN), _roles_own(R.INSTITUTION_ADMIN)),
    Action.OPERATE_PARTNER: _any_of(_roles(R.CONSORTIUM_ADMIN), _roles_own(R.INSTITUTION_ADMIN)),
    # Supervision (远程医疗监管): the health authority and the consortium administrator see
    # every institution's rule checks and sampling reviews; an institution's administrator
    # its own (its violations, its review verdicts and comments). Only the authority draws
    # samples and records verdicts: its one write here, on its own review records.
    Action.VIEW_SUPERVISION: _any_of(
        _roles(R.AUTHORITY, R.CONSORTIUM_ADMIN), _roles_own(R.INSTITUTION_ADMIN)
    ),
    Action.REVIEW_SUPERVISION: _roles(R.AUTHORITY),
}

# --- partner systems: SMART v2 system scopes instead of roles -------------------------

# What a partner's action needs: a scope on a resource type with any of the permission
# letters given, and whether the target must be the partner's own institution (patient
# data, its referrals and bookings) or may be anywhere (the consortium's directory). The
# FHIR layer checks the exact interaction (`require_scope`); every other action is
# refused to a partner.
PARTNER_RULES: dict[Action, tuple[str, str, bool]] = {
    Action.LIST_PATIENTS: ("Patient", "s", True),
    Action.READ_PATIENT: ("Patient", "r", True),
    Action.REGISTER_PATIENT: ("Patient", "c", True),
    Action.WRITE_PATIENT: ("Patient", "u", True),
    Action.REFER: ("ServiceRequest", "crs", True),
    Action.BOOK_CLINIC: ("Appointment", "rs", True),
    Action.VIEW_CONSORTIUM: ("Organization", "rs", False),
    Action.VIEW_STAFF: ("Practitioner", "rs", True),
    Action.VIEW_TERMINALS: ("Location", "rs", True),
}


def _partner_allows(principal: Principal, action: Action, target: Target) -> bool:
    rule = PARTNER_RULES.get(action)
    if rule is None:
        return False
    resource, letters, own_only = rule
    if not any(scopes.allows(principal.scopes, resource, letter) for letter in letters):
        return False
    return not own_only or _own(principal, target)


def require_scope(principal: Principal, resource: str, interaction: str) -> None:
    """A partner's token must carry a scope for this interaction (c r u d s) on this
    resource type (403 otherwise); staff are governed by the rules table alone."""
    if principal.is_partner and not scopes.allows(principal.scopes, resource, interaction):
        raise PermissionDenied(
            "the access token's scopes do not allow this",
            code="partner.scope",
            details={"resource": resource, "interaction": interaction},
        )


# The actions on one patient that a relationship may grant.
PATIENT_ACTIONS = frozenset({Action.READ_PATIENT, Action.WRITE_PATIENT, Action.ADD_OPINION})


def allows(principal: Principal, action: Action, target: Target = ANY) -> bool:
    """True when the policy grants `action` on `target`; unknown actions are denied."""
    if principal.is_partner:
        return _partner_allows(principal, action, target)
    rule = RULES.get(action)
    return rule is not None and rule(principal, target)


def require(principal: Principal, action: Action, target: Target = ANY) -> None:
    """Raise `PermissionDenied` unless `allows`."""
    if not allows(principal, action, target):
        raise PermissionDenied(
            "you are not allowed to do this", code="access.denied", details={"action": action}
        )


# --- scope: the one way a query is restricted to what the caller may see -------------


@dataclass(frozen=True)
class Scope:
    """The institutions whose rows a caller may see for an action, and related patients.

    `institutions=None` is every institution; an empty set is none. `related_patients`
    are the id queries of the relationships that grant the action (patient actions only).
    """

    institutions: frozenset[int] | None
    related_patients: tuple[Select[Any], ...] = ()

    @property
    def everywhere(self) -> bool:
        return self.institutions is None

    @property
    def nothing(self) -> bool:
        return self.institutions == frozenset() and not self.related_patients

    def covers(self, *institution_ids: int | None) -> bool:
        """Whether any of these institutions is in scope."""
        if self.institutions is None:
            return True
        return any(i in self.institutions for i in institution_ids if i is not None)

    def where(self, column: Any) -> ColumnElement[bool]:
        """A condition on an institution column: the rows this scope covers."""
        if self.institutions is None:
            return true()
        if not self.institutions:
            return false()
        return cast("ColumnElement[bool]", column.in_(sorted(self.institutions)))

    def where_related(self, patient_id: Any) -> ColumnElement[bool]:
        """A condition on a patient-id column: patients related to the caller."""
        if not self.related_patients:
            return false()
        ids: Any = (
            self.related_patients[0]
            if len(self.related_patients) == 1
            else union(*self.related_patients).subquery().select()
        )
        return cast("ColumnElement[bool]", patient_id.in_(ids))


def scope(principal: Principal, action: Action) -> Scope:
    """Where `action` is granted: everywhere, the own institution, or nowhere.

    Patient actions add the relationships registered for them, so a list query built
    from the scope shows exactly the rows a single-object check would allow.
    """
    related = (
        ()
        if principal.is_partner  # a system takes part in no workflow as a person
        else tuple(r.patients(principal) for r in relationships_for(action))
    )
    if allows(principal, action, ANY):
        return Scope(None, related)
    if allows(principal, action, Target.of(principal.institution_id)):
        return Scope(frozenset({principal.institution_id}), related)
    return Scope(frozenset(), related)


# --- reach of a role, and who may grant it --------------------------------------------


class Reach(StrEnum):
    INSTITUTION = "institution"
    CONSORTIUM = "consortium"


def _probe(role: Role, institution_id: int) -> Principal:
    return Principal(
        user_id=0,
        username="",
        display_name="",
        institution_id=institution_id,
        roles=frozenset({role}),
    )


# Granted to every staff role alike, so they say nothing about a role's reach.
_COMMON = frozenset(a for a in Action if all(RULES[a](_probe(r, 1), ANY) for r in Role))


def reach(role: Role) -> Reach:
    """Read from the table: a role that may act on another institution reaches the consortium."""
    principal = _probe(role, 1)
    elsewhere = (ANY, Target.of(2))
    for action, rule in RULES.items():
        if action not in _COMMON and any(rule(principal, t) for t in elsewhere):
            return Reach.CONSORTIUM
    return Reach.INSTITUTION


def grantable_roles(
    principal: Principal, user_institution_id: int, user_id: int | None = None
) -> frozenset[Role]:
    """Roles `principal` may hand to a user of `user_institution_id`.

    The consortium administrator grants any role. An institution administrator grants,
    within its own institution and never to itself, only roles whose reach is that
    institution. Anyone else grants nothing.
    """
    if principal.has(R.CONSORTIUM_ADMIN):
        return frozenset(Role)
    if (
        principal.has(R.INSTITUTION_ADMIN)
        and principal.institution_id == user_institution_id
        and principal.user_id != user_id
    ):
        return frozenset(r for r in Role if reach(r) is Reach.INSTITUTION)
    return frozenset()


# --- the read-only health authority ---------------------------------------------------

# What the health authority may change: the command room and its surveillance decisions.
# Everything else it may only read; nothing it does writes on a patient's behalf.
AUTHORITY_WRITES = frozenset(
    {
        Action.COMMAND_EMERGENCY,
        Action.RESPOND_EMERGENCY,
        Action.REPORT_COUNTS,
        Action.MANAGE_ALERTS,
        Action.RESPOND_ALERT,
        Action.REVIEW_SUPERVISION,
    }
)


def reads_everywhere_writes_nothing(principal: Principal) -> bool:
    """The read-only district view: every institution's patients readable, none writable."""
    return allows(principal, Action.READ_PATIENT, ANY) and not any(
        allows(principal, a, t)
        for a in (Action.WRITE_PATIENT, Action.REGISTER_PATIENT)
        for t in (ANY, own(principal))
    )


# Actions that change data (the rest only read).
WRITES = frozenset(
    {
        Action.MANAGE_INSTITUTION,
        Action.MANAGE_STAFF,
        Action.MANAGE_TERMINALS,
        Action.REGISTER_PATIENT,
        Action.WRITE_PATIENT,
        Action.ADD_OPINION,
        Action.BREAK_GLASS,
        Action.COMMAND_EMERGENCY,
        Action.RESPOND_EMERGENCY,
        Action.REPORT_COUNTS,
        Action.MANAGE_ALERTS,
        Action.RESPOND_ALERT,
        Action.PUBLISH_TEACHING,
        Action.MANAGE_TEACHING,
        Action.MANAGE_ALARMS,
        Action.HOLD_CLINIC,
        Action.BOOK_CLINIC,
        Action.REFER,
        Action.MANAGE_PARTNERS,
        Action.OPERATE_PARTNER,
        Action.REVIEW_SUPERVISION,
    }
)


# --- relationships -------------------------------------------------------------------


@dataclass(frozen=True)
class Relationship:
    """A workflow link between a user and patients, granting some patient actions.

    `patients(principal)` is a query of the ids of the patients the principal is related
    to *now* (e.g. "member of a meeting about the patient that is not over"), so lists,
    searches and single reads all honour it, and it lapses when the workflow ends.
    """

    name: str
    grants: frozenset[Action]
    patients: Callable[[Principal], Select[Any]]


_relationships: dict[str, Relationship] = {}


def register_relationship(relationship: Relationship) -> Relationship:
    """Register (or replace, by name) a relationship; called explicitly at app start."""
    unknown = relationship.grants - PATIENT_ACTIONS
    if unknown:
        raise ValueError(f"a relationship grants patient actions only, not {sorted(unknown)}")
    _relationships[relationship.name] = relationship
    return relationship


def unregister_relationship(name: str) -> None:
    _relationships.pop(name, None)


def relationships_for(action: Action) -> list[Relationship]:
    return [r for r in _relationships.values() if action in r.grants]


async def related_to_patient(
    session: AsyncSession, principal: Principal, patient_id: int, action: Action
) -> bool:
    """Whether a registered relationship grants `action` on this patient now."""
    if principal.is_partner:
        return False
    for relationship in relationships_for(action):
        query = relationship.patients(principal).subquery()
        found = await session.scalar(select(literal(1)).where(query.c[0] == patient_id).limit(1))
        if found is not None:
            return True
    return False


async def require_patient(
    session: AsyncSession,
    principal: Principal,
    action: Action,
    *,
    patient_id: int,
    institutions: frozenset[int],
) -> None:
    """Patient access: institution scope or a registered relationship granting `action`.

    Outsiders get `NotFound`, the same answer as for a patient that does not exist, so
    the response reveals nothing about who is registered where; someone who may read
    the patient but not do `action` gets `PermissionDenied`.
    """
    target = Target(institutions)
    if allows(principal, action, target):
        return
    if await related_to_patient(session, principal, patient_id, action):
        return
    if action == Action.READ_PATIENT:
        raise NotFound("patient not found", code="patient.not_found")
    if not (
        allows(principal, Action.READ_PATIENT, target)
        or await related_to_patient(session, principal, patient_id, Action.READ_PATIENT)
    ):
        raise NotFound("patient not found", code="patient.not_found")
    raise PermissionDenied("read-only access to this patient", code="access.read_only")
