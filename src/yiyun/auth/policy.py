"""The one access policy: role + institution + relationship. Deny by default.

Every route asks this module. Rules are a table from `Action` to a predicate over the
principal and the target's institution scope. Patient access additionally consults
*relationship providers*: later domains (consultations, referrals) register a function
answering "does this user take part in something involving this patient?".
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.auth.principal import Principal
from yiyun.core.errors import NotFound, PermissionDenied
from yiyun.org.enums import Role

R = Role


class Action(StrEnum):
    VIEW_CONSORTIUM = "consortium.view"
    MANAGE_INSTITUTION = "institution.manage"
    VIEW_STAFF = "staff.view"
    MANAGE_STAFF = "staff.manage"
    VIEW_TERMINALS = "terminal.view"
    MANAGE_TERMINALS = "terminal.manage"
    LIST_PATIENTS = "patient.list"
    REGISTER_PATIENT = "patient.register"
    READ_PATIENT = "patient.read"
    WRITE_PATIENT = "patient.write"
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


@dataclass(frozen=True)
class Target:
    """What is acted on: the institution(s) it belongs to; None means consortium-wide."""

    institutions: frozenset[int] | None = None

    @classmethod
    def of(cls, *institution_ids: int) -> Target:
        return cls(frozenset(institution_ids))


ANY = Target()
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
PATIENT_WRITERS = (*CLINICAL, R.INSTITUTION_ADMIN)

RULES: dict[Action, Rule] = {
    Action.VIEW_CONSORTIUM: _roles(*STAFF),
    # Operations see every call's quality figures (no content, no patient data).
    Action.VIEW_CALL_QUALITY: _roles(R.OPS_ENGINEER, R.CONSORTIUM_ADMIN),
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
    Action.MANAGE_TERMINALS: _any_of(
        _roles(R.CONSORTIUM_ADMIN, R.OPS_ENGINEER), _roles_own(R.INSTITUTION_ADMIN)
    ),
    # Listing is scoped by query (see `patient_scope`); this says who may list at all.
    Action.LIST_PATIENTS: _roles(*PATIENT_WRITERS, R.AUTHORITY, R.CONSORTIUM_ADMIN),
    Action.REGISTER_PATIENT: _any_of(_roles(R.CONSORTIUM_ADMIN), _roles_own(*PATIENT_WRITERS)),
    Action.READ_PATIENT: _any_of(
        _roles(R.AUTHORITY, R.CONSORTIUM_ADMIN), _roles_own(*PATIENT_WRITERS)
    ),
    Action.WRITE_PATIENT: _any_of(_roles(R.CONSORTIUM_ADMIN), _roles_own(*PATIENT_WRITERS)),
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
        _roles(R.AUTHORITY, R.CONSORTIUM_ADMIN), _roles_own(*PATIENT_WRITERS)
    ),
    Action.REPORT_COUNTS: _any_of(
        _roles(R.AUTHORITY, R.CONSORTIUM_ADMIN), _roles_own(*PATIENT_WRITERS)
    ),
    Action.MANAGE_ALERTS: _roles(R.AUTHORITY),
    Action.RESPOND_ALERT: _any_of(_roles(R.AUTHORITY), _roles_own(*PATIENT_WRITERS)),
}


def allows(principal: Principal, action: Action, target: Target = ANY) -> bool:
    """True when the policy grants `action` on `target`; unknown actions are denied."""
    rule = RULES.get(action)
    return rule is not None and rule(principal, target)


def require(principal: Principal, action: Action, target: Target = ANY) -> None:
    """Raise `PermissionDenied` unless `allows`."""
    if not allows(principal, action, target):
        raise PermissionDenied(
            "you are not allowed to do this", code="access.denied", details={"action": action}
        )


def sees_all_institutions(principal: Principal, action: Action) -> bool:
    """Whether `action` is granted consortium-wide (not only for the own institution)."""
    return allows(principal, action, ANY)


# --- relationships -------------------------------------------------------------------

RelationshipProvider = Callable[[AsyncSession, Principal, int], Awaitable[bool]]
_providers: list[RelationshipProvider] = []


def register_relationship(provider: RelationshipProvider) -> RelationshipProvider:
    """Register a provider (e.g. "takes part in a consultation about the patient")."""
    if provider not in _providers:
        _providers.append(provider)
    return provider


async def related_to_patient(session: AsyncSession, principal: Principal, patient_id: int) -> bool:
    for provider in _providers:
        if await provider(session, principal, patient_id):
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
    """Patient access: institution scope or a registered relationship.

    Outsiders get `NotFound`, the same answer as for a patient that does not exist, so
    the response reveals nothing about who is registered where.
    """
    if allows(principal, action, Target(institutions)):
        return
    if action == Action.READ_PATIENT and await related_to_patient(session, principal, patient_id):
        return
    if action == Action.READ_PATIENT or not allows(
        principal, Action.READ_PATIENT, Target(institutions)
    ):
        raise NotFound("patient not found", code="patient.not_found")
    raise PermissionDenied("read-only access to this patient", code="access.read_only")
