"""The permission matrix: every URL pattern the resolver knows, every persona, the expected status, no leaks.

A new URL pattern without an entry in MATRIX fails ``test_every_url_pattern_has_a_matrix_entry``: add one
(its requests and the status each persona gets). For every persona who may not know the client (everyone but the
referral's case workers, contact persons and signatories) the answer must not contain the client's name, birth
date, AHV number, contact details or free texts - whatever the status.

Entries: ``MATRIX[name] = [probe(method, url, expected, data)]``; ``url`` is a function of the world (the case
and its objects); ``expected`` maps persona -> status (``statuses(default, **overrides)`` builds one).
Keys are URL names (with namespace); a key ending in "/" covers every pattern under that route prefix.
"""

import datetime
from decimal import Decimal

import pytest
from axes.utils import reset as axes_reset
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLResolver, get_resolver
from django.utils import timezone
from rest_framework.test import APIClient

from billing import services as billing
from referrals import services
from referrals.models import Status
from reporting import services as reporting_services
from reporting.kpi import Period
from tests.conftest import VALID_AHV
from tests.test_billing_statements import d as billing_d
from tests.test_billing_statements import run_case

TODAY = timezone.localdate()
PERSONAS = [
    "referrer",
    "contact_person",
    "signatory",
    "coordinator",
    "administrator",
    "data_protection",
    "outsider",
    "anonymous",
]
# The personas who work this case and so may see whom it is about.
KNOWS_CLIENT = {"referrer", "contact_person", "signatory"}
# "Beispiel" alone is also a German word ("zum Beispiel"): the full name and the first name are the secrets.
SECRETS = [
    "Mara",
    "Mara Beispiel",
    "Beispiel Mara",
    "02.03.1984",
    "1984-03-02",
    VALID_AHV,
    "756.9217",
    "079 000 00 00",
    "Mandate-text-only-for-the-parties",
    "Call me back about the CV",
    "Arbeitsvertrag.pdf",
    "Coaching AG",
    "Needed for the placement",
]


def statuses(default, **overrides):
    return {persona: overrides.get(persona, default) for persona in PERSONAS}


def probe(method, url, expected, data=None, fmt="json"):
    return {"method": method, "url": url, "expected": expected, "data": data or {}, "format": fmt}


def parties(status, others=404, **overrides):
    """A referral URL: the parties get `status`, coordinator/admin `others`... anonymous go to the login page."""
    return statuses(
        404,
        **{
            "referrer": status,
            "contact_person": status,
            "signatory": status,
            "coordinator": others,
            "administrator": others,
            "anonymous": 302,
            **overrides,
        },
    )


def case_url(tail=""):
    return lambda w: f"/faelle/{w['case'].pk}/{tail}"


def api_url(tail=""):
    return lambda w: f"/api/v1/referrals/{w['case'].pk}/{tail}"


EVERYONE_LOGGED_IN = statuses(200, anonymous=302)
API_EVERYONE = statuses(200, anonymous=401)
API_CASE = statuses(
    404, referrer=200, contact_person=200, signatory=200, coordinator=200, administrator=200, anonymous=401
)
API_CASE_IDENTITY = statuses(404, referrer=200, contact_person=200, signatory=200, anonymous=401)


def api_action(status, **overrides):
    """An API step on the case: 404 for those who may not see it, 401 anonymous, `status` for the others."""
    return statuses(status, data_protection=404, outsider=404, anonymous=401, **overrides)


ONLY_REFERRER = {"contact_person": 403, "signatory": 403, "coordinator": 403, "administrator": 403}
REPORTS = statuses(403, coordinator=200, administrator=200, anonymous=302)
AUDIT = statuses(403, data_protection=200, anonymous=302)

