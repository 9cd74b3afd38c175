"""The walk of issue 13 in a real browser: at every step exactly one person is on turn (their case banner
says "Sie sind am Zug"), and what waits for a person is on their start page - and nowhere else."""

import datetime
from decimal import Decimal

import browser_support as bs
import pytest
from django.utils import timezone

from referrals import services
from referrals.models import MeetingDecision, MeetingKind, Status

try:
    from playwright.sync_api import expect
except ImportError:  # the `chromium` fixture skips (or fails in CI) with the reason
    expect = None

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NAMES = ["referrer", "contact_person", "receiving_worker", "signatory", "coordinator", "outsider"]


def check_step(browsers, referral, expected_on_turn, action, shot=None):
    """Exactly `expected_on_turn` has the referral's step in their banner and on their start page."""
    on_turn = []
    for name, persona in browsers.items():
        page = persona.page
        persona.goto("/")
        # Parallel steps (a status meeting to plan while a signature is pending) wait for their own people;
        # this step waits for one person only.
        listed = page.locator(f"[data-testid=waiting-item][data-reference='{referral.reference}']"
                              f"[data-action='{action}']")
        response = persona.goto(bs.case_path(referral))
        visible = response.status == 200
        banner = page.locator("[data-testid=next-step]")
        mine = visible and banner.get_attribute("data-my-turn") == "true"
        if mine:
            on_turn.append(name)
            assert banner.get_attribute("data-action") == action, name
        persona.goto("/")
        count = listed.count()
        if name == expected_on_turn:
            assert count == 1, f"{name}: {referral.reference} missing on the start page at {action}"
            if shot:
                shot(page, f"{name}-start-{action}")
        else:
            assert count == 0, f"{name} sees {referral.reference} waiting at {action}"
    assert on_turn == ([expected_on_turn] if expected_on_turn else []), (action, on_turn)


def test_each_step_has_exactly_one_person_on_turn_and_it_waits_on_their_start_page(log_in, make_referral, personas):
    shot = bs.Shots("issue13-")
    browsers = {name: log_in(personas[name]) for name in NAMES}
    referrer, contact, worker, signatory = (personas[n] for n in NAMES[:4])
    today = timezone.localdate()

    referral = make_referral(Status.DRAFT)
    check_step(browsers, referral, "referrer", "complete_draft")
    services.referral_submit(referral=referral, actor=referrer)
    check_step(browsers, referral, "contact_person", "decide", shot)
    services.comment_add(referral=referral, actor=contact, text="Ist die Klientin beim RAV angemeldet?")
    check_step(browsers, referral, "referrer", "answer_question", shot)
    services.comment_add(referral=referral, actor=referrer, text="Nein.")
    check_step(browsers, referral, "contact_person", "decide")
    services.referral_accept(referral=referral, actor=contact, case_worker=worker)
    check_step(browsers, referral, "referrer", "schedule_handover", shot)
    browsers["referrer"].goto(bs.case_path(referral))
    shot(browsers["referrer"].page, "referrer-case-schedule-handover")
    services.meeting_schedule(referral=referral, actor=referrer, kind=MeetingKind.HANDOVER,
                              scheduled_at=timezone.now() + datetime.timedelta(days=2), location="Sozialdienste")
    check_step(browsers, referral, "referrer", "hold_handover")
    # The meeting took place earlier than planned (by phone): recorded with its real date.
    services.handover_record(referral=referral, actor=referrer, held_on=today, case_work_starts_on=today,
                             strategy="Coaching", first_status_meeting_on=today + datetime.timedelta(days=40),
                             client_able_and_willing=True, all_agreed=True)
    check_step(browsers, referral, "receiving_worker", "schedule_status_meeting", shot)
    approval = services.cost_approval_request(
        referral=referral, actor=worker, measure="Coaching", provider="AG", amount_chf=Decimal("1800"),
        starts_on=today, ends_on=today + datetime.timedelta(days=60), justification="Needed")
    check_step(browsers, referral, "signatory", "sign_cost_approval", shot)
    browsers["receiving_worker"].goto(bs.case_path(referral))
    shot(browsers["receiving_worker"].page, "receiving-worker-case-someone-else-on-turn")
    services.cost_approval_approve(cost_approval=approval, actor=signatory)
    check_step(browsers, referral, "receiving_worker", "schedule_status_meeting")
    services.meeting_schedule(referral=referral, actor=worker, kind=MeetingKind.STATUS,
                              scheduled_at=timezone.now() + datetime.timedelta(days=5), location="IV")
    check_step(browsers, referral, "receiving_worker", "hold_status_meeting")
    services.status_meeting_record(referral=referral, actor=worker, held_on=today, progress="Stelle gefunden",
                                   decision=MeetingDecision.CLOSE, outcome="successful", ground="goal_reached")
    check_step(browsers, referral, None, "none")

    # The coordinator sees what waits longest per institution, without client names.
    coordinator = browsers["coordinator"]
    waiting = make_referral(Status.SUBMITTED, client=None)
    coordinator.goto("/")
    expect(coordinator.page.locator("[data-testid=waiting-longest]")).to_contain_text(waiting.reference)
    shot(coordinator.page, "coordinator-start")


def test_a_rejection_waits_on_the_referrers_start_page_with_its_reason_until_opened(log_in, make_referral, referrer):
    referral = make_referral(Status.REJECTED)
    sd = log_in(referrer)
    sd.goto("/")
    item = sd.page.locator(f"[data-testid=waiting-item][data-reference='{referral.reference}']")
    expect(item).to_have_attribute("data-action", "read_rejection")
    expect(item).to_contain_text(bs.any_of("No capacity", "Keine Kapazität"))
    for viewport in (bs.DESKTOP, bs.TABLET):
        sd.page.set_viewport_size(viewport)
        bs.screenshot(sd.page, f"issue13-referrer-start-rejection-{viewport['width']}")
        assert bs.overflow(sd.page) == {}
    violations = bs.serious(bs.run_axe(sd.page))
    assert not violations, bs.format_violations("start page", violations)
    with sd.page.expect_navigation():
        item.locator("a").first.click()
    expect(sd.page.locator("[data-testid=next-step]")).to_contain_text(bs.any_of("No capacity", "Keine Kapazität"))
    bs.screenshot(sd.page, "issue13-referrer-case-rejected")
    sd.goto("/")
    expect(item).to_have_count(0)
