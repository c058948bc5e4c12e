"""Supervision pages (远程医疗监管): the overview of rule checks per institution, a rule's
violations with links to the case and its audit trail, sampling review, the XLSX export."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from yiyun.auth.policy import Action, Scope, allows
from yiyun.core.clock import DISTRICT_TZ
from yiyun.org.enums import InstitutionKind
from yiyun.org.models import Institution
from yiyun.stats import exports
from yiyun.supervision import rules, service
from yiyun.supervision.api import Day, InstitutionId, limits
from yiyun.supervision.models import CaseKind, Verdict
from yiyun.web.deps import CurrentActor, CurrentPrincipal, DbSession
from yiyun.web.pagekit import page, see_other
from yiyun.web.params import Id
from yiyun.web.templating import locale_of

router = APIRouter()

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _query(start: date | None, end: date | None, institution_id: int | None) -> str:
    parts = [f"start={start}" if start else "", f"end={end}" if end else ""]
    parts.append(f"institution_id={institution_id}" if institution_id else "")
    return "&".join(p for p in parts if p)


async def _sites(session: DbSession, sc: Scope) -> list[Institution]:
    rows = await session.scalars(
        select(Institution)
        .where(
            sc.where(Institution.id),
            Institution.kind != InstitutionKind.HEALTH_AUTHORITY.value,
            Institution.active.is_(True),
        )
        .order_by(Institution.code)
    )
    return list(rows.all())


@router.get("/supervision", response_class=HTMLResponse)
async def overview(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    start: Day = None,
    end: Day = None,
    institution_id: InstitutionId = None,
) -> Response:
    sc = service.supervision_scope(principal, institution_id)
    w = service.window(start, end, limits(request))
    found = await service.summary(session, sc, w)
    names = await service.institution_names(session, set(found.by_institution))
    ordered = sorted(found.by_institution.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
    return page(
        request,
        principal,
        "supervision/overview.html",
        {
            "rules": list(rules.RULES.values()),
            "locale": locale_of(request),
            "totals": found.totals,
            "rows": ordered,
            "names": names,
            "first": w.start.date(),
            "last": (w.end - timedelta(days=1)).date(),
            "query": _query(start, end, institution_id),
            "institution_id": institution_id,
            "sites": await _sites(session, service.supervision_scope(principal)),
            "sees_all": allows(principal, Action.VIEW_SUPERVISION),
        },
    )


@router.get("/supervision/rules/{code}", response_class=HTMLResponse)
async def rule_page(
    code: str,
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
    start: Day = None,
    end: Day = None,
    institution_id: InstitutionId = None,
) -> Response:
    w, found = await service.look_at_rule(
        session, principal, actor, code, (start, end), institution_id, limits(request)
    )
    rule = service.rule_or_404(code)
    names = await service.institution_names(session, {v.institution_id or 0 for v in found})
    return page(
        request,
        principal,
        "supervision/rule.html",
        {
            "rule": rule,
            "locale": locale_of(request),
            "violations": found,
            "reason": rules.reason,
            "cases": rules.CASES,
            "names": names,
            "first": w.start.date(),
            "last": (w.end - timedelta(days=1)).date(),
            "query": _query(start, end, institution_id),
            "institution_id": institution_id,
        },
    )


@router.get("/supervision/samples", response_class=HTMLResponse)
async def samples_page(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    institution_id: InstitutionId = None,
) -> Response:
    sc = service.supervision_scope(principal, institution_id)
    found = await service.samples(session, sc)
    names = await service.institution_names(session, {s.institution_id for s in found})
    return page(
        request,
        principal,
        "supervision/samples.html",
        {
            "samples": found,
            "done": await service.progress(session, [s.id for s in found]),
            "names": names,
            "can_review": allows(principal, Action.REVIEW_SUPERVISION),
            "sites": await _sites(session, sc),
            "kinds": list(CaseKind),
            "max_sample": limits(request).max_sample,
        },
    )


@router.post("/supervision/samples")
async def draw_sample(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
    kind: Annotated[CaseKind, Form()],
    institution_id: Annotated[int, Form(gt=0, le=2**31 - 1)],
    size: Annotated[int, Form(ge=1, le=500)] = 10,
    start: Annotated[date | None, Form()] = None,
    end: Annotated[date | None, Form()] = None,
) -> Response:
    w = service.window(start, end, limits(request))
    made = await service.draw(
        session=session,
        principal=principal,
        actor=actor,
        kind=kind,
        institution_id=institution_id,
        w=w,
        size=size,
    )
    return see_other(f"/supervision/samples/{made.id}?done=sample_drawn")


@router.get("/supervision/samples/{sample_id}", response_class=HTMLResponse)
async def sample_page(
    sample_id: Id, request: Request, session: DbSession, principal: CurrentPrincipal
) -> Response:
    found = await service.sample(session, principal, sample_id)
    rows = await service.reviews(session, found.id)
    names = await service.institution_names(session, {found.institution_id})
    scored = [r.score for r in rows if r.score is not None]
    return page(
        request,
        principal,
        "supervision/sample.html",
        {
            "sample": found,
            "reviews": rows,
            "name": names.get(found.institution_id, ("", "")),
            "can_review": allows(principal, Action.REVIEW_SUPERVISION),
            "verdicts": list(Verdict),
            "mean_score": round(sum(scored) / len(scored), 1) if scored else None,
            "case_url": service.case_url,
            "cases": rules.CASES,
            "verdict_labels": rules.VERDICTS,
            "locale": locale_of(request),
            "case_audit_url": service.case_audit_url,
        },
    )


@router.post("/supervision/reviews/{review_id}")
async def write_review(
    review_id: Id,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
    verdict: Annotated[Verdict, Form()],
    score: Annotated[int, Form(ge=0, le=100)],
    comment: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    row = await service.review(
        session=session,
        principal=principal,
        actor=actor,
        review_id=review_id,
        verdict=verdict,
        score=score,
        comment=comment,
    )
    return see_other(f"/supervision/samples/{row.sample_id}?done=saved#r{row.id}")


@router.get("/supervision/export.xlsx")
async def export_xlsx(
    request: Request,
    session: DbSession,
    principal: CurrentPrincipal,
    actor: CurrentActor,
    start: Day = None,
    end: Day = None,
    institution_id: InstitutionId = None,
) -> Response:
    """Every violation of every rule in the period (in the caller's scope), one per row."""
    locale = locale_of(request)
    zh = locale.startswith("zh")
    sc = service.supervision_scope(principal, institution_id)
    w = service.window(start, end, limits(request))
    found = [
        v for rule in rules.RULES.values() for v in await service.violations(session, sc, w, rule)
    ]
    names = await service.institution_names(session, {v.institution_id or 0 for v in found})
    first, last = w.start.date(), (w.end - timedelta(days=1)).date()
    notes = [
        f"{r.label.render(locale)}: {r.definition.render(locale)}" for r in rules.RULES.values()
    ]
    table = exports.Table(
        title=("远程医疗监管 · 违规清单" if zh else "Telemedicine supervision · violations")
        + f" · {first} – {last}",
        note="\n".join(notes),
        header=(
            ["规则", "机构", "对象", "编号", "时间", "说明"]
            if zh
            else ["Rule", "Institution", "Case", "Id", "Time", "Reason"]
        ),
        rows=[
            [
                rules.RULES[v.rule].label.render(locale),
                (names.get(v.institution_id or 0, ("", ""))[0 if zh else 1]),
                v.case_type,
                v.case_id,
                v.at.astimezone(DISTRICT_TZ).strftime("%Y-%m-%d %H:%M"),
                rules.reason(v).render(locale),
            ]
            for v in found
        ],
    )
    await service.audit_look(
        session,
        actor,
        "supervision.export",
        {"institution_id": institution_id, "count": len(found)},
    )
    filename = f"supervision-{first}-{last}.xlsx"
    return Response(
        exports.xlsx(table),
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
