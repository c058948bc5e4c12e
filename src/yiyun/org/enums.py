"""Enumerations of the consortium model (DESIGN.md §1)."""

from __future__ import annotations

from enum import StrEnum


class InstitutionKind(StrEnum):
    LEAD_HOSPITAL = "lead_hospital"
    HOSPITAL = "hospital"
    COMMUNITY_HEALTH_CENTRE = "community_health_centre"
    HEALTH_AUTHORITY = "health_authority"


class InstitutionLevel(StrEnum):
    """Chinese hospital grading (等级): tertiary/secondary/primary with A/B grades."""

    TERTIARY_A = "tertiary_a"
    TERTIARY_B = "tertiary_b"
    SECONDARY_A = "secondary_a"
    SECONDARY_B = "secondary_b"
    PRIMARY = "primary"
    UNGRADED = "ungraded"


class Role(StrEnum):
    CONSORTIUM_ADMIN = "consortium_admin"
    INSTITUTION_ADMIN = "institution_admin"
    COMMUNITY_DOCTOR = "community_doctor"
    SPECIALIST = "specialist"
    NURSE = "nurse"
    DISPATCHER = "dispatcher"
    AUTHORITY = "authority"
    OPS_ENGINEER = "ops_engineer"


CLINICAL_ROLES = frozenset({Role.COMMUNITY_DOCTOR, Role.SPECIALIST, Role.NURSE})


class StaffTitle(StrEnum):
    """Professional titles (职称)."""

    CHIEF_PHYSICIAN = "chief_physician"
    ASSOCIATE_CHIEF_PHYSICIAN = "associate_chief_physician"
    ATTENDING_PHYSICIAN = "attending_physician"
    RESIDENT_PHYSICIAN = "resident_physician"
    NURSE_IN_CHARGE = "nurse_in_charge"
    NURSE = "nurse"
    ENGINEER = "engineer"
    ADMINISTRATOR = "administrator"


class TerminalKind(StrEnum):
    ROOM_SYSTEM = "room_system"
    PC = "pc"
    LARGE_SCREEN = "large_screen"


class TerminalStatus(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"
    FAULT = "fault"
