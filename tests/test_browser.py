"""The pages in a real browser: a referral from filing to closure, errors that help, access, accessibility.

Headless Debian Chromium driven by Playwright against pytest-django's live server. Elements are found by
stable attributes (ids, form actions, names, data-testid) so the tests survive the German translation.
Screenshots land in test-artifacts/browser/ (gitignored) for people to look at.
"""

import datetime

import browser_support as bs
import pytest
from conftest import VALID_AHV
from django.utils import timezone

from referrals.models import CostApproval, Referral, ReferralEvent, Status

try:
    from playwright.sync_api import expect
except ImportError:  # the `chromium` fixture skips (or fails in CI) with the reason
    expect = None

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BADGE = ".status-badge"


def _badge(page, status):
    """The case page's status badge (first one on the page) shows `status`."""
    expect(page.locator(f"main {BADGE}").first).to_have_class(bs.any_of(f"status-{status}"))


def _date(days=0):
    return (timezone.localdate() + datetime.timedelta(days=days)).isoformat()


# --- 1. The whole way ----------------------------------------------------------------------------------------

def test_referral_walks_from_filing_to_closure(log_in, directory, referrer, contact_person, receiving_worker,
                                               signatory):
    shot = bs.Shots()

    # The social-services case worker files the referral.
    sd = log_in(referrer)
    page = sd.page
    shot(page, "referrer-start")
    with page.expect_navigation():
        page.locator("main a[href$='/faelle/neu/']").first.click()
    shot(page, "referrer-new-referral-empty")
    expect(page.locator("[data-testid=assessment-process]")).to_have_attribute("data-process", "")

    page.fill("#id_first_name", "Mara")
    page.fill("#id_last_name", "Beispiel")
    page.fill("#id_date_of_birth", "1984-03-02")
    page.fill("#id_ahv_number", VALID_AHV)
    page.select_option("#id_municipality", value=str(directory["luzern"].pk))
    page.fill("#id_phone", "079 000 00 00")
    page.check("#id_in_social_counselling")
    page.check("#id_economic_social_assistance")
    page.select_option("#id_receiving_institution", value=str(directory["iv"].pk))
    # The live check (htmx) shows the consequence of choosing the receiver at once.
    assessment = page.locator("#assessment")
    expect(assessment).to_contain_text("OPTIMA-IV")
    expect(page.locator("[data-testid=assessment-process]")).to_have_attribute("data-process", "optima_iv")
    expect(page.locator("[data-testid=assessment-target-group]")).to_have_attribute("data-target-group", "E")
    expect(page.locator("[data-testid=assessment-target-group]")).to_contain_text("E –")
    page.fill("#id_mandate", "Job coaching until a stable placement in the first labour market")
    page.fill("#id_planned_duration_months", "6")
    page.fill("#id_consent_given_on", _date(-2))
    page.check("input[name=consent_form][value=written]")
    # Wait for the live check to catch up with the last answer, then look at the whole form.
    expect(assessment.locator(".text-success-emphasis")).to_be_visible()
    shot(page, "referrer-new-referral-filled")
    response = sd.submit("#referral-form", "button[name=send]")
    assert response.status == 200, page.url
    shot(page, "referrer-case-submitted")
    _badge(page, "submitted")
    pk = bs.pk_from_case_url(page.url)
    referral = Referral.objects.get(pk=pk)
    assert referral.status == Status.SUBMITTED
    assert (referral.process, referral.target_group) == ("optima_iv", "E")
    case = bs.case_path(referral)

    # The IV contact person finds it on the start page and accepts it with a case worker.
    iv = log_in(contact_person)
    page = iv.page
    inbox_link = page.locator(f"[data-testid=waiting] a[href*='{case}']")
    expect(inbox_link).to_be_visible()
    shot(page, "contact-person-start-inbox")
    with page.expect_navigation():
        inbox_link.click()
    shot(page, "contact-person-case-decide")
    page.select_option("form[action$='/annehmen/'] select[name=case_worker]", value=str(receiving_worker.pk))
    iv.submit("form[action$='/annehmen/']")
    shot(page, "contact-person-case-accepted")
    _badge(page, "accepted")
    assert Referral.objects.get(pk=pk).assigned_case_worker == receiving_worker

    # The referrer enters the date of the handover meeting.
    page = sd.page
    sd.goto(case)
    shot(page, "referrer-case-accepted")
    handover_at = (timezone.localtime() + datetime.timedelta(days=7)).replace(hour=10, minute=30)
    page.fill("form[action$='/uebergabe/planen/'] input[name=scheduled_at]", handover_at.strftime("%Y-%m-%dT%H:%M"))
    page.fill("form[action$='/uebergabe/planen/'] input[name=location]", "WAS IV Luzern, Landenbergstrasse 35")
    sd.submit("form[action$='/uebergabe/planen/']")
    shot(page, "referrer-handover-scheduled")
    expect(page.locator("#meetings")).to_contain_text(handover_at.strftime("%d.%m.%Y 10:30"))

    # The receiving case worker records the handover: all three agreed -> active.
    worker = log_in(receiving_worker)
    page = worker.page
    shot(page, "receiving-worker-start")
    worker.goto(case)
    shot(page, "receiving-worker-case-accepted")
    form = "form[action$='/uebergabe/protokoll/']"
    # The note form stays folded until the planned meeting time has come: the worker opens it.
    expect(page.locator(form)).to_be_hidden()
    page.locator(f"details:has({form}) > summary").click()
    expect(page.locator(form)).to_be_visible()
    page.fill(f"{form} input[name=held_on]", _date())
    page.check(f"{form} input[name=all_agreed][value=yes]")
    page.fill(f"{form} input[name=case_work_starts_on]", _date())
    page.fill(f"{form} textarea[name=strategy]", "Job coaching, then a work trial")
    page.fill(f"{form} input[name=first_status_meeting_on]", _date(30))
    worker.submit(form)
    assert worker.dialogs, "recording the handover should ask for confirmation"
    shot(page, "receiving-worker-handover-recorded")
    _badge(page, "active")

    # ... and requests a cost approval from the referrer's institution.
    form = "form[action$='/kostengutsprache/']"
    page.locator(f"details:has({form}) > summary").click()
    page.fill(f"{form} input[name=measure]", "Job coaching")
    page.fill(f"{form} input[name=provider]", "Coaching AG")
    page.fill(f"{form} input[name=amount_chf]", "1800.00")
    page.fill(f"{form} input[name=starts_on]", _date())
    page.fill(f"{form} input[name=ends_on]", _date(90))
    page.fill(f"{form} textarea[name=justification]", "Needed for the placement")
    shot(page, "receiving-worker-cost-approval-form")
    worker.submit(form)
    shot(page, "receiving-worker-cost-approval-requested")
    expect(page.locator("[data-testid=cost-approval]")).to_have_attribute("data-status", "requested")
    expect(page.locator("[data-testid=cost-approval]")).to_contain_text("CHF 1'800.00")

    # The signatory of the social services finds it on the start page and signs it.
    sign = log_in(signatory)
    page = sign.page
    to_sign = page.locator(f"[data-testid=waiting] a[href*='{case}']")
    expect(to_sign).to_be_visible()
    shot(page, "signatory-start-to-sign")
    with page.expect_navigation():
        to_sign.click()
    shot(page, "signatory-case")
    sign.submit("form[action$='/unterschreiben/']")
    assert sign.dialogs, "signing should ask for confirmation"
    shot(page, "signatory-signed")
    expect(page.locator("[data-testid=cost-approval]")).to_have_attribute("data-status", "approved")
    assert CostApproval.objects.get(referral_id=pk).status == "approved"

    # The receiving case worker records the last status meeting and closes the case.
    page = worker.page
    worker.goto(case)
    shot(page, "receiving-worker-case-active")
    form = "form[action$='/standort/protokoll/']"
    page.locator(f"details:has({form}) > summary").click()  # the first meeting is planned for later
    expect(page.locator(form)).to_be_visible()
    page.fill(f"{form} input[name=held_on]", _date())
    page.fill(f"{form} textarea[name=progress]", "Placed in a job with a permanent contract")
    page.check(f"{form} input[name=decision][value=close]")
    expect(page.locator(f"{form} select[name=outcome]")).to_be_visible()
    expect(page.locator(f"{form} input[name=next_meeting_on]")).to_be_hidden()
    page.select_option(f"{form} select[name=outcome]", "successful")
    page.select_option(f"{form} select[name=ground]", "goal_reached")
    asked = len(worker.dialogs)
    worker.submit(form)
    assert len(worker.dialogs) == asked + 1, "closing the case should ask for confirmation"
    shot(page, "receiving-worker-case-closed")
    _badge(page, "closed")

    # The referrer sees the closed case.
    sd.goto(case)
    shot(page=sd.page, step="referrer-case-closed")
    _badge(sd.page, "closed")

    referral = Referral.objects.get(pk=pk)
    assert referral.status == Status.CLOSED
    assert (referral.closure_outcome, referral.closure_ground) == ("successful", "goal_reached")
    events = list(ReferralEvent.objects.filter(referral=referral).values_list("kind", "to_status", "actor__username"))
    assert [(kind, to) for kind, to, _ in events if kind == "status"] == [
        ("status", "draft"), ("status", "submitted"), ("status", "accepted"), ("status", "active"),
        ("status", "closed")]
    assert ("meeting_scheduled", "", "sd.beratung") in events
    assert ("meeting_recorded", "", "iv.beratung") in events
    assert ("cost_approval", "requested", "iv.beratung") in events
    assert ("cost_approval", "approved", "sd.zeichnung") in events
    assert events[-1] == ("status", "closed", "iv.beratung")


