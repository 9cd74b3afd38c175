"""Helpers for the browser tests (tests/test_browser.py): Chromium, log-in per persona, screenshots, axe.

The pages are found by stable attributes (ids, form actions, names, data-testid), never by visible text:
the user interface is translated to German, so text changes. Where text must be checked, accept either
language (see `any_of`).
"""

import json
import os
import re
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path(os.environ.get("OPTIMA_CHROMIUM", "/usr/bin/chromium"))
AXE_JS = Path(__file__).resolve().parent / "assets" / "axe.min.js"
ARTIFACTS = REPO_ROOT / "test-artifacts" / "browser"

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
DESKTOP = {"width": 1280, "height": 800}
TABLET = {"width": 768, "height": 1024}
# Keep the browser tests fast: a step that takes longer than this is a failure, not something to wait for.
TIMEOUT_MS = 10_000


def browser_required():
    return os.environ.get("OPTIMA_REQUIRE_BROWSER") == "1"


def skip_or_fail(reason):
    """Skip locally when the browser is missing; fail in CI (OPTIMA_REQUIRE_BROWSER=1), where it must be there."""
    if browser_required():
        pytest.fail(f"{reason} (OPTIMA_REQUIRE_BROWSER=1, so this is a failure)", pytrace=False)
    pytest.skip(f"{reason}; install Debian's chromium and the playwright package to run the browser tests")


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


def any_of(*texts):
    """A regular expression matching any of the given texts (English source string or German translation)."""
    return re.compile("|".join(re.escape(t) for t in texts), re.IGNORECASE)


class Shots:
    """Numbered full-page screenshots of every page visited: test-artifacts/browser/<NN>-<step>.png."""

    def __init__(self, prefix=""):
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.prefix = prefix
        self.count = 0

    def __call__(self, page, step):
        self.count += 1
        name = f"{self.prefix}{self.count:02d}-{step}.png"
        page.screenshot(path=str(ARTIFACTS / name), full_page=True, animations="disabled", caret="initial")
        return ARTIFACTS / name


def screenshot(page, name):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True, animations="disabled", caret="initial")
    return ARTIFACTS / f"{name}.png"


class Persona:
    """One person in their own browser context (own cookies), logged in through the login page."""

    def __init__(self, browser, base_url, user, password, viewport=None):
        self.user = user
        self.base_url = base_url.rstrip("/")
        self.context = browser.new_context(viewport=viewport or DESKTOP, locale="de-CH",
                                           timezone_id="Europe/Zurich")
        self.context.set_default_timeout(TIMEOUT_MS)
        self.page = self.context.new_page()
        # Final and destructive actions ask with window.confirm (forms with data-confirm): say yes.
        self.dialogs = []
        self.page.on("dialog", self._accept_dialog)
        self.login(password)

    def _accept_dialog(self, dialog):
        self.dialogs.append(dialog.message)
        dialog.accept()

    def url(self, path):
        return self.base_url + path

    def goto(self, path):
        response = self.page.goto(self.url(path))
        return response

    def login(self, password):
        page = self.page
        page.goto(self.url("/anmelden/"))
        page.fill("#id_username", self.user.username)
        page.fill("#id_password", password)
        with page.expect_navigation():
            page.click("main form button[type=submit]")
        if "/anmelden/" in page.url:
            raise AssertionError(f"login failed for {self.user.username}: still on {page.url}")

    def submit(self, form_selector, button="button[type=submit]"):
        """Press the form's submit button and wait for the page the server answers with."""
        with self.page.expect_navigation() as navigation:
            self.page.locator(form_selector).locator(button).first.click()
        return navigation.value

    def close(self):
        self.context.close()


# How far the page's parts reach to the right (px): more than the viewport means sideways scrolling.
OVERFLOW_JS = """() => {
    const right = (selector) => Math.max(0, ...Array.from(document.querySelectorAll(selector),
        (el) => el.getBoundingClientRect().right + window.scrollX));
    return {page: document.documentElement.scrollWidth, header: right('header *'), main: right('main *'),
            footer: right('footer *')};
}"""


def overflow(page):
    """The parts of the page (header, main, footer) that stick out to the right of the viewport."""
    width = page.viewport_size["width"]
    reach = page.evaluate(OVERFLOW_JS)
    return {part: round(px) for part, px in reach.items() if part != "page" and px > width + 1}


def case_path(referral):
    return f"/faelle/{referral.pk}/"


def pk_from_case_url(url):
    match = re.search(r"/faelle/(\d+)/(?:[#?].*)?$", url)
    assert match, f"not a case page: {url}"
    return int(match.group(1))


def run_axe(page, tags=("wcag2a", "wcag2aa")):
    """Inject the vendored axe-core and return its violations (a list of dicts)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        # Evaluated through the DevTools protocol: the page's Content-Security-Policy refuses inline script tags.
        page.evaluate(AXE_JS.read_text(encoding="utf-8") + "\n;undefined")
    result = page.evaluate(
        "async (tags) => await axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})",
        list(tags),
    )
    return result["violations"]


def serious(violations):
    return [v for v in violations if v.get("impact") in ("serious", "critical")]


def format_violations(where, violations):
    lines = [f"{where}: {len(violations)} serious/critical accessibility violation(s)"]
    for v in violations:
        lines.append(f"  [{v['impact']}] {v['id']}: {v['help']} ({v['helpUrl']})")
        for node in v["nodes"][:5]:
            target = " ".join(json.dumps(t) if not isinstance(t, str) else t for t in node["target"])
            lines.append(f"      at {target}")
            summary = (node.get("failureSummary") or "").replace("\n", " ")
            if summary:
                lines.append(f"         {summary[:300]}")
        if len(v["nodes"]) > 5:
            lines.append(f"      ... and {len(v['nodes']) - 5} more")
    return "\n".join(lines)
