"""The case-discussion workspace of a consultation: who may open, edit or only read it
(and that everyone else learns nothing), what the page shows, and the document type."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from tests.consult.conftest import CW, accepted, assigned
from yiyun.auth import service as auth_service
from yiyun.auth.principal import Principal
from yiyun.collab import docs
from yiyun.collab.docs import Access
from yiyun.consult import casework, service
from yiyun.consult.models import Consult, ConsultState
from yiyun.core.statemachine import seed
from yiyun.org.models import User


async def _principal(session: Any, cw: CW, name: str) -> Principal:
    user = await session.scalar(
        select(User).options(selectinload(User.roles)).where(User.id == cw.uid(name))
    )
    return auth_service.principal_of(user)


async def test_access_follows_the_consultation(client, cw: CW, app) -> None:
    consult = await accepted(client, cw)
    pending = await assigned(client, cw, "bea")
    async with app.state.sessions() as s:
        row = await s.get(Consult, consult["id"])
        experts = await service.experts_of(s, row.id)
        other = await s.get(Consult, pending["id"])
        other_experts = await service.experts_of(s, other.id)
        people = {
            n: await _principal(s, cw, n)
            for n in ("alice", "bob", "bea", "carol", "hana", "mallory", "nina")
        }

        def access(name: str, c: Consult = row, e: Any = experts) -> Access:
            return casework.access_of(people[name], c, e)

        assert access("alice") is Access.WRITE  # the requesting doctor
        assert access("bob") is Access.WRITE  # the expert who accepted
        assert access("hana") is Access.READ  # the health authority supervises
        assert access("carol") is Access.NONE  # the dispatcher routes, does not read
        assert access("mallory") is Access.NONE
        assert access("bea") is Access.NONE  # never asked
        assert casework.access_of(people["bea"], other, other_experts) is Access.READ  # asked
        assert await casework.case_access(s, people["mallory"], str(row.id)) is Access.NONE
        assert await casework.case_access(s, people["alice"], "999999") is Access.NONE
        seed(row, ConsultState.CLOSED)
        assert access("alice") is Access.READ and access("bob") is Access.READ


async def test_the_document_type_is_registered_with_its_schema(app) -> None:
    doc_type = docs.lookup("case-notes", "12")
    assert doc_type is not None and doc_type.document is casework.CaseNotesDoc
    assert docs.lookup("case-notes", "0") is None and docs.lookup("case-notes", "x1") is None
    doc = casework.CaseNotesDoc()
    doc.initialise()
    assert doc.to_json() == {
        "meta": {"schema": 1, "kind": "case-notes"},
        "notes": "",
        "entries": {},
        "links": {},
    }


async def test_the_page_opens_for_participants_only(client, cw: CW) -> None:
    consult = await accepted(client, cw)
    url = f"/consults/{consult['id']}/discussion"
    for name in ("alice", "bob"):
        res = await client.get(url, headers=cw.auth(name))
        assert res.status_code == 200, (name, res.text[:300])
        assert 'data-readonly="false"' in res.text and "data-entry-form" in res.text
        assert "高血压随访小结" in res.text  # the attached document
    hana = await client.get(url, headers=cw.auth("hana"))
    assert hana.status_code == 200 and 'data-readonly="true"' in hana.text
    assert "data-entry-form" not in hana.text and "data-readonly-note" in hana.text
    for name in ("carol", "mallory", "bea"):
        res = await client.get(url, headers=cw.auth(name))
        assert res.status_code == 404, name
    missing = await client.get("/consults/999999/discussion", headers=cw.auth("alice"))
    assert missing.status_code == 404
    detail = await client.get(f"/consults/{consult['id']}", headers=cw.auth("alice"))
    assert f'href="{url}"' in detail.text
    carol = await client.get(f"/consults/{consult['id']}", headers=cw.auth("carol"))
    assert carol.status_code == 200 and url not in carol.text
    # the timeline shows the consultation's steps
    page = (await client.get(url, headers=cw.auth("alice"))).text
    assert page.count("<time>") >= 3