# --- 2. Rejection ------------------------------------------------------------------------------------------

def test_referral_rejection_with_reason(log_in, make_referral, contact_person, referrer):
    referral = make_referral(Status.SUBMITTED)
    case = bs.case_path(referral)
    form = "form[action$='/ablehnen/']"

    iv = log_in(contact_person)
    page = iv.page
    iv.goto(case)
    page.check(f"{form} input[name=reason][value=other]")
    response = iv.submit(form)
    assert response.status == 400
    bs.screenshot(page, "rejection-01-error")
    # The error is shown next to the explanation and in the summary; the chosen reason is kept.
    expect(page.locator(f"{form} #error-summary a[href='#id_reason_text']")).to_be_visible()
    expect(page.locator(f"{form} #error-summary")).to_be_focused()
    expect(page.locator(f"{form} #id_reason_text_error")).to_be_visible()
    expect(page.locator(f"{form} input[name=reason][value=other]")).to_be_checked()
    assert Referral.objects.get(pk=referral.pk).status == Status.SUBMITTED

    page.fill(f"{form} textarea[name=reason_text]", "The client moved to another canton")
    iv.submit(form)
    bs.screenshot(page, "rejection-02-rejected")
    _badge(page, "rejected")
    referral.refresh_from_db()
    assert (referral.status, referral.rejection_reason) == (Status.REJECTED, "other")
    assert referral.rejection_text == "The client moved to another canton"

    sd = log_in(referrer)
    sd.goto(case)
    bs.screenshot(sd.page, "rejection-03-referrer-sees-reason")
    _badge(sd.page, "rejected")
    reason = sd.page.locator("[data-testid=rejection-reason]")
    expect(reason).to_have_attribute("data-reason", "other")
    expect(reason).to_contain_text("The client moved to another canton")


