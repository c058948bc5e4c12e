"""Supervision use cases: rule counts per institution, violations, sampling review.

Scope: the health authority and the consortium administrator see every institution; an
institution's administrator its own (`Action.VIEW_SUPERVISION`). Only the authority draws
samples and records verdicts (`Action.REVIEW_SUPERVISION`); each is audited.
"""

from __future__ import annotations

import random
import secrets
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from yiyun.audit import service as audit
from yiyun.audit.service import Actor
from yiyun.auth.policy import Action, Scope, Target, require, scope
from yiyun.auth.principal import Principal
from yiyun.clinics.models import ClinicVisit, VisitState
from yiyun.consult.models import Consult, ConsultState
from yiyun.core.clock import DISTRICT_TZ, now
from yiyun.core.errors import Conflict, InvalidInput, NotFound
from yiyun.org.models import Institution
from yiyun.supervision import rules
from yiyun.supervision.config import SupervisionSettings
from yiyun.supervision.models import CaseKind, Review, Sample, Verdict

MAX_DAYS = 366


def supervision_scope(principal: Principal, institution_id: int | None = None) -> Scope:
    """Where the caller may look; narrowed to one institution when asked for (403 elsewhere)."""
    require(principal, Action.VIEW_SUPERVISION, Target.of(principal.institution_id))
    if institution_id is not None:
        require(principal, Action.VIEW_SUPERVISION, Target.of(institution_id))
        return Scope(frozenset({institution_id}))
    return scope(principal, Action.VIEW_SUPERVISION)


def window(
    first: date | None, last: date | None, limits: SupervisionSettings, at: datetime | None = None
) -> rules.Window:
    """District days `first..last` (default: the last 30) as a UTC window; 422 if reversed
    or longer than a year."""
    at = at or now()
    last = last or at.astimezone(DISTRICT_TZ).date()
    first = first or last - timedelta(days=29)
    if first > last:
        raise InvalidInput(
            "the period ends before it starts",
            code="supervision.period_reversed",
            details={"first": first.isoformat(), "last": last.isoformat()},
        )
    if (last - first).days + 1 > MAX_DAYS:
        raise InvalidInput(
            "the period is longer than a year",
            code="supervision.period_too_long",
            details={"days": (last - first).days + 1, "max": MAX_DAYS},
        )
    start = datetime.combine(first, time(), DISTRICT_TZ)
    end = datetime.combine(last + timedelta(days=1), time(), DISTRICT_TZ)
    return rules.Window(start=start, end=end, now=at, limits=limits)


def rule_or_404(code: str) -> rules.Rule:
    rule = rules.get(code)
    if rule is None:
        raise NotFound("no such supervision rule", code="supervision.unknown_rule")
    return rule


async def violations(
    session: AsyncSession, sc: Scope, w: rules.Window, rule: rules.Rule
) -> list[rules.Violation]:
    """The rule's violations in the window, in the caller's scope, oldest first."""
    found = await rule.find(session, w)
    return [v for v in found if sc.covers(v.institution_id)]


@dataclass(frozen=True)
class Summary:
    """Counts per rule, and per rule and institution (only institutions with any)."""

    totals: dict[str, int]
    by_institution: dict[int, Counter[str]]


async def summary(session: AsyncSession, sc: Scope, w: rules.Window) -> Summary:
    totals: dict[str, int] = {}
    by_inst: dict[int, Counter[str]] = {}
    for code, rule in rules.RULES.items():
        found = await violations(session, sc, w, rule)
        totals[code] = len(found)
        for v in found:
            by_inst.setdefault(v.institution_id or 0, Counter())[code] += 1
    return Summary(totals, by_inst)


async def institution_names(session: AsyncSession, ids: set[int]) -> dict[int, tuple[str, str]]:
    if not ids:
        return {}
    rows = await session.execute(
        select(Institution.id, Institution.name, Institution.name_en).where(
            Institution.id.in_(sorted(ids))
        )
    )
    return {i: (zh, en) for i, zh, en in rows.all()}


async def audit_look(
    session: AsyncSession, actor: Actor, action: str, details: dict[str, Any]
) -> None:
    """The authority's looks at supervision lists are audited (they name cases)."""
    await audit.record(
        session=session, actor=actor, action=action, entity_type="supervision", details=details
    )


async def look_at_rule(
    session: AsyncSession,
    principal: Principal,
    actor: Actor,
    code: str,
    days: tuple[date | None, date | None],
    institution_id: int | None,
    limits: SupervisionSettings,
) -> tuple[rules.Window, list[rules.Violation]]:
    """One rule's violations in the caller's scope and window (checked in that order), the
    look audited: the API's list and the page's drill-down both show this."""
    sc = supervision_scope(principal, institution_id)
    rule = rule_or_404(code)
    w = window(days[0], days[1], limits)
    found = await violations(session, sc, w, rule)
    await audit_look(
        session,
        actor,
        "supervision.violations",
        {"rule": code, "institution_id": institution_id, "count": len(found)},
    )
    return w, found


# --- sampling review (抽查) --------------------------------------------------------------


def _closed(kind: CaseKind, institution_id: int, w: rules.Window) -> Any:
    if kind is CaseKind.CONSULT:
        return select(Consult.id, Consult.closed_at).where(
            Consult.institution_id == institution_id,
            Consult.state == ConsultState.CLOSED.value,
            and_(Consult.closed_at >= w.start, Consult.closed_at < w.end),
        )
    return select(ClinicVisit.id, ClinicVisit.finished_at).where(
        ClinicVisit.institution_id == institution_id,
        ClinicVisit.state == VisitState.COMPLETED.value,
        and_(ClinicVisit.finished_at >= w.start, ClinicVisit.finished_at < w.end),
    )