MATRIX = {
    "home": [probe("GET", lambda w: "/", EVERYONE_LOGGED_IN)],
    "login": [probe("GET", lambda w: "/anmelden/", statuses(302, anonymous=200))],
    "logout": [probe("GET", lambda w: "/abmelden/", statuses(405))],
    "directory": [probe("GET", lambda w: "/verzeichnis/", EVERYONE_LOGGED_IN)],
    "set_language": [probe("POST", lambda w: "/i18n/setlang/", statuses(302), {"language": "en"})],
    "referrals:list": [
        probe("GET", lambda w: "/faelle/", EVERYONE_LOGGED_IN),
        probe("GET", lambda w: "/faelle/?q=Beisp", EVERYONE_LOGGED_IN),
    ],
    "referrals:create": [
        probe(
            "GET",
            lambda w: "/faelle/neu/",
            statuses(403, referrer=200, contact_person=200, outsider=200, anonymous=302),
        )
    ],
    "referrals:check": [probe("POST", lambda w: "/faelle/pruefen/", statuses(200, data_protection=200, anonymous=302))],
    "referrals:detail": [probe("GET", case_url(), parties(200, others=200))],
    "referrals:edit": [probe("GET", case_url("bearbeiten/"), parties(302, others=302))],
    "referrals:ahv_reveal": [probe("POST", case_url("ahv-anzeigen/"), parties(200))],
    "referrals:accept": [probe("POST", case_url("annehmen/"), parties(400, others=400))],
    "referrals:reject": [probe("POST", case_url("ablehnen/"), parties(400, others=400))],
    "referrals:withdraw": [probe("POST", case_url("zurueckziehen/"), parties(403, others=403, referrer=302))],
    "referrals:comment": [probe("POST", case_url("kommentar/"), parties(400, others=400))],
    "referrals:schedule_handover": [probe("POST", case_url("uebergabe/planen/"), parties(400, others=400))],
    "referrals:record_handover": [probe("POST", case_url("uebergabe/protokoll/"), parties(400, others=400))],
    "referrals:schedule_status_meeting": [probe("POST", case_url("standort/planen/"), parties(400, others=400))],
    "referrals:record_status_meeting": [probe("POST", case_url("standort/protokoll/"), parties(400, others=400))],
    "referrals:request_cost_approval": [probe("POST", case_url("kostengutsprache/"), parties(400, others=400))],
    "referrals:approve_cost_approval": [
        probe(
            "POST",
            lambda w: f"/faelle/{w['case'].pk}/kostengutsprache/{w['approval'].pk}/unterschreiben/",
            parties(403, others=403, signatory=302),
        )
    ],
    "referrals:refuse_cost_approval": [
        probe(
            "POST",
            lambda w: f"/faelle/{w['case'].pk}/kostengutsprache/{w['approval'].pk}/ablehnen/",
            parties(400, others=400),
        )
    ],
    "referrals:record_invoice": [
        probe(
            "POST",
            lambda w: f"/faelle/{w['case'].pk}/kostengutsprache/{w['approval'].pk}/rechnung/",
            parties(400, others=400),
        )
    ],
    "referrals:upload_document": [probe("POST", case_url("dokumente/"), parties(400, others=400))],
    "referrals:document": [
        probe("GET", lambda w: f"/faelle/{w['case'].pk}/dokumente/{w['document'].pk}/", parties(200))
    ],
    "reporting:dashboard": [probe("GET", lambda w: "/kennzahlen/", REPORTS)],
    "reporting:model_c": [probe("GET", lambda w: "/kennzahlen/modell-c/", REPORTS)],
    "reporting:snapshots": [probe("GET", lambda w: "/kennzahlen/berichte/", REPORTS)],
    "reporting:snapshot_create": [
        probe(
            "POST",
            lambda w: "/kennzahlen/berichte/neu/",
            statuses(403, coordinator=302, administrator=302, anonymous=302),
        )
    ],
    "reporting:snapshot": [probe("GET", lambda w: f"/kennzahlen/berichte/{w['snapshot'].pk}/", REPORTS)],
    "reporting:snapshot_retry": [
        probe(
            "POST",
            lambda w: f"/kennzahlen/berichte/{w['snapshot'].pk}/wiederholen/",
            statuses(403, coordinator=302, administrator=302, anonymous=302),
        )
    ],
    "reporting:snapshot_download": [
        probe(
            "GET",
            lambda w: f"/kennzahlen/berichte/{w['snapshot'].pk}/csv/",
            statuses(403, coordinator=404, administrator=404, anonymous=302),
        )
    ],
    "audit:log": [probe("GET", lambda w: "/datenschutz/", AUDIT)],
    "audit:export": [probe("GET", lambda w: "/datenschutz/export.csv", AUDIT)],
    "api-audit": [
        probe(
            "GET",
            lambda w: f"/api/v1/audit/?referral={w['case'].pk}",
            statuses(403, data_protection=200, anonymous=401),
        )
    ],
    "reporting_api:kpi": [
        probe("GET", lambda w: "/api/v1/reports/kpi/", statuses(403, coordinator=200, administrator=200, anonymous=401))
    ],
    "api-token": [probe("POST", lambda w: "/api/v1/auth/token/", statuses(400))],
    "api-me": [probe("GET", lambda w: "/api/v1/me/", API_EVERYONE)],
    "api-institution-list": [probe("GET", lambda w: "/api/v1/institutions/", API_EVERYONE)],
    "api-referral-list": [
        probe("GET", lambda w: "/api/v1/referrals/", API_EVERYONE),
        probe("POST", lambda w: "/api/v1/referrals/", statuses(400, anonymous=401)),
    ],
    "api-referral-detail": [
        probe("GET", api_url(), API_CASE),
        probe("PATCH", api_url(), api_action(409, **ONLY_REFERRER)),
    ],
    "api-referral-accept": [probe("POST", api_url("accept/"), api_action(400))],
    "api-referral-ahv": [probe("POST", api_url("ahv/"), API_CASE_IDENTITY)],
    "api-referral-comments": [
        probe("GET", api_url("comments/"), API_CASE_IDENTITY),
        probe("POST", api_url("comments/"), api_action(400)),
    ],
    "api-referral-cost-approvals": [
        probe("GET", api_url("cost-approvals/"), API_CASE),
        probe("POST", api_url("cost-approvals/"), api_action(400)),
    ],
    "api-referral-documents": [
        probe("GET", api_url("documents/"), API_CASE_IDENTITY),
        probe("POST", api_url("documents/"), api_action(400, coordinator=404, administrator=404), fmt="multipart"),
    ],
    "api-referral-handover": [probe("POST", api_url("handover/"), api_action(400))],
    "api-referral-reject": [probe("POST", api_url("reject/"), api_action(400))],
    "api-referral-status-meetings": [probe("POST", api_url("status-meetings/"), api_action(400))],
    "api-referral-submit": [probe("POST", api_url("submit/"), api_action(409, **ONLY_REFERRER))],
    "api-referral-withdraw": [probe("POST", api_url("withdraw/"), api_action(409, **ONLY_REFERRER))],
    "api-cost-approval-approve": [
        probe("POST", lambda w: f"/api/v1/cost-approvals/{w['approval'].pk}/approve/", api_action(403, signatory=200))
    ],
    "api-cost-approval-refuse": [
        probe("POST", lambda w: f"/api/v1/cost-approvals/{w['approval'].pk}/refuse/", api_action(400))
    ],
    "schema": [probe("GET", lambda w: "/api/schema/", statuses(200))],
    "api-docs": [probe("GET", lambda w: "/api/docs/", statuses(200))],
    # --- issue 9: the account pages (own account only; the reset pages are for the logged-out too) ---
    "accounts:account": [probe("GET", lambda w: "/konto/", EVERYONE_LOGGED_IN)],
    "accounts:mfa-enrol": [probe("GET", lambda w: "/konto/zwei-faktor/einrichten/", EVERYONE_LOGGED_IN)],
    "accounts:mfa-verify": [probe("GET", lambda w: "/konto/zwei-faktor/pruefen/", statuses(302))],
    "accounts:mfa-remove": [probe("POST", lambda w: "/konto/zwei-faktor/entfernen/", statuses(200, anonymous=302))],
    "accounts:recovery-codes": [probe("GET", lambda w: "/konto/zwei-faktor/wiederherstellungscodes/", statuses(302))],
    "accounts:recovery-codes-renew": [
        probe("POST", lambda w: "/konto/zwei-faktor/wiederherstellungscodes/neu/", statuses(302))
    ],
    "accounts:token-revoke": [probe("POST", lambda w: "/konto/api-token/widerrufen/", statuses(302))],
    "accounts:token-revoke-all": [probe("POST", lambda w: "/konto/api-token/alle-widerrufen/", statuses(302))],
    "accounts:password-change": [probe("GET", lambda w: "/konto/passwort/aendern/", EVERYONE_LOGGED_IN)],
    "accounts:password-reset": [probe("GET", lambda w: "/konto/passwort/vergessen/", statuses(200))],
    "accounts:password-reset-done": [probe("GET", lambda w: "/konto/passwort/vergessen/gesendet/", statuses(200))],
    "accounts:password-reset-confirm": [probe("GET", lambda w: "/konto/passwort/neu/MQ/invalid-token/", statuses(200))],
    "accounts:password-reset-complete": [probe("GET", lambda w: "/konto/passwort/neu/fertig/", statuses(200))],
    # --- issue 12: language switch and the directory pages for administrators ---
    "language": [probe("POST", lambda w: "/sprache/", statuses(302), {"language": "fr-ch", "next": "/"})],
    "directory_admin": [
        probe("GET", lambda w: "/verzeichnis/verwalten/", statuses(403, administrator=200, anonymous=302))
    ],
    "institution_create": [
        probe("GET", lambda w: "/verzeichnis/verwalten/neu/", statuses(403, administrator=200, anonymous=302))
    ],
    "institution_edit": [
        probe(
            "GET",
            lambda w: f"/verzeichnis/verwalten/{w['case'].receiving_institution_id}/",
            statuses(403, administrator=200, anonymous=302),
        )
    ],
    "institution_remove": [
        probe(
            "POST",
            lambda w: f"/verzeichnis/verwalten/{w['case'].receiving_institution_id}/entfernen/",
            statuses(403, administrator=302, anonymous=302),
        )
    ],
    "directory_import_dry_run": [
        probe(
            "POST", lambda w: "/verzeichnis/verwalten/import-pruefen/", statuses(403, administrator=400, anonymous=302)
        )
    ],
    # --- issue 10: personal data and consent withdrawal on the case ---
    "referrals:change_personal_data": [
        probe(
            "GET",
            case_url("personalien/"),
            statuses(302, referrer=200, contact_person=200, data_protection=404, outsider=404),
        )
    ],
    "referrals:withdraw_consent": [
        probe(
            "POST",
            case_url("einwilligung-widerrufen/"),
            statuses(400, data_protection=404, outsider=404, anonymous=302),
        )
    ],
    # --- issue 13: calendar file of a scheduled meeting ---
    "referrals:meeting_ics": [
        probe(
            "GET",
            lambda w: f"/faelle/{w['case'].pk}/termine/{w['meeting'].pk}.ics",
            statuses(404, referrer=200, contact_person=200, signatory=200, anonymous=302),
        )
    ],
    "reminders:preferences": [probe("GET", lambda w: "/erinnerungen/einstellungen/", statuses(200, anonymous=302))],
    # --- issue 11: measures, invoices, case fees ---
    "referrals:plan_measure": [
        probe("POST", case_url("massnahmen/"), statuses(400, data_protection=404, outsider=404, anonymous=302))
    ],
    "referrals:start_measure": [
        probe(
            "POST",
            lambda w: f"/faelle/{w['case'].pk}/massnahmen/{w['measure'].pk}/starten/",
            statuses(403, contact_person=302, data_protection=404, outsider=404, anonymous=302),
        )
    ],
    "referrals:record_new_invoice": [
        probe("POST", case_url("rechnungen/"), statuses(400, data_protection=404, outsider=404, anonymous=302))
    ],
    "referrals:forward_invoice": [
        probe(
            "POST",
            lambda w: f"/faelle/{w['case'].pk}/rechnungen/{w['invoice'].pk}/weiterleiten/",
            statuses(403, contact_person=302, data_protection=404, outsider=404, anonymous=302),
        )
    ],
    "referrals:confirm_invoice": [
        probe(
            "POST",
            lambda w: f"/faelle/{w['case'].pk}/rechnungen/{w['invoice'].pk}/erhalten/",
            statuses(403, signatory=302, data_protection=404, outsider=404, anonymous=302),
        )
    ],
    "referrals:invoice_file": [
        probe(
            "GET",
            lambda w: f"/faelle/{w['case'].pk}/rechnungen/{w['invoice'].pk}/datei/",
            statuses(404, referrer=200, contact_person=200, signatory=200, anonymous=302),
        )
    ],
    "billing:statements": [probe("GET", lambda w: "/fallpauschalen/", statuses(200, anonymous=302))],
    "billing:build": [
        probe(
            "POST",
            lambda w: "/fallpauschalen/erstellen/",
            statuses(403, coordinator=400, administrator=400, anonymous=302),
        )
    ],
    "billing:settings": [
        probe("GET", lambda w: "/fallpauschalen/einstellungen/", statuses(403, administrator=200, anonymous=302))
    ],
    "billing:statement": [
        probe("GET", lambda w: f"/fallpauschalen/{w['statement'].pk}/", statuses(200, outsider=404, anonymous=302))
    ],
    "billing:download": [
        probe("GET", lambda w: f"/fallpauschalen/{w['statement'].pk}/csv/", statuses(200, outsider=404, anonymous=302))
    ],
    "api-referral-personal-data": [
        probe(
            "POST",
            api_url("personal-data/"),
            statuses(403, referrer=400, contact_person=400, data_protection=404, outsider=404, anonymous=401),
        )
    ],
    "api-referral-withdraw-consent": [
        probe("POST", api_url("withdraw-consent/"), statuses(400, data_protection=404, outsider=404, anonymous=401))
    ],
    "api-measure-list": [
        probe("GET", lambda w: "/api/v1/measures/", statuses(200, anonymous=401)),
        probe("POST", lambda w: "/api/v1/measures/", statuses(400, anonymous=401)),
    ],
    "api-measure-detail": [
        probe(
            "GET",
            lambda w: f"/api/v1/measures/{w['measure'].pk}/",
            statuses(200, data_protection=404, outsider=404, anonymous=401),
        )
    ],
    "api-measure-start": [
        probe(
            "POST",
            lambda w: f"/api/v1/measures/{w['measure'].pk}/start/",
            statuses(403, contact_person=409, data_protection=404, outsider=404, anonymous=401),
        )
    ],
    "api-invoice-list": [probe("GET", lambda w: "/api/v1/invoices/", statuses(200, anonymous=401))],
    "api-invoice-detail": [
        probe(
            "GET",
            lambda w: f"/api/v1/invoices/{w['invoice'].pk}/",
            statuses(200, data_protection=404, outsider=404, anonymous=401),
        )
    ],
    "api-invoice-confirm": [
        probe(
            "POST",
            lambda w: f"/api/v1/invoices/{w['invoice'].pk}/confirm/",
            statuses(403, signatory=409, data_protection=404, outsider=404, anonymous=401),
        )
    ],
    "api-invoice-forward": [
        probe(
            "POST",
            lambda w: f"/api/v1/invoices/{w['invoice'].pk}/forward/",
            statuses(403, contact_person=200, data_protection=404, outsider=404, anonymous=401),
        )
    ],
    "api-fee-statement-list": [probe("GET", lambda w: "/api/v1/fee-statements/", statuses(200, anonymous=401))],
    "api-fee-statement-detail": [
        probe(
            "GET", lambda w: f"/api/v1/fee-statements/{w['statement'].pk}/", statuses(200, outsider=404, anonymous=401)
        )
    ],
    "api-fee-statement-pdf": [
        probe(
            "GET",
            lambda w: f"/api/v1/fee-statements/{w['statement'].pk}/pdf/",
            statuses(200, outsider=404, anonymous=401),
        )
    ],
    # The Django admin: the administrator only (the others are sent to the admin's login page).
    "admin/": [
        probe("GET", lambda w: "/admin/", statuses(302, administrator=200)),
        probe("GET", lambda w: "/admin/institutions/user/", statuses(302, administrator=200)),
    ],
}