# --- 3. Errors keep the input ------------------------------------------------------------------------------

def test_new_referral_form_keeps_input_on_error(log_in, directory, referrer):
    sd = log_in(referrer)
    page = sd.page
    sd.goto("/faelle/neu/")
    typed = {"#id_first_name": "Mara", "#id_last_name": "Beispiel", "#id_date_of_birth": "1984-03-02",
             "#id_ahv_number": "756.1234.5678.90", "#id_phone": "079 000 00 00",
             "#id_mandate": "Job coaching until a stable placement", "#id_planned_duration_months": "6",
             "#id_consent_given_on": _date(-2)}
    for selector, value in typed.items():
        page.fill(selector, value)
    page.select_option("#id_municipality", value=str(directory["luzern"].pk))
    page.select_option("#id_receiving_institution", value=str(directory["iv"].pk))
    page.check("#id_in_social_counselling")
    page.check("input[name=consent_form][value=written]")

    response = sd.submit("#referral-form", "button[name=send]")
    assert response.status == 400
    bs.screenshot(page, "form-error-ahv")

    summary = page.locator("#error-summary")
    expect(summary).to_be_visible()
    expect(summary).to_be_focused()
    # The summary comes before the form, at the top of the page, and links to the field.
    assert page.evaluate("""() => {
        const s = document.getElementById('error-summary'), f = document.getElementById('referral-form');
        return !!(s.compareDocumentPosition(f) & Node.DOCUMENT_POSITION_FOLLOWING);
    }""")
    link = summary.locator("a[href='#id_ahv_number']")
    expect(link).to_be_visible()
    expect(summary).to_contain_text(bs.any_of("check digit", "Prüfziffer"))
    expect(page.locator("#id_ahv_number_error")).to_contain_text(bs.any_of("check digit", "Prüfziffer"))
    expect(page.locator("#id_ahv_number")).to_have_attribute("aria-invalid", "true")
    link.click()
    expect(page.locator("#id_ahv_number")).to_be_focused()

    for selector, value in typed.items():
        expect(page.locator(selector)).to_have_value(value)
    expect(page.locator("#id_municipality")).to_have_value(str(directory["luzern"].pk))
    expect(page.locator("#id_receiving_institution")).to_have_value(str(directory["iv"].pk))
    expect(page.locator("#id_in_social_counselling")).to_be_checked()
    expect(page.locator("#id_economic_social_assistance")).not_to_be_checked()
    expect(page.locator("input[name=consent_form][value=written]")).to_be_checked()
    assert not Referral.objects.exists()


