"""Issue 12 in real headless Chromium: a stranger gets it right the first time.

- the live checklist's states, the error summary with two empty fields,
- "file a first referral" and "new institution + contact person" in at most 12 decisions each,
- no sideways scrolling at 390 and 768 px, axe (WCAG 2.1 A/AA) clean on every reachable page,
- French, Italian and German browsers, and the language switch.

How decisions are counted: every action a person takes after logging in - a click on a link or button that
moves them on, a field typed into, a box ticked, a radio or option chosen - is one decision (class Walk).
Accepting a preset value (planned duration 6 months, the only responsible receiver preselected, the first
person's roles preset to contact person + case worker) costs nothing. Screenshots in test-artifacts/browser/.
"""

import datetime

import browser_support as bs
import pytest
from conftest import PASSWORD, VALID_AHV
from django.utils import timezone

from institutions.models import Institution, Membership, Municipality
from referrals.models import Referral, Status
from reporting import services as reporting_services
from reporting.kpi import Period

try:
    from playwright.sync_api import expect
except ImportError:  # the `chromium` fixture skips (or fails in CI) with the reason
    expect = None

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
MAX_DECISIONS = 12


def _swiss(days=0):
    return (timezone.localdate() + datetime.timedelta(days=days)).strftime("%d.%m.%Y")


class Walk:
    """Counts a person's decisions while acting on a page."""

    def __init__(self, page):
        self.page, self.decisions = page, []

    def _note(self, what):
        self.decisions.append(what)

    def click(self, selector, navigates=True):
        self._note(f"click {selector}")
        if navigates:
            with self.page.expect_navigation():
                self.page.locator(selector).first.click()
        else:
            self.page.locator(selector).first.click()

    def fill(self, selector, value):
        self._note(f"type {selector}")
        self.page.fill(selector, value)

    def check(self, selector):
        self._note(f"tick {selector}")
        self.page.check(selector)

    def select(self, selector, value):
        self._note(f"choose {selector}")
        self.page.select_option(selector, value=value)


# --- 1. The live checklist and the error summary -------------------------------------------------------------

def test_the_live_checklist_shows_met_not_met_and_open_and_the_summary_never_misleads(log_in, directory, referrer):
    sd = log_in(referrer)
    page = sd.page
    sd.goto("/faelle/neu/")
    expect(page.locator("#error-summary")).to_have_count(0)
    expect(page.locator("#assessment .alert-danger")).to_have_count(0)  # no error before the first input
    page.check("input[name=receiving_kind][value=iv]")
    checklist = page.locator("#assessment [data-testid=checklist]")
    expect(checklist.locator("[data-state=unknown]").first).to_be_visible()
    expect(checklist.locator("[data-state=met]").first).to_be_visible()

    page.check("#id_iv_procedure_running")
    expect(checklist.locator("[data-state=not_met]")).to_have_count(1)
    expect(checklist.locator("[data-state=not_met]")).to_contain_text(bs.any_of("IV procedure", "IV-Verfahren"))

    page.check("#id_iv_health_damage_suspected")
    expect(page.locator("#assessment .alert-danger")).to_be_visible()
    expect(page.locator("[data-testid=ready]")).to_have_count(0)
    bs.screenshot(page, "stranger-checklist-hard-stop")
    page.uncheck("#id_iv_health_damage_suspected")
    page.uncheck("#id_iv_procedure_running")

    # Fill the rest; a recent IV rejection needs a justification, shown next to the justification field.
    page.fill("#id_first_name", "Mara")
    page.fill("#id_last_name", "Beispiel")
    page.fill("#id_date_of_birth", "02.03.1984")
    page.fill("#id_ahv_number", VALID_AHV)
    page.select_option("#id_municipality", value=str(directory["luzern"].pk))
    page.fill("#id_mandate", "Job coaching until a stable placement")
    page.fill("#id_consent_given_on", _swiss(-2))
    page.check("input[name=consent_form][value=written]")
    page.fill("#id_last_iv_rejection_on", _swiss(-30))
    page.locator("#id_last_iv_rejection_on").blur()
    warnings = page.locator("#section-send [data-testid=justification-warnings]")
    expect(warnings).to_be_visible()
    expect(page.locator("[data-testid=ready]")).to_have_count(0)
    expect(page.locator("[data-testid=assessment-summary]")).to_contain_text(bs.any_of("1 point", "1 Punkt"))
    bs.screenshot(page, "stranger-checklist-needs-justification")
    page.fill("#id_justification", "The health situation has changed since the decision.")
    page.locator("#id_justification").blur()
    expect(page.locator("[data-testid=ready]")).to_be_visible()
    expect(page.locator("#id_receiving_institution")).to_have_value(str(directory["iv"].pk))  # preselected


