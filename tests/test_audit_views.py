"""The audit trail for the data-protection officer: page, CSV, API; nobody else reads it."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from audit.models import AuditRecord
from audit.services import audit_record
from institutions.models import User
from referrals import services
from referrals.models import Status

pytestmark = pytest.mark.usefixtures("english_pages")


@pytest.fixture
def trail(make_referral, referrer, coordinator, outsider):
    one, other = make_referral(Status.SUBMITTED), make_referral(Status.SUBMITTED)
    audit_record(actor=referrer, action="view", target=one, outcome="ok")
    audit_record(actor=coordinator, action="view", target=other, outcome="ok")
    audit_record(actor=outsider, action="access", target=("referrals.Referral", one.pk), outcome="denied",
                 referral_id=one.pk)
    return {"one": one, "other": other}


def api(user):
    client = APIClient()
    client.force_authenticate(user)
    client.credentials(HTTP_ACCEPT_LANGUAGE="en")
    return client


@pytest.mark.parametrize("persona", ["referrer", "contact_person", "signatory", "coordinator", "administrator",
                                     "outsider"])
def test_nobody_but_data_protection_reads_the_trail(client, request, trail, persona):
    user = request.getfixturevalue(persona)
    client.force_login(user)
    assert client.get(reverse("audit:log")).status_code == 403
    assert client.get(reverse("audit:export")).status_code == 403
    assert api(user).get("/api/v1/audit/").status_code == 403


def test_the_page_lists_who_saw_which_case_and_who_was_refused(client, trail, data_protection):
    client.force_login(data_protection)
    response = client.get(reverse("audit:log"))
    html = response.content.decode()
    assert response.status_code == 200
    assert trail["one"].reference in html and "Sandra Meier" in html and "Otto Fischer" in html
    assert "denied" in html
    assert AuditRecord.objects.filter(actor=data_protection, action="audit_read").count() == 1


def test_filters_by_case_reference_user_and_period(client, trail, data_protection):
    client.force_login(data_protection)
    url = reverse("audit:log")
    one = trail["one"]
    by_case = client.get(url, {"referral": one.reference}).context["rows"]
    assert {row["target"] for row in by_case} == {one.reference}
    assert len(by_case) == 2  # the referrer's view and the outsider's denied attempt
    assert len(client.get(url, {"referral": str(one.pk)}).context["rows"]) == 2
    by_user = client.get(url, {"user": "sobz.beratung"}).context["rows"]
    assert [row["outcome"] for row in by_user] == ["denied"]
    today = timezone.localdate().isoformat()
    assert len(client.get(url, {"since": today, "until": today, "referral": one.reference}).context["rows"]) == 2
    yesterday = (timezone.localdate() - datetime.timedelta(days=1)).isoformat()
    assert client.get(url, {"until": yesterday}).context["rows"] == []


@pytest.mark.parametrize("params, field", [
    ({"referral": "OPT-1999-9999"}, "referral"), ({"user": "nobody.here"}, "user"),
    ({"since": "31.02.2026"}, "since"), ({"since": "2026-05-02", "until": "2026-05-01"}, "until"),
])
def test_bad_filters_get_a_message_and_keep_the_input(client, trail, data_protection, params, field):
    client.force_login(data_protection)
    response = client.get(reverse("audit:log"), params)
    assert response.status_code == 400
    assert field in response.context["form"].errors
    assert 'id="error-summary"' in response.content.decode()
    assert list(params.values())[0] in response.content.decode()


def test_csv_export_has_every_filtered_record(client, trail, data_protection):
    client.force_login(data_protection)
    response = client.get(reverse("audit:export"), {"referral": trail["one"].reference})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    lines = text.strip().splitlines()
    assert len(lines) == 3  # header + two records
    assert "sobz.beratung" in text and "sd.beratung" in text and trail["one"].reference in text
    assert AuditRecord.objects.filter(actor=data_protection, action="export").exists()


def test_csv_cells_cannot_carry_spreadsheet_formulas(client, make_referral, directory, data_protection):
    sneaky = User.objects.create_user(username="sneaky", first_name="=HYPERLINK(1)", last_name="x")
    audit_record(actor=sneaky, action="view", target=directory["iv"], outcome="ok")
    client.force_login(data_protection)
    text = b"".join(client.get(reverse("audit:export")).streaming_content).decode("utf-8-sig")
    assert ";'=HYPERLINK(1) x;" in text


@pytest.mark.parametrize("n", [1, 8])
def test_page_queries_do_not_grow(client, make_referral, referrer, data_protection, n, django_assert_num_queries):
    referrals = [make_referral(Status.SUBMITTED) for _ in range(n)]
    for referral in referrals:
        audit_record(actor=referrer, action="view", target=referral, outcome="ok")
    client.force_login(data_protection)
    # session, user, memberships, count, page of records with users, target labels, the INSERT of the read
    with django_assert_num_queries(7):
        response = client.get(reverse("audit:log"))
    assert len(response.context["rows"]) == n


def test_api_lists_the_records_of_a_case(trail, data_protection, django_assert_num_queries):
    client = api(data_protection)
    one = trail["one"]
    response = client.get("/api/v1/audit/", {"referral": one.pk})
    assert response.status_code == 200
    results = response.json()["results"]
    assert {(r["action"], r["outcome"], r["referral"]) for r in results} == {("view", "ok", one.pk),
                                                                             ("access", "denied", one.pk)}
    assert {"at", "user", "action", "outcome", "referral"} <= set(results[0])
    assert {r["user"]["username"] for r in results} == {"sd.beratung", "sobz.beratung"}


@pytest.mark.parametrize("params", [{"referral": "abc"}, {"from": "2026-13-01"}, {"user": "-1"}])
def test_api_bad_filters_are_400(trail, data_protection, params):
    response = api(data_protection).get("/api/v1/audit/", params)
    assert response.status_code == 400
    assert list(params)[0] in response.json()


def test_the_key_figures_page_shows_no_explanation_texts_and_records_the_view(client, make_referral, contact_person,
                                                                             coordinator):
    """Need to know (issue 9): the coordinator gets the codes, not the free texts written with a rejection."""
    referral = make_referral(Status.SUBMITTED)
    services.referral_reject(referral=referral, actor=contact_person, reason="other",
                             reason_text="Moved to another canton")
    client.force_login(coordinator)
    response = client.get(reverse("reporting:dashboard"))
    assert response.status_code == 200 and "Moved to another canton" not in response.content.decode()
    assert set(AuditRecord.objects.filter(actor=coordinator).values_list("action", "referral_id")) == {
        ("kpi_view", None)}
