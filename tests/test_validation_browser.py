"""Plausible input in a real browser (issue 10): the character counter, a German error at an implausible date
with the input kept, and the "file too large" page. Screenshots at 1280x800 and 768x1024 in
test-artifacts/browser/ (validation-*.png).
"""

import browser_support as bs
import pytest
from conftest import VALID_AHV

from referrals.models import Referral, Status

try:
    from playwright.sync_api import expect
except ImportError:  # the `chromium` fixture skips (or fails in CI) with the reason
    expect = None

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "tablet": {"width": 768, "height": 1024}}


@pytest.mark.parametrize("size", VIEWPORTS)
def test_counter_and_a_birth_date_in_2200_on_the_application_form(log_in, directory, referrer, size):
    persona = log_in(referrer, viewport=VIEWPORTS[size])
    page = persona.page
    persona.goto("/faelle/neu/")
    counter = page.locator("#id_mandate_count")
    expect(counter).to_have_text("0 von 5000 Zeichen")
    page.fill("#id_first_name", "Mara")
    page.fill("#id_last_name", "Beispiel")
    page.fill("#id_date_of_birth", "2200-01-01")
    page.fill("#id_ahv_number", VALID_AHV)
    page.fill("#id_mandate", "Job-Coaching bis zu einer stabilen Stelle")
    expect(counter).to_have_text("41 von 5000 Zeichen")
    bs.screenshot(page, f"validation-counter-{size}")
    persona.submit("form#referral-form", "button[name=save]")
    expect(page.locator("#id_date_of_birth_error, .invalid-feedback").first).to_contain_text(
        "Das Geburtsdatum kann nicht in der Zukunft liegen")
    expect(page.locator("#id_mandate")).to_have_value("Job-Coaching bis zu einer stabilen Stelle")
    expect(page.locator("#id_first_name")).to_have_value("Mara")
    bs.screenshot(page, f"validation-birth-date-{size}")
    assert not Referral.objects.exists()
    assert bs.overflow(page) == {}


def test_the_search_explains_a_control_character(log_in, make_referral, referrer):
    make_referral(Status.SUBMITTED)
    persona = log_in(referrer)
    response = persona.goto("/faelle/?q=Mara%00")
    assert response.status == 400
    expect(persona.page.locator("#q_error")).to_contain_text("Steuerzeichen")
    expect(persona.page.locator("#q")).to_have_value("Mara")
    bs.screenshot(persona.page, "validation-search-nul")


@pytest.mark.parametrize("size", VIEWPORTS)
def test_uploads_a_renamed_exe_and_a_too_large_file_in_the_browser(log_in, make_referral, referrer, settings,
                                                                    tmp_path, size):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.REQUEST_MAX_BYTES = 20_000  # small, so the browser test stays fast
    referral = make_referral(Status.SUBMITTED)
    persona = log_in(referrer, viewport=VIEWPORTS[size])
    page = persona.page
    persona.goto(bs.case_path(referral))
    form = "form[action$='/dokumente/']"
    exe = tmp_path / "rechnung.pdf"
    exe.write_bytes(b"MZ\x90\x00" + b"\x00" * 500)
    page.set_input_files(f"{form} input[type=file]", str(exe))
    persona.submit(form)
    expect(page.locator("main")).to_contain_text("keine echte PDF-Datei")
    bs.screenshot(page, f"validation-upload-exe-{size}")
    big = tmp_path / "scan.pdf"
    big.write_bytes(b"%PDF-1.4\n" + b"x" * 60_000)
    page.set_input_files(f"{form} input[type=file]", str(big))
    response = persona.submit(form)
    assert response.status == 413
    expect(page.locator("h1")).to_contain_text("Die Datei ist zu gross")
    bs.screenshot(page, f"validation-upload-too-large-{size}")
    page.locator("main a.btn-primary").click()
    page.wait_for_load_state()
    assert bs.case_path(referral) in page.url
    assert not referral.documents.exists()
