"""Billing pages and API: statements for the parties only (no client names), downloads, the administrator's
fee settings with clear errors, the case page's fee sentence, and model C for the coordinator."""

import csv
import datetime
import io
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from knox.models import AuthToken
from openpyxl import load_workbook
from pypdf import PdfReader
from rest_framework.test import APIClient
from test_billing_statements import d, run_case

from billing import selectors as billing_selectors
from billing import services as billing
from billing.models import FeeRate, FeeStatement
from referrals.models import Status


def api(user):
    client = APIClient(HTTP_ACCEPT_LANGUAGE="en")
    _row, token = AuthToken.objects.create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


@pytest.fixture
def statement(administrator, make_referral, receiving_worker):
    billing.fee_model_rule_create(actor=administrator, referrer_kind="social", leader_kind="iv", model="A",
                                  valid_from=d(1, 1))
    billing.fee_rate_create(actor=administrator, leader_kind="iv", monthly_rate_chf=Decimal("300.00"),
                            valid_from=d(1, 1))
    run_case(make_referral, receiving_worker, start=d(3, 10))
    run_case(make_referral, receiving_worker, start=d(3, 12))
    return billing.statements_build(month=d(4, 1))[0].statement


# --- who sees statements -----------------------------------------------------------------------------------

@pytest.mark.parametrize("persona, sees", [("signatory", True), ("receiving_worker", True), ("coordinator", True),
                                           ("outsider", False)])
def test_statements_are_seen_by_the_two_institutions_and_the_coordinator(client, statement, personas, persona,
                                                                         sees):
    client.force_login(personas[persona])
    listing = client.get(reverse("billing:statements")).content.decode()
    assert (statement.number in listing) is sees
    assert client.get(reverse("billing:statement", args=[statement.pk])).status_code == (200 if sees else 404)
    assert api(personas[persona]).get(f"/api/v1/fee-statements/{statement.pk}/").status_code == (200 if sees
                                                                                                  else 404)


def test_statement_list_queries_do_not_grow_with_statements(client, statement, signatory,
                                                            django_assert_num_queries):
    client.force_login(signatory)
    # session, user, memberships, statements (with institutions and the corrected one)
    with django_assert_num_queries(4):
        assert client.get(reverse("billing:statements")).status_code == 200


def test_downloads_carry_the_lines_and_no_client_name(client, statement, signatory):
    client.force_login(signatory)
    references = sorted(statement.lines.values_list("reference", flat=True))

    raw = client.get(reverse("billing:download", args=[statement.pk, "csv"])).content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(raw), delimiter=";"))
    assert [r[0] for r in rows if r and r[0].startswith("OPT-")] == references
    assert rows[-1][-1] == "600.00"

    workbook = load_workbook(io.BytesIO(client.get(reverse("billing:download", args=[statement.pk, "xlsx"])).content))
    cells = [c.value for row in workbook.active.iter_rows() for c in row]
    assert 600 in cells and references[0] in cells

    pdf = client.get(reverse("billing:download", args=[statement.pk, "pdf"]))
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.content)).pages)
    assert references[0] in text and statement.number in text
    for content in (raw, text, " ".join(str(c) for c in cells)):
        assert "Beispiel" not in content and "Mara" not in content


def test_api_lists_statements_and_serves_the_pdf(statement, signatory):
    listing = api(signatory).get("/api/v1/fee-statements/").json()
    assert [s["number"] for s in listing["results"]] == [statement.number]
    detail = api(signatory).get(f"/api/v1/fee-statements/{statement.pk}/").json()
    assert detail["total_chf"] == "600.00" and len(detail["lines"]) == 2
    pdf = api(signatory).get(f"/api/v1/fee-statements/{statement.pk}/pdf/")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"


