"""Polls and Q&A in a live call in real Chromium: the host (PC) launches a poll, the
participant (phone) sees it arrive and votes, the host sees the count move; she asks a
question, he marks it answered and she sees that — every step over the meeting's own
signalling socket, no reload."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.axe import describe, violations
from tests.e2e.conftest import LiveServer, shot, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture
def people(live_server: LiveServer, browser: Browser) -> Iterator[tuple[Page, Page]]:
    host_ctx = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    phone_ctx = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, locale="zh-CN"
    )
    bob, alice = host_ctx.new_page(), phone_ctx.new_page()
    sign_in(bob, live_server, "bob")
    sign_in(alice, live_server, "alice")
    yield bob, alice
    host_ctx.close()
    phone_ctx.close()


def _meeting(server: LiveServer) -> int:
    res = httpx.post(
        f"{server.url}/api/v1/meetings",
        headers=server.world.auth("bob"),
        json={"title": "投票问答测试", "invitees": ["alice"]},
        timeout=10,
    )
    assert res.status_code == 201, res.text
    return int(res.json()["id"])


def _join(page: Page, server: LiveServer, meeting: int) -> None:
    page.goto(f"{server.url}/meetings/{meeting}")
    page.wait_for_function("() => window.yiyunCall.state === 'joined'", timeout=30_000)
    page.click("[data-action=engage]")
    expect(page.locator("[data-panel=engage]")).to_be_visible()


def test_a_poll_and_a_question_travel_live_between_two_people(
    live_server: LiveServer, people: tuple[Page, Page]
) -> None:
    bob, alice = people
    meeting = _join_both(live_server, bob, alice)

    bob.click("[data-poll-new] summary")
    bob.fill("#poll-q", "是否建议转上级医院？")
    options = bob.locator("[data-poll-options] input")
    options.nth(0).fill("建议转诊")
    options.nth(1).fill("继续观察")
    bob.click("[data-poll-add-option]")
    options.nth(2).fill("需进一步检查")
    bob.click("[data-poll-form] button[type=submit]")

    # it reaches the participant's open panel without a reload
    alice_poll = alice.locator(".poll").first
    expect(alice_poll).to_contain_text("是否建议转上级医院？")
    alice_poll.locator("label", has_text="继续观察").click()
    alice_poll.locator("button[type=submit]").click()
    expect(alice_poll).to_contain_text("您已投票")
    # the host sees the vote counted, and (a named poll) who cast it
    bob_poll = bob.locator(".poll").first
    expect(bob_poll.locator("[data-ballots]")).to_have_attribute("data-ballots", "1")
    expect(bob_poll.locator("[data-votes]").nth(1)).to_have_attribute("data-votes", "1")
    expect(bob_poll).to_contain_text("Alice")
    shot(bob, "meeting-poll-host-pc")
    shot(alice, "meeting-poll-participant-phone")

    # Q&A: she asks, he sees it and marks it answered, she sees that
    alice.click("[data-engage-tab=questions]")
    alice.fill("[data-ask-input]", "是否需要增强 CT？")
    alice.press("[data-ask-input]", "Enter")
    bob.click("[data-engage-tab=questions]")
    question = bob.locator(".question", has_text="是否需要增强 CT？")
    expect(question).to_be_visible()
    question.locator("[data-upvote]").click()
    expect(alice.locator(".question [data-question-votes]").first).to_have_text("1")
    question.locator("[data-answer]").click()
    expect(alice.locator(".question.answered")).to_contain_text("是否需要增强 CT？")
    shot(bob, "meeting-qna-host-pc")
    shot(alice, "meeting-qna-participant-phone")

    # the host closes the poll: the participant's copy says so
    bob.click("[data-engage-tab=polls]")
    bob.locator("[data-poll-close]").first.click()
    alice.click("[data-engage-tab=polls]")
    expect(alice.locator(".poll.closed")).to_have_count(1)

    # the panel stays on the call page: a form never navigates away
    assert bob.url == alice.url == f"{live_server.url}/meetings/{meeting}"
    found = violations(bob) + violations(alice)
    assert found == [], describe(found)


def _join_both(server: LiveServer, bob: Page, alice: Page) -> int:
    meeting = _meeting(server)
    _join(bob, server, meeting)
    _join(alice, server, meeting)
    return meeting
