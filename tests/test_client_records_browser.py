"""Issue 10 in a real browser: "Diese Person ist bereits erfasst", "Personalien ändern" and "Einwilligung
widerrufen" - the pages, their accessibility (axe) and screenshots at 1280x800 and 768x1024."""

import browser_support as bs
import pytest
from conftest import VALID_AHV
from django.utils import timezone

from referrals.models import Client, Referral, Status

try:
    from playwright.sync_api import expect
except ImportError:  # the `chromium` fixture skips (or fails in CI) with the reason
    expect = None

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _no_serious_violations(persona, where):
    found = bs.serious(bs.run_axe(persona.page))
    assert not found, bs.format_violations(where, found)


def test_filing_again_for_a_known_ahv_shows_the_person_and_continues_without_renaming_anyone(
        log_in, make_referral, directory, referrer):
    sent = make_referral(Status.SUBMITTED)
    for name, viewport in (("desktop", bs.DESKTOP), ("tablet", bs.TABLET)):
        sd = log_in(referrer, viewport=viewport)
        page = sd.page
        sd.goto("/faelle/neu/")
        page.fill("#id_first_name", "Someone")
        page.fill("#id_ahv_number", VALID_AHV)
        sd.submit("#referral-form", "button[name=save]")
        known = page.locator("#known-person")
        expect(known).to_be_visible()
        expect(known.locator("[data-testid=known-referral]")).to_have_count(1)
        expect(known).to_contain_text(sent.reference)
        expect(known).to_contain_text("WAS IV Luzern")
        expect(page.locator("#id_first_name")).to_have_value("Someone")  # nothing typed is lost
        bs.screenshot(page, f"issue10-known-person-{name}")
        assert bs.overflow(page) == {}
        _no_serious_violations(sd, "known person step")
        assert Referral.objects.count() == 1
    sd.submit("#referral-form", "button[name=known_client]")
    draft = Referral.objects.exclude(pk=sent.pk).get()
    assert f"/faelle/{draft.pk}/bearbeiten/" in sd.page.url
    expect(sd.page.locator("#id_first_name")).to_have_value("Mara")
    assert Client.objects.get(pk=sent.client_id).first_name == "Mara"


def test_personal_data_change_page_and_the_timeline(log_in, make_referral, receiving_worker):
    referral = make_referral(Status.ACTIVE)
    iv = log_in(receiving_worker)
    iv.goto(bs.case_path(referral))
    with iv.page.expect_navigation():
        iv.page.click("#personal-data")
    bs.screenshot(iv.page, "issue10-personal-data-page")
    _no_serious_violations(iv, "personal data page")
    iv.page.fill("#id_last_name", "")
    iv.submit("main form")
    expect(iv.page.locator("#id_last_name")).to_have_attribute("aria-invalid", "true")
    iv.page.fill("#id_last_name", "Muster")
    iv.submit("main form")
    changes = iv.page.locator("[data-testid=client-changes]")
    expect(changes).to_contain_text("Beispiel")
    expect(changes).to_contain_text("Muster")
    bs.screenshot(iv.page, "issue10-timeline-personal-data-changed")


def test_consent_withdrawal_ends_the_case_and_the_receiver_sees_codes_and_dates_only(
        log_in, make_referral, referrer, receiving_worker):
    referral = make_referral(Status.ACTIVE)
    sd = log_in(referrer)
    sd.goto(bs.case_path(referral))
    sd.page.locator("#consent-withdrawal summary").click()
    bs.screenshot(sd.page, "issue10-consent-withdrawal-form")
    sd.page.fill("#id_withdrawn_on", timezone.localdate().isoformat())
    sd.page.check("input[name=channel][value=client_in_writing]")
    sd.submit("form[action$='/einwilligung-widerrufen/']")
    assert sd.dialogs, "the final action asks for confirmation"
    assert Referral.objects.get(pk=referral.pk).status == Status.CLOSED
    expect(sd.page.locator("[data-testid=consent-withdrawn]")).to_be_visible()
    expect(sd.page.locator("main")).to_contain_text("Beispiel")  # the referrer keeps its client

    for name, viewport in (("desktop", bs.DESKTOP), ("tablet", bs.TABLET)):
        iv = log_in(receiving_worker, viewport=viewport)
        iv.goto(bs.case_path(referral))
        expect(iv.page.locator("[data-testid=pseudonymised]")).to_be_visible()
        body = iv.page.locator("main").inner_text()
        assert "Beispiel" not in body and "Mara" not in body and "Job coaching" not in body
        bs.screenshot(iv.page, f"issue10-pseudonymised-{name}")
        assert bs.overflow(iv.page) == {}
        _no_serious_violations(iv, "pseudonymised case page")