def test_the_error_summary_lists_both_empty_names_in_field_order(log_in, directory, referrer):
    sd = log_in(referrer)
    page = sd.page
    sd.goto("/faelle/neu/")
    page.fill("#id_date_of_birth", "02.03.1984")
    page.fill("#id_ahv_number", VALID_AHV)
    page.select_option("#id_municipality", value=str(directory["luzern"].pk))
    page.check("input[name=receiving_kind][value=iv]")
    expect(page.locator("#id_receiving_institution")).to_have_value(str(directory["iv"].pk))
    page.fill("#id_mandate", "Job coaching until a stable placement")
    page.fill("#id_consent_given_on", _swiss(-2))
    page.check("input[name=consent_form][value=written]")
    response = sd.submit("#referral-form", "button[name=send]")
    assert response.status == 400
    bs.screenshot(page, "stranger-error-summary-two-names")
    summary = page.locator("#error-summary")
    expect(summary).to_be_focused()
    links = summary.locator("a").evaluate_all("(links) => links.map((a) => a.getAttribute('href'))")
    assert links == ["#id_first_name", "#id_last_name"], links
    expect(page.locator("#id_first_name_error")).to_be_visible()
    expect(page.locator("#id_last_name_error")).to_be_visible()
    draft = Referral.objects.get()
    assert draft.status == Status.DRAFT
    expect(page.locator("main")).to_contain_text(draft.reference)  # the page says it saved a draft


# --- 2. Decisions -------------------------------------------------------------------------------------------

def test_filing_a_first_referral_takes_at_most_12_decisions(log_in, directory, referrer):
    sd = log_in(referrer)
    walk = Walk(sd.page)
    page = sd.page
    walk.click("main a[href$='/faelle/neu/']")
    walk.fill("#id_first_name", "Mara")
    walk.fill("#id_last_name", "Beispiel")
    walk.fill("#id_date_of_birth", "02.03.1984")
    walk.fill("#id_ahv_number", VALID_AHV)
    walk.select("#id_municipality", str(directory["luzern"].pk))
    walk.check("#id_in_social_counselling")
    walk.check("input[name=receiving_kind][value=iv]")
    expect(page.locator("#id_receiving_institution")).to_have_value(str(directory["iv"].pk))
    walk.fill("#id_mandate", "Job coaching until a stable placement in the first labour market")
    walk.fill("#id_consent_given_on", _swiss(-1))
    walk.check("input[name=consent_form][value=written]")
    expect(page.locator("[data-testid=ready]")).to_be_visible()
    bs.screenshot(page, "stranger-first-referral-ready")
    walk.click("#referral-form button[name=send]")
    referral = Referral.objects.get()
    assert referral.status == Status.SUBMITTED, page.url
    assert referral.receiving_institution == directory["iv"] and referral.planned_duration_months == 6
    assert len(walk.decisions) <= MAX_DECISIONS, walk.decisions
    print(f"file a first referral: {len(walk.decisions)} decisions after login: {walk.decisions}")