async def draw(
    *,
    session: AsyncSession,
    principal: Principal,
    actor: Actor,
    kind: CaseKind,
    institution_id: int,
    w: rules.Window,
    size: int,
    seed: int | None = None,
) -> Sample:
    """Draw `size` closed cases of the institution in the window, uniformly without
    replacement (all of them if fewer); the seed is kept so the draw can be repeated."""
    require(principal, Action.REVIEW_SUPERVISION, Target.of(institution_id))
    if not 1 <= size <= w.limits.max_sample:
        raise InvalidInput(
            "the sample size is out of range",
            code="supervision.bad_size",
            details={"size": size, "max": w.limits.max_sample},
        )
    if await session.get(Institution, institution_id) is None:
        raise NotFound("institution not found", code="institution.not_found")
    query = _closed(kind, institution_id, w)
    rows = (await session.execute(query.order_by(query.selected_columns[0]))).all()
    if not rows:
        raise Conflict(
            "there is no closed case to sample in this period",
            code="supervision.nothing_to_sample",
            details={"kind": kind.value, "institution_id": institution_id},
        )
    seed = secrets.randbelow(2**31) if seed is None else seed
    picked = random.Random(seed).sample(rows, min(size, len(rows)))  # noqa: S311 (not secret)
    local = w.start.astimezone(DISTRICT_TZ).date()
    last = (w.end.astimezone(DISTRICT_TZ) - timedelta(days=1)).date()
    sample = Sample(
        kind=kind,
        institution_id=institution_id,
        first_day=local,
        last_day=last,
        size=len(picked),
        population=len(rows),
        seed=seed,
        drawn_by_id=principal.user_id,
        drawn_at=now(),
    )
    session.add(sample)
    await session.flush()
    for case_id, closed_at in sorted(picked):
        session.add(Review(sample_id=sample.id, case_id=case_id, case_closed_at=closed_at))
    await audit.record(
        session=session,
        actor=actor,
        action="supervision.sample",
        entity_type="supervision_sample",
        entity_id=sample.id,
        subject_institutions=frozenset({institution_id}),
        details={"kind": kind.value, "size": sample.size, "population": len(rows), "seed": seed},
    )
    return sample


async def samples(session: AsyncSession, sc: Scope) -> list[Sample]:
    rows = await session.scalars(
        select(Sample).where(sc.where(Sample.institution_id)).order_by(Sample.id.desc()).limit(200)
    )
    return list(rows.all())


async def sample(session: AsyncSession, principal: Principal, sample_id: int) -> Sample:
    sc = supervision_scope(principal)
    found = await session.get(Sample, sample_id)
    if found is None or not sc.covers(found.institution_id):
        raise NotFound("sample not found", code="supervision.sample_not_found")
    return found


async def reviews(session: AsyncSession, sample_id: int) -> list[Review]:
    rows = await session.scalars(
        select(Review).where(Review.sample_id == sample_id).order_by(Review.case_id)
    )
    return list(rows.all())


async def progress(session: AsyncSession, sample_ids: list[int]) -> dict[int, int]:
    """How many cases of each sample have a verdict."""
    if not sample_ids:
        return {}
    rows = await session.execute(
        select(Review.sample_id, func.count())
        .where(Review.sample_id.in_(sample_ids), Review.verdict.is_not(None))
        .group_by(Review.sample_id)
    )
    return {sid: int(n) for sid, n in rows.all()}


async def review(
    *,
    session: AsyncSession,
    principal: Principal,
    actor: Actor,
    review_id: int,
    verdict: Verdict,
    score: int,
    comment: str,
) -> Review:
    """Record (or correct) the verdict on one sampled case: the authority's own record."""
    row = await session.get(Review, review_id)
    found = await session.get(Sample, row.sample_id) if row is not None else None
    if row is None or found is None:
        raise NotFound("review not found", code="supervision.review_not_found")
    require(principal, Action.REVIEW_SUPERVISION, Target.of(found.institution_id))
    if not 0 <= score <= 100:
        raise InvalidInput(
            "the score must be between 0 and 100",
            code="supervision.bad_score",
            details={"score": score},
        )
    before = row.verdict.value if row.verdict else None
    row.verdict, row.score, row.comment = verdict, score, comment.strip()
    row.reviewer_id, row.reviewed_at = principal.user_id, now()
    await audit.record(
        session=session,
        actor=actor,
        action="supervision.review",
        entity_type="supervision_review",
        entity_id=row.id,
        subject_institutions=frozenset({found.institution_id}),
        details={
            "sample_id": found.id,
            "case": f"{found.kind.value}:{row.case_id}",
            "verdict": verdict.value,
            "before": before,
            "score": score,
        },
    )
    return row


def case_url(kind: CaseKind, case_id: int) -> str:
    return f"/consults/{case_id}" if kind is CaseKind.CONSULT else f"/clinics/visits/{case_id}"


def case_audit_url(kind: CaseKind, case_id: int) -> str:
    entity = "consult" if kind is CaseKind.CONSULT else "clinic_visit"
    return f"/audit?entity_type={entity}&entity_id={case_id}"
