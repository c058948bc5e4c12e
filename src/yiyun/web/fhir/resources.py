"""Map our rows to FHIR R4 resources (pure: no I/O, no web imports).

Models come from `fhir.resources.R4B`: fhir.resources 8 ships R5 at its top level plus
R4B and STU3, and no separate R4 package. R4B (4.3.0) is wire-compatible with R4
(4.0.1) for every resource served here, so the JSON validates against both; the
CapabilityStatement declares 4.0.1, the version clients negotiate.

Ids: Organization = institution id, Practitioner and PractitionerRole = user id (one
role per staff member), Patient = patient id. Location has two sources, told apart by a
prefix: `dept-<department id>` for departments and `term-<terminal id>` for video
terminals (the consulting rooms where remote sessions are held).

The resident ID number never leaves the server in full: Patient carries only the masked
form (type text "masked", and `meta.security` MASKED).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.location import Location
from fhir.resources.R4B.organization import Organization
from fhir.resources.R4B.patient import Patient as FhirPatient
from fhir.resources.R4B.practitioner import Practitioner
from fhir.resources.R4B.practitionerrole import PractitionerRole

from yiyun.org.enums import InstitutionKind, Role
from yiyun.org.models import Department, Institution, Terminal, User
from yiyun.records.enums import GuardianRelation
from yiyun.records.schemas import PatientRead

FHIR_VERSION = "4.0.1"
FHIR_JSON = "application/fhir+json"

SYS_INSTITUTION = "urn:yiyun:institution-code"
SYS_INSTITUTION_KIND = "urn:yiyun:institution-kind"
SYS_INSTITUTION_LEVEL = "urn:yiyun:institution-level"
SYS_DEPARTMENT = "urn:yiyun:department-code:"  # + institution code (codes are per institution)
SYS_TERMINAL = "urn:yiyun:terminal-code"
SYS_LICENCE = "urn:yiyun:practitioner-licence"
SYS_STAFF_TITLE = "urn:yiyun:staff-title"
SYS_ROLE = "urn:yiyun:role"
SYS_MPI = "urn:yiyun:mpi"
SYS_MRN = "urn:yiyun:mrn:"  # + institution code
SYS_RESIDENT_ID = "urn:oid:1.2.156.112655.3.1"
SYS_GENDER = "http://hl7.org/fhir/administrative-gender"
SYS_ORG_TYPE = "http://terminology.hl7.org/CodeSystem/organization-type"
SYS_PRACTITIONER_ROLE = "http://terminology.hl7.org/CodeSystem/practitioner-role"
SYS_ID_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"
SYS_PHYSICAL_TYPE = "http://terminology.hl7.org/CodeSystem/location-physical-type"
SYS_ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
SYS_SECURITY = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"

DEPT_PREFIX = "dept-"
TERM_PREFIX = "term-"

ORG_TYPE: dict[InstitutionKind, tuple[str, str]] = {
    InstitutionKind.LEAD_HOSPITAL: ("prov", "Healthcare Provider"),
    InstitutionKind.HOSPITAL: ("prov", "Healthcare Provider"),
    InstitutionKind.COMMUNITY_HEALTH_CENTRE: ("prov", "Healthcare Provider"),
    InstitutionKind.HEALTH_AUTHORITY: ("govt", "Government"),
}
PRACTITIONER_ROLE: dict[Role, tuple[str, str]] = {
    Role.COMMUNITY_DOCTOR: ("doctor", "Doctor"),
    Role.SPECIALIST: ("doctor", "Doctor"),
    Role.NURSE: ("nurse", "Nurse"),
    Role.OPS_ENGINEER: ("ict", "ICT professional"),
}
GUARDIAN_ROLES: dict[GuardianRelation | None, list[tuple[str, str]]] = {
    GuardianRelation.PARENT: [("GUARD", "guardian"), ("PRN", "parent")],
    GuardianRelation.LEGAL_GUARDIAN: [("GUARD", "guardian")],
    GuardianRelation.OTHER: [("GUARD", "guardian")],
    None: [("GUARD", "guardian")],
}


@dataclass(frozen=True)
class SearchParam:
    """One supported search parameter: FHIR type, reference target, documentation."""

    type: str
    doc: str
    target: str | None = None


_ID = SearchParam("token", "logical id; several separated by commas")
_NAME = SearchParam("string", "starts with (case-insensitive); :exact and :contains")
SEARCH_PARAMS: dict[str, dict[str, SearchParam]] = {
    "Organization": {
        "_id": _ID,
        "name": SearchParam("string", "name or English alias; :exact and :contains"),
        "identifier": SearchParam("token", f"institution code ({SYS_INSTITUTION})"),
        "type": SearchParam("token", "institution kind or level, or organization-type code"),
        "partof": SearchParam("reference", "parent institution", "Organization"),
        "active": SearchParam("token", "true or false"),
    },
    "Location": {
        "_id": SearchParam("token", "dept-<id> (department) or term-<id> (terminal)"),
        "name": SearchParam("string", "name or English alias; :exact and :contains"),
        "identifier": SearchParam("token", "department code or terminal code"),
        "organization": SearchParam("reference", "managing institution", "Organization"),
        "status": SearchParam("token", "active or inactive"),
    },
    "Practitioner": {
        "_id": _ID,
        "name": _NAME,
        "identifier": SearchParam("token", f"practising licence number ({SYS_LICENCE})"),
        "active": SearchParam("token", "true or false"),
    },
    "PractitionerRole": {
        "_id": _ID,
        "practitioner": SearchParam("reference", "the staff member", "Practitioner"),
        "organization": SearchParam("reference", "employing institution", "Organization"),
        "role": SearchParam("token", f"role ({SYS_ROLE} or practitioner-role code)"),
        "specialty": SearchParam("token", "specialty text, exact"),
        "active": SearchParam("token", "true or false"),
    },
    "Communication": {
        "_id": _ID,
        "subject": SearchParam("reference", "the patient record it is linked to", "Patient"),
        "status": SearchParam("token", "in-progress, completed or stopped"),
    },
    "Patient": {
        "_id": _ID,
        "name": _NAME,
        "identifier": SearchParam(
            "token",
            f"MPI ({SYS_MPI}), record number ({SYS_MRN}<institution code>) or full resident "
            f"ID number ({SYS_RESIDENT_ID}); prefer POST _search for ID numbers",
        ),
        "birthdate": SearchParam("date", "eq, ne, lt, le, gt, ge, sa, eb; YYYY[-MM[-DD]]"),
        "gender": SearchParam("token", "male, female or unknown"),
        "organization": SearchParam("reference", "home institution", "Organization"),
    },
}


def _meta(updated_at: datetime | None) -> dict[str, Any] | None:
    return {"lastUpdated": updated_at} if updated_at is not None else None


def _coding(system: str, code: str, display: str | None = None) -> dict[str, str]:
    return {"system": system, "code": code} | ({"display": display} if display else {})


def _ref(resource_type: str, ident: int | str) -> dict[str, str]:
    return {"reference": f"{resource_type}/{ident}"}


def organization(inst: Institution) -> Organization:
    std_code, std_display = ORG_TYPE[inst.kind]
    return Organization(
        id=str(inst.id),
        meta=_meta(inst.updated_at),
        identifier=[{"use": "official", "system": SYS_INSTITUTION, "value": inst.code}],
        active=inst.active,
        type=[
            {
                "coding": [
                    _coding(SYS_INSTITUTION_KIND, inst.kind.value),
                    _coding(SYS_ORG_TYPE, std_code, std_display),
                ]
            },
            {"coding": [_coding(SYS_INSTITUTION_LEVEL, inst.level.value)]},
        ],
        name=inst.name,
        alias=[inst.name_en] if inst.name_en else None,
        telecom=[{"system": "phone", "value": inst.phone, "use": "work"}] if inst.phone else None,
        address=[{"text": inst.address}] if inst.address else None,
        partOf=_ref("Organization", inst.parent_id) if inst.parent_id else None,
    )


def department_location(dept: Department, institution_code: str) -> Location:
    return Location(
        id=f"{DEPT_PREFIX}{dept.id}",
        meta=_meta(dept.updated_at),
        identifier=[{"system": SYS_DEPARTMENT + institution_code, "value": dept.code}],
        status="active" if dept.active else "inactive",
        name=dept.name,
        alias=[dept.name_en] if dept.name_en else None,
        mode="instance",
        type=[{"text": "department"}],
        physicalType={"coding": [_coding(SYS_PHYSICAL_TYPE, "wa", "Ward")]},
        managingOrganization=_ref("Organization", dept.institution_id),
    )


def terminal_location(term: Terminal) -> Location:
    return Location(
        id=f"{TERM_PREFIX}{term.id}",
        meta=_meta(term.updated_at),
        identifier=[{"system": SYS_TERMINAL, "value": term.code}],
        status="active" if term.active else "inactive",
        name=term.name,
        mode="instance",
        type=[{"text": f"video terminal ({term.kind.value})"}],
        physicalType={"coding": [_coding(SYS_PHYSICAL_TYPE, "ro", "Room")]},
        managingOrganization=_ref("Organization", term.institution_id),
    )


def practitioner(user: User) -> Practitioner:
    qualification: list[dict[str, Any]] = []
    if user.licence_no:
        licence: dict[str, Any] = {
            "identifier": [{"system": SYS_LICENCE, "value": user.licence_no}],
            "code": {"text": "practising licence"},
        }
        if user.licence_valid_until is not None:
            licence["period"] = {"end": user.licence_valid_until.isoformat()}
        qualification.append(licence)
    if user.title is not None:
        qualification.append({"code": {"coding": [_coding(SYS_STAFF_TITLE, user.title.value)]}})
    return Practitioner(
        id=str(user.id),
        meta=_meta(user.updated_at),
        identifier=[{"use": "official", "system": SYS_LICENCE, "value": user.licence_no}]
        if user.licence_no
        else None,
        active=user.active,
        name=[{"use": "official", "text": user.display_name}],
        qualification=qualification or None,
    )


def practitioner_role(user: User) -> PractitionerRole:
    codes = []
    for role in sorted(user.role_set):
        coding = [_coding(SYS_ROLE, role.value)]
        if role in PRACTITIONER_ROLE:
            coding.append(_coding(SYS_PRACTITIONER_ROLE, *PRACTITIONER_ROLE[role]))
        codes.append({"coding": coding})
    return PractitionerRole(
        id=str(user.id),
        meta=_meta(user.updated_at),
        active=user.active,
        practitioner=_ref("Practitioner", user.id),
        organization=_ref("Organization", user.institution_id),
        code=codes or None,
        specialty=[{"text": s} for s in user.specialties or []] or None,
        location=[_ref("Location", f"{DEPT_PREFIX}{user.department_id}")]
        if user.department_id
        else None,
    )


def patient(
    read: PatientRead, *, institution_codes: dict[int, str], updated_at: datetime | None = None
) -> FhirPatient:
    """A Patient from the scoped, masked read model (it never holds the full ID number)."""
    identifiers: list[dict[str, Any]] = [
        {
            "use": "usual",
            "system": SYS_MPI,
            "value": read.mpi,
            "type": {"coding": [_coding(SYS_ID_TYPE, "PI", "Patient internal identifier")]},
        }
    ]
    for rec in read.record_numbers:
        code = institution_codes.get(rec.institution_id)
        if code is None:
            continue
        identifiers.append(
            {
                "use": "secondary",
                "system": SYS_MRN + code,
                "value": rec.record_no,
                "type": {"coding": [_coding(SYS_ID_TYPE, "MR", "Medical record number")]},
                "assigner": _ref("Organization", rec.institution_id),
            }
        )
    meta = _meta(updated_at) or {}
    if read.id_number_masked:  # shown, never matched on: `use` is left out on purpose
        identifiers.append(
            {
                "system": SYS_RESIDENT_ID,
                "value": read.id_number_masked,
                "type": {
                    "coding": [_coding(SYS_ID_TYPE, "NI", "National unique individual identifier")],
                    "text": "masked",
                },
            }
        )
        meta["security"] = [_coding(SYS_SECURITY, "MASKED", "masked")]
    contact = None
    if read.guardian is not None:
        relationship = [
            {"coding": [_coding(SYS_ROLE_CODE, code, display)]}
            for code, display in GUARDIAN_ROLES[read.guardian.relation]
        ]
        contact = [{"relationship": relationship, "name": {"text": read.guardian.name}}]
    return FhirPatient(
        id=str(read.id),
        meta=meta or None,
        identifier=identifiers,
        name=[{"use": "official", "text": read.name}],
        gender=read.sex.value,
        birthDate=read.birth_on.isoformat(),
        address=[{"text": read.address}] if read.address else None,
        managingOrganization=_ref("Organization", read.home_institution_id),
        contact=contact,
    )


def capability_statement(*, base_url: str, version: str, today: date) -> CapabilityStatement:
    resources = [
        {
            "type": rtype,
            "profile": f"http://hl7.org/fhir/StructureDefinition/{rtype}",
            "interaction": [{"code": "read"}, {"code": "search-type"}],
            "versioning": "no-version",
            "readHistory": False,
            "updateCreate": False,
            "searchParam": [
                {"name": name, "type": param.type, "documentation": param.doc}
                for name, param in params.items()
            ],
        }
        for rtype, params in SEARCH_PARAMS.items()
    ]
    for entry in resources:  # partner systems (and clinicians) register patients
        if entry["type"] == "Patient":
            entry["interaction"] = [{"code": "create"}, *entry["interaction"]]  # type: ignore[misc]
            entry["conditionalCreate"] = True
    resources.append(
        {
            "type": "ServiceRequest",
            "profile": "http://hl7.org/fhir/StructureDefinition/ServiceRequest",
            "interaction": [{"code": "create"}, {"code": "read"}, {"code": "search-type"}],
            "versioning": "no-version",
            "searchParam": [
                {"name": "patient", "type": "reference", "documentation": "Patient/<id>"},
                {"name": "status", "type": "token", "documentation": "FHIR request status"},
            ],
        }
    )
    origin = base_url.removesuffix("/fhir/r4")
    return CapabilityStatement(
        status="active",
        date=today.isoformat(),
        publisher="Yiyun",
        kind="instance",
        software={"name": "Yiyun", "version": version},
        implementation={"description": "Yiyun regional telemedicine platform", "url": base_url},
        fhirVersion=FHIR_VERSION,
        format=["json", FHIR_JSON],
        rest=[
            {
                "mode": "server",
                "documentation": "Read and search. Paging: _count (at most 100) and _offset. "
                "Unknown parameters are ignored unless Prefer: handling=strict.",
                "security": {
                    "cors": False,
                    "service": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/"
                                    "restful-security-service",
                                    "code": "SMART-on-FHIR",
                                }
                            ]
                        }
                    ],
                    "extension": [
                        {
                            "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/"
                            "oauth-uris",
                            "extension": [{"url": "token", "valueUri": f"{origin}/oauth/token"}],
                        }
                    ],
                    "description": "Bearer token (Authorization: Bearer <token>): a staff "
                    "token, or a partner system's SMART Backend Services token "
                    "(/.well-known/smart-configuration) limited to its scopes and "
                    "institution. Results are scoped to the caller's institution and "
                    "every patient read or search is audited.",
                },
                "resource": resources,
            }
        ],
    )
