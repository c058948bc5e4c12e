"""Counts in: JSON rows, CSV, FHIR MeasureReports and counts derived from encounters.

Idempotent upsert on (site, syndrome, day), old→new counts in the audit log, late reports
flagged, bad rows rejected by number while the good ones are kept; and the syndrome
classifier behind derived counts.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import World
from yiyun.audit.models import AuditEvent
from yiyun.audit.service import SYSTEM
from yiyun.auth import service as auth_service
from yiyun.auth.principal import Principal
from yiyun.core.errors import InvalidInput, PermissionDenied
from yiyun.org.models import Institution
from yiyun.surveillance import ingest, measure_report, syndromes
from yiyun.surveillance.models import CountSource, DailyCount
from yiyun.surveillance.syndromes import Encounter, classify

NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)  # 10:00 in the district
TODAY = date(2026, 11, 26)


def who(world: World, name: str) -> Principal:
    return auth_service.principal_of(world.users[name])


async def _counts(session: AsyncSession) -> dict[tuple[str, str, date], DailyCount]:
    rows = (await session.scalars(select(DailyCount))).all()
    codes = {i.id: i.code for i in (await session.scalars(select(Institution))).all()}
    return {(codes[r.institution_id], r.syndrome, r.on): r for r in rows}


async def _ingest(session: AsyncSession, world: World, name: str, rows: list, now=NOW):
    principal = who(world, name)
    async with session.begin():
        return await ingest.ingest_rows(
            session=session, principal=principal, actor=principal.actor(), rows=rows, now=now
        )


def _row(day: str, site: str = "CHC-A", syndrome: str = "ili", count: object = 3) -> dict:
    return {"date": day, "site": site, "syndrome": syndrome, "count": count}


async def test_it_stores_rows_and_a_resend_replaces_the_day_with_an_audit_entry(
    session: AsyncSession, world: World
) -> None:
    first = await _ingest(session, world, "alice", [_row("2026-11-25"), _row("2026-11-24")])
    assert (first.accepted, first.replaced, first.late, first.rejected) == (2, 0, 0, [])
    again = await _ingest(
        session, world, "alice", [_row("2026-11-25", count=9), _row("2026-11-24", count=3)]
    )
    assert (again.accepted, again.replaced) == (2, 2)
    counts = await _counts(session)
    assert counts[("CHC-A", "ili", date(2026, 11, 25))].count == 9
    assert len(counts) == 2
    replaced = (
        await session.scalars(
            select(AuditEvent).where(AuditEvent.action == "surveillance.counts.replace")
        )
    ).all()
    assert len(replaced) == 1  # only the day whose count changed
    assert replaced[0].details["changes"] == [
        {"site": "CHC-A", "syndrome": "ili", "on": "2026-11-25", "old": 3, "new": 9}
    ]
    assert replaced[0].actor == "alice"
    assert replaced[0].institution_id == world.inst["chc_a"].id


async def test_it_flags_reports_more_than_two_days_late(session: AsyncSession, world: World):
    result = await _ingest(
        session,
        world,
        "alice",
        [_row("2026-11-24"), _row("2026-11-23"), _row("2026-10-01")],
    )
    assert (result.accepted, result.late) == (3, 2)
    counts = await _counts(session)
    assert not counts[("CHC-A", "ili", date(2026, 11, 24))].late
    assert counts[("CHC-A", "ili", date(2026, 11, 23))].late


async def test_it_keeps_good_rows_and_rejects_bad_ones_by_number(
    session: AsyncSession, world: World
) -> None:
    rows = [
        _row("2026-11-25"),
        _row("2026/11/25"),
        _row("2026-11-27"),  # tomorrow in the district
        _row("2026-11-25", site="NOPE"),
        _row("2026-11-25", syndrome="plague"),
        _row("2026-11-25", count=-1),
        _row("2026-11-25", count="2.5"),
        _row("2026-11-25", count=True),
        _row("2026-11-25", site="AUTH"),
        {"date": "2026-11-25", "site": "CHC-A", "syndrome": "ili"},
        _row("2026-11-25"),  # the same day twice in one upload
        "not an object",
        _row("2026-11-25", syndrome="HFMD", count="4"),
    ]
    result = await _ingest(session, world, "alice", rows)
    assert result.accepted == 2
    reasons = {r.row: r.reason for r in result.rejected}
    assert sorted(reasons) == list(range(2, 13))
    assert "YYYY-MM-DD" in reasons[2]
    assert "future" in reasons[3]
    assert "unknown site" in reasons[4]
    assert "unknown syndrome" in reasons[5]
    assert "negative" in reasons[6]
    assert "whole number" in reasons[7] and "whole number" in reasons[8]
    assert "not a reporting site" in reasons[9]
    assert "count is missing" in reasons[10]
    assert "duplicate of row 1" in reasons[11]
    assert "object" in reasons[12]
    assert set(await _counts(session)) == {
        ("CHC-A", "ili", date(2026, 11, 25)),
        ("CHC-A", "hfmd", date(2026, 11, 25)),
    }


async def test_a_site_reports_only_for_itself_and_ops_not_at_all(
    session: AsyncSession, world: World
) -> None:
    result = await _ingest(
        session, world, "mallory", [_row("2026-11-25"), _row("2026-11-25", "CHC-B")]
    )
    assert result.accepted == 1
    assert result.rejected[0].row == 1 and "may not report" in result.rejected[0].reason
    hana = await _ingest(session, world, "hana", [_row("2026-11-25", "LEAD")])
    assert hana.accepted == 1  # the authority may load data for any site
    with pytest.raises(PermissionDenied):
        await _ingest(session, world, "otto", [_row("2026-11-25", "LEAD")])


def test_csv_rows_are_numbered_as_in_a_spreadsheet() -> None:
    data = (
        "Date, Site ,syndrome,count,comment\n2026-11-25,CHC-A,ili,3,x\n\n2026-11-24,CHC-A,ili,4,\n"
    )
    rows = ingest._csv_rows(data.encode("utf-8-sig"))
    assert [n for n, _ in rows] == [2, 4]
    assert rows[0][1]["site"] == "CHC-A"
    gbk = "date,site,syndrome,count\n2026-11-25,甲,ili,3\n".encode("gb18030")
    assert ingest._csv_rows(gbk)[0][1]["site"] == "甲"
    with pytest.raises(InvalidInput) as missing:
        ingest._csv_rows(b"date,site,count\n")
    assert missing.value.details["missing"] == ["syndrome"]
    with pytest.raises(InvalidInput):
        ingest._csv_rows(b"")


async def test_csv_upload_keeps_good_rows(session: AsyncSession, world: World) -> None:
    data = b"date,site,syndrome,count\n2026-11-25,CHC-A,fever,5\n2026-11-25,CHC-A,fever,x\n"
    principal = who(world, "ines")
    async with session.begin():
        result = await ingest.ingest_csv(
            session=session, principal=principal, actor=principal.actor(), data=data, now=NOW
        )
    assert result.accepted == 1 and [r.row for r in result.rejected] == [3]
    stored = (await _counts(session))[("CHC-A", "fever", date(2026, 11, 25))]
    assert stored.source == CountSource.CSV


def _report(site: dict, groups: dict[str, int], start: str = "2026-11-25", end: str | None = None):
    return {
        "resourceType": "MeasureReport",
        "status": "complete",
        "type": "summary",
        "measure": "urn:yiyun:measure:syndromic-daily",
        "subject": site,
        "period": {"start": start, "end": end or start},
        "group": [
            {
                "code": {"coding": [{"system": measure_report.SYS_SYNDROME, "code": code}]},
                "population": [{"code": {"coding": [{"code": "initial-population"}]}, "count": n}],
            }
            for code, n in groups.items()
        ],
    }


def test_measure_reports_map_subject_period_and_groups() -> None:
    by_code = {"identifier": {"system": measure_report.SYS_INSTITUTION, "value": "CHC-A"}}
    parsed = measure_report.parse(_report(by_code, {"ili": 4, "fever": 7}))
    assert [raw for _, raw in parsed.rows] == [
        {"date": date(2026, 11, 25), "site": "CHC-A", "syndrome": "ili", "count": 4},
        {"date": date(2026, 11, 25), "site": "CHC-A", "syndrome": "fever", "count": 7},
    ]
    # A whole CST day given as instants, and the site as a reference.
    timed = _report(
        {"reference": "Organization/12"},
        {"ili": 1},
        start="2026-11-25T00:00:00+08:00",
        end="2026-11-26T00:00:00+08:00",
    )
    assert measure_report.parse(timed).rows[0][1]["site"] == 12
    assert measure_report.parse(timed).rows[0][1]["date"] == date(2026, 11, 25)
    two_days = _report(by_code, {"ili": 1}, start="2026-11-24", end="2026-11-25")
    assert "one day" in measure_report.parse(two_days).rejected[0].reason
    with pytest.raises(InvalidInput):
        measure_report.parse({"resourceType": "Patient"})
    with pytest.raises(InvalidInput):
        measure_report.parse({"resourceType": "MeasureReport", "status": "complete"})


async def test_a_bundle_keeps_good_reports_and_rejects_bad_entries(
    session: AsyncSession, world: World
) -> None:
    site = {"reference": f"Organization/{world.inst['chc_a'].id}"}
    pending = _report(site, {"ili": 1})
    pending["status"] = "pending"
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"resource": _report(site, {"ili": 4, "plague": 1})},
            {"resource": pending},
            {"resource": {"resourceType": "MeasureReport", "status": "complete"}},
        ],
    }
    principal = who(world, "alice")
    async with session.begin():
        result = await ingest.ingest_fhir(
            session=session, principal=principal, actor=principal.actor(), document=bundle, now=NOW
        )
    assert result.accepted == 1
    reasons = {r.row: r.reason for r in result.rejected}
    assert reasons[2].startswith("entry 1 group 2: unknown syndrome")
    assert reasons[3].startswith("entry 2: status is pending")
    assert reasons[4] == "entry 3: not a valid MeasureReport"


# --- derived counts and the classifier ---------------------------------------------------------


@pytest.mark.parametrize(
    ("codes", "complaint", "expected"),
    [
        ([], "发热伴咳嗽2天", {"fever", "ili", "ari"}),
        ([], "咳嗽3天，无发热", {"ari"}),
        ([], "无明显诱因出现发热，伴咽痛", {"fever", "ili", "ari"}),
        ([], "腹泻水样便5次，无发热", {"diarrhoea"}),
        ([], "患儿手足口出现疱疹，伴发热", {"fever", "hfmd", "rash_fever"}),
        ([], "体温38.5℃，咳嗽", {"fever", "ili", "ari"}),
        ([], "体温37.0℃，咳嗽", {"ari"}),
        ([], "Fever and cough for 2 days", {"fever", "ili", "ari"}),
        ([], "cough, no fever", {"ari"}),
        ([], "denies fever or diarrhoea", set()),
        ([], "Hand-foot-and-mouth disease", {"hfmd"}),
        ([], "ＦＥＶＥＲ 39°C, rash", {"fever", "rash_fever"}),
        (["J10.1"], "", {"ili", "ari"}),
        (["a09.9"], "", {"diarrhoea"}),
        (["B08.4"], "复诊", {"hfmd"}),
        (["I10"], "头晕，血压高", set()),
    ],
)
def test_classify(codes: list[str], complaint: str, expected: set[str]) -> None:
    assert classify(codes, complaint) == expected


def test_configured_syndromes_join_the_classifier() -> None:
    jaundice = syndromes.SyndromeDef(
        "jaundice", "黄疸", "Jaundice", ("R17",), ("黄疸", "皮肤发黄"), ("jaundice",)
    )
    assert classify([], "皮肤发黄3天", (*syndromes.BUILTIN, jaundice)) == {"jaundice"}
    looping = syndromes.SyndromeDef("loop", "x", "x", (), ("咳嗽",), (), requires=("loop",))
    assert classify([], "咳嗽", (looping,)) == set()


async def test_derived_counts_are_stored_like_reported_ones(
    session: AsyncSession, world: World
) -> None:
    site = world.inst["chc_a"].id
    day = TODAY - timedelta(days=1)
    encounters = [
        Encounter(site, day, [], "发热伴咳嗽"),
        Encounter(site, day, ["J06.9"], "咽痛"),
        Encounter(site, day, [], "腹泻"),
        Encounter(site, day, [], "复查血压"),
    ]
    derived = syndromes.derive_counts(encounters)
    assert derived == {(site, "fever", day): 1, (site, "ili", day): 1, (site, "ari", day): 2,
                       (site, "diarrhoea", day): 1}  # fmt: skip
    async with session.begin():
        result = await ingest.store_derived(session=session, actor=SYSTEM, counts=derived, now=NOW)
    assert result.accepted == 4 and not result.rejected
    stored = await _counts(session)
    assert stored[("CHC-A", "ari", day)].source == CountSource.DERIVED


async def test_a_configured_syndrome_can_be_reported(session: AsyncSession, world: World) -> None:
    async with session.begin():
        row = await syndromes.upsert_definition(
            session,
            syndromes.SyndromeDef(
                "Jaundice", "黄疸", "Jaundice", ("r17",), ("黄疸",), ("jaundice",)
            ),
        )
    assert (row.code, row.icd10_prefixes, row.builtin) == ("jaundice", ["R17"], False)
    result = await _ingest(session, world, "alice", [_row("2026-11-25", syndrome="JAUNDICE")])
    assert result.accepted == 1
    stored = await syndromes.load_definitions(session)
    assert classify(["R17.9"], "", stored) == {"jaundice"}