def test_building_a_future_month_on_the_page_says_why(client, coordinator, english_pages):
    client.force_login(coordinator)
    response = client.post(reverse("billing:build"), {"month": "2999-01"})
    assert response.status_code == 400
    assert "has not ended yet" in response.content.decode()
    assert not FeeStatement.objects.exists()


def test_case_workers_cannot_build_statements(client, referrer):
    client.force_login(referrer)
    assert client.post(reverse("billing:build"), {"month": "2020-01"}).status_code == 403


# --- the administrator's settings ---------------------------------------------------------------------------

def test_only_administrators_open_the_fee_settings(client, administrator, coordinator):
    client.force_login(coordinator)
    assert client.get(reverse("billing:settings")).status_code == 403
    client.force_login(administrator)
    assert client.get(reverse("billing:settings")).status_code == 200


@pytest.mark.parametrize("rate", ["0", "-10", "99999"])
def test_a_zero_negative_or_absurd_rate_says_what_is_allowed(client, administrator, rate, english_pages):
    client.force_login(administrator)
    response = client.post(reverse("billing:settings"), {
        "which": "rate", "rate-leader_kind": "iv", "rate-monthly_rate_chf": rate, "rate-valid_from": "2026-01-01"})
    assert response.status_code == 400
    assert "greater than 0 and at most 10&#x27;000.00" in response.content.decode()
    assert not FeeRate.objects.exists()


def test_overlapping_validity_periods_are_refused(administrator, english):
    billing.fee_rate_create(actor=administrator, leader_kind="iv", monthly_rate_chf=Decimal("227"),
                            valid_from=datetime.date(2020, 1, 1), valid_until=datetime.date(2024, 12, 31))
    with pytest.raises(ValidationError) as error:
        billing.fee_rate_create(actor=administrator, leader_kind="iv", monthly_rate_chf=Decimal("300"),
                                valid_from=datetime.date(2024, 6, 1))
    assert "overlaps with the one from 01.01.2020 to 31.12.2024" in error.value.message_dict["valid_from"][0]
    assert FeeRate.objects.count() == 1


def test_a_rate_starts_on_the_first_of_a_month(administrator):
    with pytest.raises(ValidationError) as error:
        billing.fee_rate_create(actor=administrator, leader_kind="iv", monthly_rate_chf=Decimal("227"),
                                valid_from=datetime.date(2024, 6, 15))
    assert "valid_from" in error.value.message_dict


def test_a_new_rate_from_a_date_ends_the_open_one_the_day_before(client, administrator):
    billing.fee_rate_create(actor=administrator, leader_kind="iv", monthly_rate_chf=Decimal("227"),
                            valid_from=datetime.date(2020, 1, 1))
    client.force_login(administrator)
    response = client.post(reverse("billing:settings"), {
        "which": "rate", "rate-leader_kind": "iv", "rate-monthly_rate_chf": "300.00",
        "rate-valid_from": "01.01.2025"})
    assert response.status_code == 302
    assert list(FeeRate.objects.order_by("valid_from").values_list("valid_until", flat=True)) == [
        datetime.date(2024, 12, 31), None]


# --- the case page ------------------------------------------------------------------------------------------

def test_case_page_says_in_one_sentence_what_the_case_costs(client, statement, make_referral, referrer,
                                                            english_pages):
    referral = statement.lines.first().referral
    client.force_login(referrer)
    content = client.get(reverse("referrals:detail", args=[referral.pk])).content.decode()
    assert 'data-testid="case-fee"' in content
    assert "CHF 300.00 per month (model A)" in content


def test_case_fee_sentence_names_the_condition_when_nothing_is_billed(statement, make_referral, receiving_worker,
                                                                      english):
    referral = run_case(make_referral, receiving_worker, start=d(3, 1), iv_procedure_running=True)
    assert "without a running IV procedure" in billing_selectors.case_fee_sentence(referral)


def test_no_fee_sentence_before_acceptance(make_referral):
    assert billing_selectors.case_fee_sentence(make_referral(Status.SUBMITTED)) is None