def _walk(patterns, prefix="", namespace=None):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = pattern.namespace and (f"{namespace}:{pattern.namespace}" if namespace else pattern.namespace)
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern), inner or namespace)
        else:
            name = pattern.name and (f"{namespace}:{pattern.name}" if namespace else pattern.name)
            yield prefix + str(pattern.pattern), name


def _entry_for(route, name):
    if name in MATRIX:
        return name
    return next((key for key in MATRIX if key.endswith("/") and route.startswith(key)), None)


def test_every_url_pattern_has_a_matrix_entry():
    missing = [
        f"{name or '(unnamed)'} -> /{route}"
        for route, name in _walk(get_resolver().url_patterns)
        if _entry_for(route, name) is None
    ]
    assert missing == [], (
        "URL patterns without an entry in the permission matrix (tests/test_permission_matrix.py):"
        "\n" + "\n".join(missing)
    )


def test_every_matrix_entry_still_exists():
    used = {_entry_for(route, name) for route, name in _walk(get_resolver().url_patterns)}
    assert set(MATRIX) - used == set()


@pytest.fixture
def world(make_referral, referrer, receiving_worker, coordinator, signatory, statement, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    case = make_referral(Status.ACTIVE, mandate="Mandate-text-only-for-the-parties")
    services.comment_add(referral=case, actor=referrer, text="Call me back about the CV")
    document = services.document_upload(
        referral=case,
        actor=receiving_worker,
        kind="other",
        uploaded_file=SimpleUploadedFile("Arbeitsvertrag.pdf", b"%PDF-1.4 x", "application/pdf"),
    )
    approval = services.cost_approval_request(
        referral=case,
        actor=receiving_worker,
        measure="Job coaching",
        provider="Coaching AG",
        amount_chf=Decimal("1800.00"),
        starts_on=TODAY,
        ends_on=TODAY + datetime.timedelta(days=90),
        justification="Needed for the placement",
    )
    snapshot = reporting_services.snapshot_request(actor=coordinator, period=Period())
    # A second measure that went all the way: approved, started, invoiced (issue 11).
    signed = services.cost_approval_request(
        referral=case,
        actor=receiving_worker,
        measure="Arbeitstraining",
        provider="Coaching AG",
        amount_chf=Decimal("900.00"),
        starts_on=TODAY,
        ends_on=TODAY + datetime.timedelta(days=30),
        justification="Needed for the placement",
    )
    services.cost_approval_approve(cost_approval=signed, actor=signatory)
    measure = signed.covered_measure
    services.measure_start(measure=measure, actor=receiving_worker, started_on=TODAY)
    invoice = services.invoice_record(
        measure=measure,
        actor=receiving_worker,
        number="R-1",
        invoice_date=TODAY,
        amount_chf=Decimal("450.00"),
        uploaded_file=SimpleUploadedFile("Rechnung.pdf", b"%PDF-1.4 x", "application/pdf"),
    )
    meeting = services.meeting_schedule(
        referral=case,
        actor=receiving_worker,
        kind="status",
        scheduled_at=timezone.now() + datetime.timedelta(days=7),
        location="Sursee",
    )
    case.refresh_from_db()
    return {
        "case": case,
        "document": document,
        "approval": approval,
        "snapshot": snapshot,
        "measure": measure,
        "invoice": invoice,
        "meeting": meeting,
        "statement": statement,
    }


@pytest.fixture
def statement(administrator, make_referral, receiving_worker):
    """A case-fee statement of last April (issue 11), built the way the billing tests build theirs."""
    billing.fee_model_rule_create(
        actor=administrator, referrer_kind="social", leader_kind="iv", model="A", valid_from=billing_d(1, 1)
    )
    billing.fee_rate_create(
        actor=administrator, leader_kind="iv", monthly_rate_chf=Decimal("300.00"), valid_from=billing_d(1, 1)
    )
    run_case(make_referral, receiving_worker, start=billing_d(3, 10))
    return billing.statements_build(month=billing_d(4, 1))[0].statement


@pytest.fixture
def clients(request, db, referrer, contact_person, signatory, coordinator, administrator, data_protection, outsider):
    users = {
        "referrer": referrer,
        "contact_person": contact_person,
        "signatory": signatory,
        "coordinator": coordinator,
        "administrator": administrator,
        "data_protection": data_protection,
        "outsider": outsider,
    }

    def make(persona):
        client = APIClient()
        client.credentials(HTTP_ACCEPT_LANGUAGE="en")
        if persona != "anonymous":
            client.force_login(users[persona])
        return client

    return make


def _body(response):
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode("utf-8", "replace")
    return response.content.decode("utf-8", "replace")


RECORDED = {}


@pytest.mark.parametrize("key", sorted(MATRIX))
def test_matrix(key, world, clients):
    problems = []
    for entry in MATRIX[key]:
        url = entry["url"](world)
        for persona in PERSONAS:
            # Each persona starts with no failed log-ins and no throttle counts from the personas before it
            # (all test clients share one address).
            axes_reset()
            cache.clear()
            client = clients(persona)
            send = getattr(client, entry["method"].lower())
            kwargs = {"format": entry["format"]} if url.startswith("/api/") and entry["method"] != "GET" else {}
            response = send(url, entry["data"], **kwargs)
            expected = entry["expected"][persona] if entry["expected"] else None
            if expected is None:
                RECORDED.setdefault(key, []).append(f"{entry['method']} {persona}={response.status_code}")
            elif response.status_code != expected:
                problems.append(f"{entry['method']} {url} as {persona}: {response.status_code}, expected {expected}")
            if persona not in KNOWS_CLIENT:
                leaked = [secret for secret in SECRETS if secret in _body(response)]
                if leaked:
                    problems.append(f"{entry['method']} {url} as {persona} leaks {leaked}")
    if key in RECORDED:
        print("RECORDED", key, " ".join(RECORDED[key]))
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)