def test_new_institution_with_contact_person_takes_at_most_12_decisions_and_is_axe_clean(log_in, administrator,
                                                                                         directory):
    admin = log_in(administrator)
    page = admin.page
    walk = Walk(page)
    walk.click("nav a[href$='/verzeichnis/verwalten/']")
    walk.click("main a[href$='/verzeichnis/verwalten/neu/']")
    found = bs.serious(bs.run_axe(page))
    assert not found, bs.format_violations("new institution form", found)
    walk.fill("#id_name", "RAV Sursee")
    walk.check("input[name=kind][value=rav]")
    walk.fill("#id_email", "rav.sursee@example.ch")
    walk.fill("#id_phone", "041 000 00 10")
    walk.fill("#id_municipalities", "Sursee (1103)")
    walk.fill("#id_people-0-first_name", "Rita")
    walk.fill("#id_people-0-last_name", "Kunz")
    walk.fill("#id_people-0-email", "rita.kunz@example.ch")
    walk.fill("#id_people-0-phone", "041 000 00 11")
    bs.screenshot(page, "stranger-new-institution-filled")
    walk.click("#institution-form button[type=submit]")
    institution = Institution.objects.get(name="RAV Sursee")
    assert list(institution.municipalities.all()) == [Municipality.objects.get(bfs_number=1103)]
    membership = Membership.objects.get(institution=institution)
    assert membership.is_contact_person and membership.user.get_full_name() == "Rita Kunz"
    assert len(walk.decisions) <= MAX_DECISIONS, walk.decisions
    print(f"new institution + contact person: {len(walk.decisions)} decisions: {walk.decisions}")
    bs.screenshot(page, "stranger-new-institution-saved")
    found = bs.serious(bs.run_axe(page))
    assert not found, bs.format_violations("institution page after saving", found)


# --- 3. Phones and tablets ----------------------------------------------------------------------------------

SCROLLS = "() => ({scroll: document.documentElement.scrollWidth, inner: window.innerWidth})"


@pytest.mark.parametrize("viewport", [PHONE, bs.TABLET, bs.DESKTOP], ids=["390", "768", "1280"])
def test_no_page_scrolls_sideways_on_phones_and_tablets(log_in, cost_approval, receiving_worker, coordinator,
                                                        administrator, viewport):
    worker = log_in(receiving_worker, viewport=viewport)
    kpi = log_in(coordinator, viewport=viewport)
    admin = log_in(administrator, viewport=viewport)
    pages = [("start", worker, "/"), ("form", worker, "/faelle/neu/"),
             ("case", worker, bs.case_path(cost_approval.referral)), ("list", worker, "/faelle/"),
             ("kpi", kpi, "/kennzahlen/"), ("directory-admin", admin, "/verzeichnis/verwalten/"),
             ("institution", admin, f"/verzeichnis/verwalten/{cost_approval.referral.receiving_institution_id}/")]
    too_wide = {}
    for name, persona, path in pages:
        assert persona.goto(path).status == 200, path
        bs.screenshot(persona.page, f"stranger-{viewport['width']}-{name}")
        widths = persona.page.evaluate(SCROLLS)
        if widths["scroll"] > widths["inner"]:
            too_wide[path] = widths
    assert not too_wide, f"pages scroll sideways at {viewport['width']} px: {too_wide}"


# --- 4. Accessibility on every reachable page ----------------------------------------------------------------

