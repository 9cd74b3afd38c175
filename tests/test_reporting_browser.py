"""The key figures page in headless Chromium with the pilot's 52 referrals: charts drawn, every chart with
its table, no sideways scrolling, no serious accessibility violations, a report created and downloadable.

Screenshots land in test-artifacts/browser/reporting-*.png for people to look at.
"""

import datetime

import browser_support as bs
import pytest
from django.utils import timezone
from test_reporting_pilot_data import PILOT_SHEET, build_pilot, flatten, make_user

from reporting.models import ReportSnapshot, SnapshotStatus

try:
    from playwright.sync_api import expect
except ImportError:  # the `chromium` fixture skips (or fails in CI) with the reason
    expect = None

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHARTS_DRAWN = """() => {
    const canvases = Array.from(document.querySelectorAll('canvas'));
    return canvases.length > 0 && window.Chart && canvases.every((c) => window.Chart.getChart(c));
}"""


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def save_parts(page, name, height=1000):
    """The full page in screen-sized parts (a full-page PNG is too tall to look at in one piece)."""
    for old in bs.ARTIFACTS.glob(f"{name}-part*.png"):
        old.unlink()
    total = page.evaluate("document.documentElement.scrollHeight")
    width = page.viewport_size["width"]
    for number, top in enumerate(range(0, total, height), start=1):
        clip = {"x": 0, "y": top, "width": width, "height": min(height, total - top)}
        page.screenshot(path=str(bs.ARTIFACTS / f"{name}-part{number}.png"), clip=clip, full_page=True,
                        animations="disabled")


def test_dashboard_with_the_pilot_data(log_in, media):
    # Four years of pilot ending a few weeks ago, so "waiting longest" and the trend look like today.
    today = timezone.localdate()
    directory = build_pilot(start=today - datetime.timedelta(days=51 * 24 + 200), spacing_days=24)
    coordinator = make_user("koordination.iiz", directory["rav"], ["coordinator"])

    persona = log_in(coordinator)
    page = persona.page
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    response = persona.goto("/kennzahlen/")
    assert response.status == 200
    page.wait_for_function(CHARTS_DRAWN)
    assert not errors, errors

    # The sheet's numbers as the browser shows them.
    for key, value in flatten(PILOT_SHEET):
        expect(page.locator(f"#table-parties [data-kpi='{key}'], main table [data-kpi='{key}']").first
               ).to_have_text(str(value))
    # Every chart has its table.
    for canvas_id in page.eval_on_selector_all("canvas", "(cs) => cs.map((c) => c.id)"):
        key = canvas_id.removeprefix("chart-")
        assert page.locator(f"#table-{key}").count() == 1, key
    page.screenshot(path=str(bs.ARTIFACTS / "reporting-dashboard-1280-top.png"), animations="disabled")
    bs.screenshot(page, "reporting-dashboard-1280-full")

    save_parts(page, "reporting-dashboard-1280")
    assert bs.overflow(page) == {}
    violations = bs.serious(bs.run_axe(page))
    assert not violations, bs.format_violations("key figures", violations)

    # The coordinator creates the report of the whole time (eager Celery) and gets the three files.
    with page.expect_navigation():
        page.locator("form[action$='/kennzahlen/berichte/neu/'] button[type=submit]").click()
    snapshot = ReportSnapshot.objects.get()
    assert snapshot.status == SnapshotStatus.DONE, snapshot.error
    links = page.locator(f"#snapshot-list a[href*='/kennzahlen/berichte/{snapshot.pk}/']")
    expect(links).to_have_count(4)  # the report's page, PDF, Excel, CSV
    page.locator("#reports").scroll_into_view_if_needed()
    page.screenshot(path=str(bs.ARTIFACTS / "reporting-reports-1280.png"), animations="disabled")
    with page.expect_download() as download:
        page.locator(f"#snapshot-list a[href$='/berichte/{snapshot.pk}/pdf/']").click()
    assert download.value.suggested_filename.endswith(".pdf")

    # The report's own page (the monthly e-mail links to it).
    persona.goto(f"/kennzahlen/berichte/{snapshot.pk}/")
    page.wait_for_function(CHARTS_DRAWN)
    bs.screenshot(page, "reporting-snapshot-1280-full")

    # On a tablet: no sideways scrolling either.
    tablet = log_in(coordinator, viewport=bs.TABLET)
    tablet.goto("/kennzahlen/")
    tablet.page.wait_for_function(CHARTS_DRAWN)
    bs.screenshot(tablet.page, "reporting-dashboard-768-full")
    assert "main" not in bs.overflow(tablet.page)  # (the site header is base.html's business)
