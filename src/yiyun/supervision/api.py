"""Supervision JSON API: the rule registry, counts per institution, a rule's violations
(drill-down links to the case and its audit trail), sampling review.

Read-only for everyone but the authority's own review records (draw a sample, score a
case). Lists naming cases are audited (`supervision.violations`).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from yiyun.supervision import rules, service
from yiyun.supervision.models import CaseKind, Review, Sample, Verdict
from yiyun.web import openapi
from yiyun.web.deps import CurrentActor, CurrentPrincipal, DbSession
from yiyun.web.params import Id
from yiyun.web.templating import locale_of

router = APIRouter()

EARLIEST, LATEST = date(2000, 1, 1), date(2100, 12, 31)
Day = Annotated[date | None, Query(description="YYYY-MM-DD (district day)", ge=EARLIEST, le=LATEST)]
InstitutionId = Annotated[int | None, Query(gt=0, le=2**31 - 1)]
RuleCode = Annotated[str, Query(max_length=48, pattern=r"^[a-z_]+$")]


def limits(request: Request) -> Any:
    return request.app.state.settings.supervision


def rule_json(rule: rules.Rule, locale: str) -> dict[str, Any]:
    return {
        "code": rule.code,
        "workflow": rule.workflow,
        "label": rule.label.render(locale),
        "definition": rule.definition.render(locale),
    }


def violation_json(v: rules.Violation, locale: str) -> dict[str, Any]:
    return {
        "rule": v.rule,
        "case_type": v.case_type,
        "case_id": v.case_id,
        "institution_id": v.institution_id,
        "at": v.at.isoformat(),
        "detail": v.detail,
        "reason": rules.reason(v).render(locale),
        "case_url": v.case_url,
        "audit_url": v.audit_url,
    }


@router.get("/supervision/rules")
async def list_rules(request: Request, principal: CurrentPrincipal) -> list[dict[str, Any]]:
    """Every declared check with its definition."""
    service.supervision_scope(principal)
    locale = locale_of(request)
    return [rule_json(r, locale) for r in rules.RULES.values()]


@router.get("/supervision/summary")
async def summary(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    start: Day = None,
    end: Day = None,
    institution_id: InstitutionId = None,
) -> dict[str, Any]:
    """Violations per rule, and per institution and rule, in the period (default 30 days)."""
    sc = service.supervision_scope(principal, institution_id)
    w = service.window(start, end, limits(request))
    found = await service.summary(session, sc, w)
    return {
        "start": w.start.isoformat(),
        "end": w.end.isoformat(),
        "totals": found.totals,
        "institutions": [
            {"institution_id": i or None, "counts": dict(c)}
            for i, c in sorted(found.by_institution.items())
        ],
    }


@router.get("/supervision/violations")
async def list_violations(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
    rule: RuleCode,
    start: Day = None,
    end: Day = None,
    institution_id: InstitutionId = None,
) -> list[dict[str, Any]]:
    """One rule's violations, with links to the case and to its audit trail."""
    _, found = await service.look_at_rule(
        session, principal, actor, rule, (start, end), institution_id, limits(request)
    )
    return [violation_json(v, locale_of(request)) for v in found]


class SampleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: CaseKind
    institution_id: int = Field(gt=0, le=2**31 - 1)
    start: date | None = Field(default=None, ge=EARLIEST, le=LATEST)
    end: date | None = Field(default=None, ge=EARLIEST, le=LATEST)
    size: int = Field(default=10, ge=1, le=500)
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)


class ReviewWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    verdict: Verdict
    score: int = Field(ge=0, le=100)
    comment: str = Field(default="", max_length=1000)


def sample_json(s: Sample, done: int = 0) -> dict[str, Any]:
    return {
        "id": s.id,
        "kind": s.kind.value,
        "institution_id": s.institution_id,
        "first_day": s.first_day.isoformat(),
        "last_day": s.last_day.isoformat(),
        "size": s.size,
        "population": s.population,
        "seed": s.seed,
        "drawn_at": s.drawn_at.isoformat(),
        "reviewed": done,
    }


def review_json(s: Sample, r: Review) -> dict[str, Any]:
    return {
        "id": r.id,
        "case_id": r.case_id,
        "case_url": service.case_url(s.kind, r.case_id),
        "audit_url": service.case_audit_url(s.kind, r.case_id),
        "closed_at": r.case_closed_at.isoformat(),
        "verdict": r.verdict.value if r.verdict else None,
        "score": r.score,
        "comment": r.comment,
        "reviewed_at": r.reviewed_at.isoformat() if r.reviewed_at else None,
    }


@router.get("/supervision/samples")
async def list_samples(
    session: DbSession, principal: CurrentPrincipal, institution_id: InstitutionId = None
) -> list[dict[str, Any]]:
    sc = service.supervision_scope(principal, institution_id)
    found = await service.samples(session, sc)
    done = await service.progress(session, [s.id for s in found])
    return [sample_json(s, done.get(s.id, 0)) for s in found]


@router.post("/supervision/samples", status_code=201, response_model=openapi.Created)
async def draw_sample(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
    data: SampleCreate,
) -> dict[str, Any]:
    """Draw a random sample of an institution's closed cases (the authority)."""
    w = service.window(data.start, data.end, limits(request))
    made = await service.draw(
        session=session,
        principal=principal,
        actor=actor,
        kind=data.kind,
        institution_id=data.institution_id,
        w=w,
        size=data.size,
        seed=data.seed,
    )
    rows = await service.reviews(session, made.id)
    return sample_json(made) | {"cases": [review_json(made, r) for r in rows]}


@router.get("/supervision/samples/{sample_id}")
async def get_sample(
    sample_id: Id, session: DbSession, principal: CurrentPrincipal
) -> dict[str, Any]:
    found = await service.sample(session, principal, sample_id)
    rows = await service.reviews(session, found.id)
    done = sum(1 for r in rows if r.verdict is not None)
    return sample_json(found, done) | {"cases": [review_json(found, r) for r in rows]}


@router.put("/supervision/reviews/{review_id}")
async def write_review(
    review_id: Id,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
    data: ReviewWrite,
) -> dict[str, Any]:
    """The verdict, score (0–100 against the checklist) and comment on one sampled case."""
    row = await service.review(
        session=session,
        principal=principal,
        actor=actor,
        review_id=review_id,
        verdict=data.verdict,
        score=data.score,
        comment=data.comment,
    )
    found = await service.sample(session, principal, row.sample_id)
    return review_json(found, row)