def test_axe_finds_nothing_serious_on_any_reachable_page(log_in, chromium, live_server, make_referral, cost_approval,
                                                         referrer, contact_person, receiving_worker, signatory,
                                                         coordinator, administrator, settings, tmp_path):
    submitted = make_referral(Status.SUBMITTED)
    accepted = make_referral(Status.ACCEPTED)
    closed = make_referral(Status.CLOSED)
    sd, iv, worker = log_in(referrer), log_in(contact_person), log_in(receiving_worker)
    sign, coord, admin = log_in(signatory), log_in(coordinator), log_in(administrator)
    pages = [
        ("start (referrer)", sd, "/"), ("list", sd, "/faelle/"), ("search", sd, "/faelle/?q=Beispiel"),
        ("directory", sd, "/verzeichnis/"), ("new referral", sd, "/faelle/neu/"),
        ("case submitted (referrer)", sd, bs.case_path(submitted)),
        ("start (contact person)", iv, "/"), ("decide", iv, bs.case_path(submitted)),
        ("meeting form (accepted)", worker, bs.case_path(accepted)),
        ("status meeting and cost forms (active)", worker, bs.case_path(cost_approval.referral)),
        ("closed case", worker, bs.case_path(closed)),
        ("start (signatory)", sign, "/"), ("cost approval to sign", sign, bs.case_path(cost_approval.referral)),
        ("start (coordinator)", coord, "/"), ("key figures", coord, "/kennzahlen/"),
        ("directory admin", admin, "/verzeichnis/verwalten/"),
        ("new institution", admin, "/verzeichnis/verwalten/neu/"),
        ("edit institution", admin, f"/verzeichnis/verwalten/{submitted.receiving_institution_id}/"),
        ("404", sd, "/faelle/999999/"),
    ]
    report = []
    for where, persona, path in pages:
        persona.goto(path)
        # Open every folded part (meeting, cost approval, invoice forms) so axe checks those forms too.
        persona.page.evaluate("document.querySelectorAll('details').forEach((d) => { d.open = true; })")
        found = bs.serious(bs.run_axe(persona.page))
        if found:
            report.append(bs.format_violations(f"{where} {path}", found))
    # Pages after an error or an action.
    sd.goto("/faelle/neu/")
    sd.submit("#referral-form", "button[name=send]")
    report += [bs.format_violations("form with errors", f) for f in [bs.serious(bs.run_axe(sd.page))] if f]
    admin.goto("/verzeichnis/verwalten/neu/")
    admin.submit("#institution-form")
    report += [bs.format_violations("institution form with errors", f)
               for f in [bs.serious(bs.run_axe(admin.page))] if f]
    # A report's page (built here through the service: the PDF takes seconds on a busy machine).
    settings.MEDIA_ROOT = tmp_path / "media"
    snapshot = reporting_services.snapshot_request(actor=coordinator, period=Period())
    coord.goto(f"/kennzahlen/berichte/{snapshot.pk}/")
    report += [bs.format_violations("report page", f) for f in [bs.serious(bs.run_axe(coord.page))] if f]
    # The login page, anonymous.
    context = chromium.new_context(locale="de-CH")
    page = context.new_page()
    page.goto(live_server.url + "/anmelden/")
    report += [bs.format_violations("login", f) for f in [bs.serious(bs.run_axe(page))] if f]
    context.close()
    assert not report, "\n\n" + "\n\n".join(report)


# --- 5. Three languages -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("locale", "lang", "login_button", "new_referral"), [
    ("fr-CH", "fr", "Se connecter", "Nouveau transfert"),
    ("it-CH", "it", "Accedi", "Nuovo trasferimento"),
    ("en-US", "de", "Anmelden", "Neue Zuweisung"),  # an English browser gets German, the default
])
def test_a_french_italian_or_english_browser_gets_the_right_language(chromium, live_server, referrer, locale,
                                                                     lang, login_button, new_referral):
    context = chromium.new_context(locale=locale, viewport=bs.DESKTOP)
    page = context.new_page()
    try:
        page.goto(live_server.url + "/anmelden/")
        expect(page.locator("html")).to_have_attribute("lang", lang)
        expect(page.locator("main button[type=submit]")).to_contain_text(login_button)
        page.fill("#id_username", referrer.username)
        page.fill("#id_password", PASSWORD)
        with page.expect_navigation():
            page.click("main form button[type=submit]")
        expect(page.locator("nav")).to_contain_text(new_referral)
        bs.screenshot(page, f"stranger-language-{lang}-{locale}")
        found = bs.serious(bs.run_axe(page))
        assert not found, bs.format_violations(f"start page in {locale}", found)
    finally:
        context.close()


def test_the_language_switch_in_the_header_is_remembered_for_the_user(log_in, referrer, chromium, live_server):
    sd = log_in(referrer)
    page = sd.page
    with page.expect_navigation():
        page.click("[data-testid=language-switch] button[value=it-ch]")
    expect(page.locator("html")).to_have_attribute("lang", "it")
    referrer.refresh_from_db()
    assert referrer.language == "it-ch"
    # A new browser (German) with a fresh log-in still gets Italian: the setting is the user's.
    context = chromium.new_context(locale="de-CH")
    other = context.new_page()
    try:
        other.goto(live_server.url + "/anmelden/")
        other.fill("#id_username", referrer.username)
        other.fill("#id_password", PASSWORD)
        with other.expect_navigation():
            other.click("main form button[type=submit]")
        expect(other.locator("html")).to_have_attribute("lang", "it")
    finally:
        context.close()
