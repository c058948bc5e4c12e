"""FHIR search parameters as SQL: one filter per parameter per table, plus paging.

Each filter turns one (escaped) value into a clause; `clauses()` ORs the values of an
occurrence and ANDs the occurrences. A value that cannot name anything of ours (an id of
another resource type, an unknown code) matches nothing rather than failing. Terminals
and staff are scoped as in the REST API: the caller's own institution unless the role
sees the whole consortium.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from fhir.resources.R4B.resource import Resource
from sqlalchemy import Boolean, ColumnElement, and_, false, func, not_, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from yiyun.auth import policy
from yiyun.auth.policy import Action
from yiyun.auth.principal import Principal
from yiyun.core import textsearch
from yiyun.org.enums import InstitutionKind, InstitutionLevel, Role
from yiyun.org.models import Department, Institution, Terminal, User, UserRole
from yiyun.records.enums import Sex
from yiyun.records.models import Patient, PatientRecordNo
from yiyun.web.fhir import resources as res
from yiyun.web.fhir.bundle import (
    SearchRequest,
    parse_bool,
    parse_date,
    parse_id,
    parse_reference,
    parse_token,
    unescape,
)

Clause = ColumnElement[bool]
ValueFilter = Callable[[str | None, str], Clause]  # (modifier, one escaped value) -> clause
Codes = Mapping[int, str]  # institution id -> code, for identifier systems


class JsonArrayHas(FunctionElement[bool]):
    """`json_array_has(column, text)`: the JSON array column holds the string."""

    type = Boolean()
    name = "json_array_has"
    inherit_cache = True


@compiles(JsonArrayHas)
def _json_array_has_sqlite(element: JsonArrayHas, compiler: SQLCompiler, **kw: Any) -> str:
    column, value = (compiler.process(c, **kw) for c in element.clauses)
    # Both parts are compiled SQL (a column and a bound parameter), never raw input.
    return f"EXISTS (SELECT 1 FROM json_each({column}) WHERE json_each.value = {value})"  # noqa: S608


@compiles(JsonArrayHas, "postgresql")
def _json_array_has_pg(element: JsonArrayHas, compiler: SQLCompiler, **kw: Any) -> str:
    column, value = (compiler.process(c, **kw) for c in element.clauses)
    return f"CAST({column} AS JSONB) @> jsonb_build_array(CAST({value} AS TEXT))"


# --- value filters -----------------------------------------------------------------------


def _string(modifier: str | None, raw: str, *columns: Any) -> Clause:
    value = unescape(raw)
    if modifier == "exact":
        return or_(false(), *(c == value for c in columns))
    if modifier == "contains":
        return textsearch.contains(value, *columns)
    return textsearch.starts_with(value, *columns)


def _token(raw: str, systems: Mapping[str, Any]) -> Clause:
    token = parse_token(raw)
    columns = [col for system, col in systems.items() if token.in_system(system)]
    if token.code is None:
        return true() if columns else false()
    return or_(false(), *(col == token.code for col in columns))


def _id(raw: str, column: Any, prefix: str = "") -> Clause:
    value = unescape(raw)
    ident = parse_id(value[len(prefix) :]) if value.startswith(prefix) else None
    return false() if ident is None else column == ident


def _ref(raw: str, column: Any, target: str = "Organization") -> Clause:
    ident = parse_reference(raw, target)
    return false() if ident is None else column == ident


def _bool(raw: str, column: Any) -> Clause:
    clause: Clause = column.is_(parse_bool(raw))
    return clause


def _status(raw: str, column: Any) -> Clause:
    code = parse_token(raw).code
    return column.is_(code == "active") if code in ("active", "inactive") else false()


def _date(raw: str, column: Any) -> Clause:
    q = parse_date(raw)
    clauses: dict[str, Clause] = {
        "eq": column.between(q.start, q.end),
        "ne": not_(column.between(q.start, q.end)),
        "lt": column < q.start,
        "eb": column < q.start,
        "le": column <= q.end,
        "gt": column > q.end,
        "sa": column > q.end,
        "ge": column >= q.start,
    }
    return clauses[q.prefix]


def _codes(raw: str, options: Iterable[tuple[str, str, Any]]) -> list[Any]:
    """Members whose (system, code) the token names: options are (system, code, member)."""
    token = parse_token(raw)
    return sorted(
        {m for system, code, m in options if token.in_system(system) and token.code in (None, code)}
    )


def _org_type(_m: str | None, raw: str) -> Clause:
    kinds = _codes(
        raw,
        [(res.SYS_INSTITUTION_KIND, k.value, k) for k in InstitutionKind]
        + [(res.SYS_ORG_TYPE, c, k) for k, (c, _) in res.ORG_TYPE.items()],
    )
    levels = _codes(raw, [(res.SYS_INSTITUTION_LEVEL, lv.value, lv) for lv in InstitutionLevel])
    return or_(Institution.kind.in_(kinds), Institution.level.in_(levels))


def _coded_identifier(raw: str, prefix: str, code_col: Any, inst_col: Any) -> Clause:
    """Identifiers whose system is `prefix` + institution code (department, record no)."""
    token = parse_token(raw)
    if token.system is None or not token.system.startswith(prefix):
        return false()
    inst = select(Institution.id).where(Institution.code == token.system[len(prefix) :])
    clause = inst_col.in_(inst)
    return clause if token.code is None else and_(clause, code_col == token.code)


def _dept_identifier(_m: str | None, raw: str) -> Clause:
    token = parse_token(raw)
    if token.system is None:
        return Department.code == token.code
    return _coded_identifier(raw, res.SYS_DEPARTMENT, Department.code, Department.institution_id)


def _role(_m: str | None, raw: str) -> Clause:
    roles = _codes(
        raw,
        [(res.SYS_ROLE, r.value, r) for r in Role]
        + [(res.SYS_PRACTITIONER_ROLE, c, r) for r, (c, _) in res.PRACTITIONER_ROLE.items()],
    )
    return User.id.in_(select(UserRole.user_id).where(UserRole.role.in_(roles)))


def _patient_identifier(_m: str | None, raw: str) -> Clause:
    token = parse_token(raw)
    if token.system == res.SYS_RESIDENT_ID:  # full numbers were swapped for MPIs already
        return Patient.id_number_hash.is_not(None) if token.code is None else false()
    if token.system is not None and token.system.startswith(res.SYS_MRN):
        numbers = _coded_identifier(
            raw, res.SYS_MRN, PatientRecordNo.record_no, PatientRecordNo.institution_id
        )
        return Patient.id.in_(select(PatientRecordNo.patient_id).where(numbers))
    clauses = []
    if token.in_system(res.SYS_MPI):
        clauses.append(true() if token.code is None else Patient.mpi == token.code.upper())
    if token.system is None:
        clauses.append(
            Patient.id.in_(
                select(PatientRecordNo.patient_id).where(PatientRecordNo.record_no == token.code)
            )
        )
    return or_(false(), *clauses)


def _gender(_m: str | None, raw: str) -> Clause:
    return Patient.sex.in_(_codes(raw, [(res.SYS_GENDER, s.value, s) for s in Sex]))


ORGANIZATION: dict[str, ValueFilter] = {
    "_id": lambda m, v: _id(v, Institution.id),
    "name": lambda m, v: _string(m, v, Institution.name, Institution.name_en),
    "identifier": lambda m, v: _token(v, {res.SYS_INSTITUTION: Institution.code}),
    "type": _org_type,
    "partof": lambda m, v: _ref(v, Institution.parent_id),
    "active": lambda m, v: _bool(v, Institution.active),
}
DEPARTMENT: dict[str, ValueFilter] = {
    "_id": lambda m, v: _id(v, Department.id, res.DEPT_PREFIX),
    "name": lambda m, v: _string(m, v, Department.name, Department.name_en),
    "identifier": _dept_identifier,
    "organization": lambda m, v: _ref(v, Department.institution_id),
    "status": lambda m, v: _status(v, Department.active),
}
TERMINAL: dict[str, ValueFilter] = {
    "_id": lambda m, v: _id(v, Terminal.id, res.TERM_PREFIX),
    "name": lambda m, v: _string(m, v, Terminal.name),
    "identifier": lambda m, v: _token(v, {res.SYS_TERMINAL: Terminal.code}),
    "organization": lambda m, v: _ref(v, Terminal.institution_id),
    "status": lambda m, v: _status(v, Terminal.active),
}
PRACTITIONER: dict[str, ValueFilter] = {
    "_id": lambda m, v: _id(v, User.id),
    "name": lambda m, v: _string(m, v, User.display_name),
    "identifier": lambda m, v: _token(v, {res.SYS_LICENCE: User.licence_no}),
    "active": lambda m, v: _bool(v, User.active),
}
PRACTITIONER_ROLE: dict[str, ValueFilter] = {
    "_id": lambda m, v: _id(v, User.id),
    "practitioner": lambda m, v: _ref(v, User.id, "Practitioner"),
    "organization": lambda m, v: _ref(v, User.institution_id),
    "role": _role,
    "specialty": lambda m, v: JsonArrayHas(User.specialties, parse_token(v).code or ""),
    "active": lambda m, v: _bool(v, User.active),
}
PATIENT: dict[str, ValueFilter] = {
    "_id": lambda m, v: _id(v, Patient.id),
    "name": lambda m, v: _string(m, v, Patient.name),
    "identifier": _patient_identifier,
    "birthdate": lambda m, v: _date(v, Patient.birth_on),
    "gender": _gender,
    "organization": lambda m, v: _ref(v, Patient.home_institution_id),
}


def clauses(filters: Mapping[str, ValueFilter], request: SearchRequest) -> list[Clause]:
    """Occurrences AND together; the comma-separated values of one occurrence OR."""
    return [
        or_(false(), *(filters[c.name](c.modifier, v) for v in c.values)) for c in request.criteria
    ]


# --- tables -------------------------------------------------------------------


def _scoped(action: Action, column: Any) -> Callable[[Principal], Clause | None]:
    def scoped(p: Principal) -> Clause | None:
        return policy.scope(p, action).where(column)

    return scoped


@dataclass(frozen=True)
class Table:
    """One table behind a FHIR type: its filters, row scope and mapping."""

    model: Any
    filters: Mapping[str, ValueFilter]
    to_resource: Callable[[Any, Codes], Resource]
    scope: Callable[[Principal], Clause | None] = lambda _p: None


_STAFF_SCOPE = _scoped(Action.VIEW_STAFF, User.institution_id)
_TERMINAL_SCOPE = _scoped(Action.VIEW_TERMINALS, Terminal.institution_id)


def _department(row: Department, codes: Codes) -> Resource:
    return res.department_location(row, codes.get(row.institution_id, ""))


TABLES: dict[str, tuple[Action | None, tuple[Table, ...]]] = {
    "Organization": (
        Action.VIEW_CONSORTIUM,
        (Table(Institution, ORGANIZATION, lambda r, _c: res.organization(r)),),
    ),
    "Location": (
        Action.VIEW_CONSORTIUM,
        (
            Table(Department, DEPARTMENT, _department),
            Table(Terminal, TERMINAL, lambda r, _c: res.terminal_location(r), _TERMINAL_SCOPE),
        ),
    ),
    "Practitioner": (
        None,
        (Table(User, PRACTITIONER, lambda r, _c: res.practitioner(r), _STAFF_SCOPE),),
    ),
    "PractitionerRole": (
        None,
        (Table(User, PRACTITIONER_ROLE, lambda r, _c: res.practitioner_role(r), _STAFF_SCOPE),),
    ),
}


async def institution_codes(session: AsyncSession, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i}
    if not wanted:
        return {}
    rows = await session.execute(
        select(Institution.id, Institution.code).where(Institution.id.in_(wanted))
    )
    return {ident: code for ident, code in rows}


async def count(session: AsyncSession, query: Any) -> int:
    return int(await session.scalar(select(func.count()).select_from(query.subquery())) or 0)


async def search_tables(
    session: AsyncSession, principal: Principal, tables: tuple[Table, ...], request: SearchRequest
) -> tuple[list[Resource], int]:
    """Page through the tables one after another, as if they were one ordered list."""
    plans = []
    for table in tables:
        query = select(table.model).where(*clauses(table.filters, request))
        scope = table.scope(principal)
        if scope is not None:
            query = query.where(scope)
        plans.append((table, query.order_by(table.model.id), await count(session, query)))
    rows: list[tuple[Table, Any]] = []
    offset, room = request.paging.offset, request.paging.count
    for table, query, total in plans:
        if room <= 0:
            break
        if offset >= total:
            offset -= total
            continue
        batch = (await session.scalars(query.offset(offset).limit(room))).all()
        rows += [(table, row) for row in batch]
        room, offset = room - len(batch), 0
    codes = await institution_codes(session, (getattr(r, "institution_id", None) for _, r in rows))
    return [t.to_resource(r, codes) for t, r in rows], sum(total for *_, total in plans)