# --- 4. Access -----------------------------------------------------------------------------------------------

def test_outsider_gets_404_on_a_case_page(log_in, make_referral, outsider):
    referral = make_referral(Status.SUBMITTED)
    other = log_in(outsider)
    response = other.goto(bs.case_path(referral))
    assert response.status == 404
    bs.screenshot(other.page, "outsider-404")
    expect(other.page.locator("main h1")).to_be_visible()
    expect(other.page.locator("main a[href='/']")).to_be_visible()
    body = other.page.locator("main").inner_text()
    assert "Beispiel" not in body and referral.reference not in body


# --- 5. Accessibility (axe-core) -----------------------------------------------------------------------------

def test_main_pages_have_no_serious_accessibility_violations(log_in, make_referral, cost_approval, referrer,
                                                             contact_person, signatory):
    referral = make_referral(Status.SUBMITTED)
    sd = log_in(referrer)
    iv = log_in(contact_person)
    sign = log_in(signatory)
    pages = [
        ("start page (referrer)", sd, "/"),
        ("new referral form", sd, "/faelle/neu/"),
        ("case page (referrer)", sd, bs.case_path(referral)),
        ("start page (contact person)", iv, "/"),
        ("case page (contact person, decide)", iv, bs.case_path(referral)),
        ("case page (signatory, cost approval to sign)", sign, bs.case_path(cost_approval.referral)),
    ]
    report = []
    for where, persona, path in pages:
        persona.goto(path)
        found = bs.serious(bs.run_axe(persona.page))
        if found:
            report.append(bs.format_violations(f"{where} {path}", found))

    # The form after an error (summary, invalid fields) must be as accessible as the empty one.
    sd.goto("/faelle/neu/")
    sd.page.fill("#id_ahv_number", "756.1234.5678.90")
    sd.submit("#referral-form", "button[name=send]")
    found = bs.serious(bs.run_axe(sd.page))
    if found:
        report.append(bs.format_violations("new referral form with errors", found))

    assert not report, "\n\n" + "\n\n".join(report)


# --- 6. Tablet -----------------------------------------------------------------------------------------------

def test_main_pages_on_a_tablet(log_in, make_referral, referrer, contact_person):
    referral = make_referral(Status.SUBMITTED)
    sd = log_in(referrer, viewport=bs.TABLET)
    iv = log_in(contact_person, viewport=bs.TABLET)
    pages = [("start", sd, "/"), ("new-referral", sd, "/faelle/neu/"), ("case-referrer", sd, bs.case_path(referral)),
             ("case-decide", iv, bs.case_path(referral)), ("list", sd, "/faelle/"), ("directory", sd, "/verzeichnis/")]
    too_wide = {}
    for name, persona, path in pages:
        response = persona.goto(path)
        assert response.status == 200, path
        bs.screenshot(persona.page, f"tablet-{name}")
        if parts := bs.overflow(persona.page):
            too_wide[path] = parts
    content = {path: parts for path, parts in too_wide.items() if set(parts) - {"header"}}
    assert not content, f"page content scrolls sideways on a 768px tablet (px reached per part): {content}"
    if too_wide:
        # Known issue, reported: the navigation bar (templates/base.html, navbar-expand-md) is expanded at
        # 768px and the German labels and the user box do not fit. The page content itself fits.
        pytest.xfail(f"header wider than the 768px tablet viewport: {too_wide}")
