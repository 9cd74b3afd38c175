"""Account security in real headless Chromium: second-factor enrolment, lockout page, account page, and no
Content-Security-Policy violation on the pages that use scripts (referral form with htmx, KPI charts, API docs)."""

import re

import browser_support as bs
import pytest
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _csp_errors(persona):
    errors = []
    persona.page.on("console", lambda message: errors.append(message.text)
                    if "Content Security Policy" in message.text or "Refused to" in message.text else None)
    return errors


def test_signatory_sets_up_the_second_factor_at_first_login(log_in, signatory, settings):
    settings.MFA_REQUIRED = True
    shots = bs.Shots("accounts-")
    persona = log_in(signatory)
    page = persona.page
    assert page.url.endswith("/konto/zwei-faktor/einrichten/")
    shots(page, "mfa-enrol-desktop")
    assert not bs.serious(bs.run_axe(page)), bs.format_violations("enrol", bs.serious(bs.run_axe(page)))
    page.set_viewport_size(bs.TABLET)
    shots(page, "mfa-enrol-tablet")
    assert bs.overflow(page) == {}
    page.set_viewport_size(bs.DESKTOP)
    # Another page is not reachable yet.
    persona.goto("/faelle/")
    assert page.url.endswith("/konto/zwei-faktor/einrichten/")
    # A wrong code: German message at the field, still on the page.
    page.fill("#id_code", "000000")
    persona.submit("main form.form-section")
    assert page.locator("#error-summary").is_visible()
    shots(page, "mfa-enrol-wrong-code")
    # After a wrong code django-otp refuses any code for a second (throttle factor 1): a person reads the message.
    page.wait_for_timeout(2500)
    device = TOTPDevice.objects.get(user=signatory, confirmed=False)
    code = f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift + 1):06d}"
    page.fill("#id_code", code)
    persona.submit("main form.form-section")
    assert page.url.endswith("/konto/zwei-faktor/wiederherstellungscodes/")
    assert len(re.findall(r"\b[a-z2-7]{8}\b", page.locator("[data-testid=recovery-codes]").inner_text())) == 10
    shots(page, "recovery-codes")
    with page.expect_navigation():
        page.click("main a.btn-primary")
    persona.goto("/faelle/")
    assert page.url.endswith("/faelle/")
    persona.goto("/konto/")
    shots(page, "account-desktop")
    assert not bs.serious(bs.run_axe(page))
    page.set_viewport_size(bs.TABLET)
    shots(page, "account-tablet")
    assert bs.overflow(page) == {}


def test_locked_out_page_in_german(chromium, live_server, referrer):
    context = chromium.new_context(viewport=bs.DESKTOP, locale="de-CH")
    page = context.new_page()
    try:
        for password in ["falsch"] * 5 + [PASSWORD]:
            page.goto(live_server.url + "/anmelden/")
            page.fill("#id_username", referrer.username)
            page.fill("#id_password", password)
            with page.expect_navigation():
                page.click("main form button[type=submit]")
        assert "gesperrt" in page.locator("main").inner_text()
        bs.screenshot(page, "accounts-locked-out")
        assert not bs.serious(bs.run_axe(page))
    finally:
        context.close()


def test_pages_with_scripts_raise_no_csp_violation(log_in, referrer, coordinator, make_referral):
    make_referral()
    worker = log_in(referrer)
    errors = _csp_errors(worker)
    worker.goto("/faelle/neu/")
    worker.page.fill("#id_mandate", "Job coaching")  # htmx posts the form to the check on change
    worker.page.keyboard.press("Tab")
    worker.page.wait_for_timeout(800)
    worker.goto("/api/docs/")
    worker.page.wait_for_selector(".swagger-ui .info", timeout=bs.TIMEOUT_MS)
    boss = log_in(coordinator)
    errors += _csp_errors(boss)
    boss.goto("/kennzahlen/")
    boss.page.wait_for_timeout(800)
    assert errors == []
