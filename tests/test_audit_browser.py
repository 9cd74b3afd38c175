"""Need to know and the audit trail in headless Chromium: the party shows the AHV number on request, the
coordinator sees a pseudonymised case, the data-protection officer reads who saw it. Screenshots at 1280x800 and
768x1024 land in test-artifacts/browser/audit-*.png; axe finds nothing serious."""

import browser_support as bs
import pytest

from referrals.models import Status
from tests.conftest import VALID_AHV

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def check_page(page, name):
    bs.screenshot(page, name)
    assert bs.overflow(page) == {}, name
    violations = bs.serious(bs.run_axe(page))
    assert violations == [], bs.format_violations(name, violations)


@pytest.mark.parametrize("viewport", ["desktop", "tablet"])
def test_party_coordinator_and_data_protection_in_the_browser(log_in, make_referral, referrer, coordinator,
                                                              data_protection, outsider, viewport):
    size = bs.DESKTOP if viewport == "desktop" else bs.TABLET
    referral = make_referral(Status.SUBMITTED)

    party = log_in(referrer, viewport=size)
    party.goto(bs.case_path(referral))
    assert VALID_AHV not in party.page.content()
    party.submit(f"form[action='/faelle/{referral.pk}/ahv-anzeigen/']")
    assert VALID_AHV in party.page.locator("[data-testid=ahv]").inner_text()
    check_page(party.page, f"audit-{viewport}-1-party-ahv-shown")

    boss = log_in(coordinator, viewport=size)
    boss.goto(bs.case_path(referral))
    html = boss.page.content()
    assert "Beispiel" not in html and "Mara" not in html
    assert boss.page.locator("[data-testid=pseudonymised]").count() == 1
    check_page(boss.page, f"audit-{viewport}-2-coordinator-case")
    boss.goto("/faelle/")
    assert "Beispiel" not in boss.page.content()
    check_page(boss.page, f"audit-{viewport}-3-coordinator-list")

    stranger = log_in(outsider, viewport=size)
    assert stranger.goto(bs.case_path(referral)).status == 404

    officer = log_in(data_protection, viewport=size)
    officer.goto("/datenschutz/")
    officer.page.fill("#id_referral", referral.reference)
    officer.submit("main form")
    table = officer.page.locator("[data-testid=audit-table]").inner_text()
    assert "Sandra Meier" in table and "Karin Odermatt" in table and "Otto Fischer" in table
    check_page(officer.page, f"audit-{viewport}-4-data-protection-log")
