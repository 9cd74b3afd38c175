"""Security headers: CSP without inline scripts, Permissions-Policy, no caching of application responses."""

import re
from pathlib import Path

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

REPO_ROOT = Path(__file__).resolve().parent.parent


def csp_directives(response):
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in header.split(";") if part.strip()}


@pytest.mark.parametrize("url_name", ["login", "accounts:password-reset", "api-docs"])
def test_csp_allows_scripts_from_this_site_only(client, db, url_name):
    response = client.get(reverse(url_name))
    directives = csp_directives(response)
    assert directives["script-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert "'unsafe-inline'" not in directives["script-src"] and "'unsafe-eval'" not in directives["script-src"]
    assert "geolocation=()" in response["Permissions-Policy"]


def test_no_template_has_an_inline_script_or_event_handler():
    offenders = []
    for path in REPO_ROOT.glob("*/templates/**/*.html"):
        if ".venv" in path.parts:
            continue
        text = path.read_text()
        for match in re.finditer(r"<script\b([^>]*)>", text):
            attributes = match.group(1)
            if "src=" not in attributes and "application/json" not in attributes:
                offenders.append(f"{path}: {match.group(0)}")
        offenders += [f"{path}: {m.group(0)}" for m in re.finditer(r"\son[a-z]+\s*=", text)]
    assert offenders == []


def test_swagger_ui_page_loads_its_script_from_a_url(client, db):
    html = client.get(reverse("api-docs")).content.decode()
    inline = [m for m in re.finditer(r"<script\b([^>]*)>(.*?)</script>", html, re.S) if m.group(2).strip()]
    assert inline == []


def test_authenticated_pages_and_api_are_not_cached(client, referrer, make_referral):
    referral = make_referral()
    client.force_login(referrer)
    for url in (reverse("home"), reverse("referrals:list"), reverse("referrals:detail", args=[referral.pk]),
                "/api/v1/me/"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert "no-store" in response["Cache-Control"], url
    api = APIClient()
    api.force_authenticate(referrer)
    assert "no-store" in api.get(f"/api/v1/referrals/{referral.pk}/")["Cache-Control"]


def test_login_page_is_not_cached_either(client, db):
    assert "no-store" in client.get(reverse("login"))["Cache-Control"]
