"""Need to know (issue 9): the client's identity, free texts and documents only for the two parties' case workers,
contact persons and signatories; the coordinator and administrators get a pseudonymised case; every read of client
data and every refused attempt is in the audit trail."""

import datetime
import json
from decimal import Decimal

import pytest
from django.contrib import admin
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from audit.models import AuditRecord
from institutions.services import membership_set_roles
from referrals import permissions, services
from referrals.models import Status
from tests.conftest import VALID_AHV

TODAY = timezone.localdate()
MASKED_TAIL = VALID_AHV[-2:]
# What must never reach someone without need to know (the client's name, birth date, AHV, contact, free texts).
SECRETS = ["Mara", "Beispiel", "02.03.1984", "1984-03-02", VALID_AHV, "756.9217", "079 000 00 00",
           "Job coaching until a stable placement", "Call me back about the CV", "Arbeitsvertrag.pdf",
           "Coaching AG", "Needed for the placement"]

pytestmark = pytest.mark.usefixtures("english", "english_pages")


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def case(make_referral, referrer, receiving_worker):
    """An active referral with a comment, a document and a cost approval: everything a case page can show."""
    referral = make_referral(Status.ACTIVE)
    services.comment_add(referral=referral, actor=referrer, text="Call me back about the CV")
    services.document_upload(referral=referral, actor=receiving_worker, kind="other",
                             uploaded_file=SimpleUploadedFile("Arbeitsvertrag.pdf", b"%PDF-1.4 x", "application/pdf"))
    services.cost_approval_request(
        referral=referral, actor=receiving_worker, measure="Job coaching", provider="Coaching AG",
        amount_chf=Decimal("1800.00"), starts_on=TODAY, ends_on=TODAY + datetime.timedelta(days=90),
        justification="Needed for the placement")
    referral.refresh_from_db()
    return referral


def leaks(text):
    return [secret for secret in SECRETS if secret in text]


def api(user):
    client = APIClient()
    client.force_authenticate(user)
    client.credentials(HTTP_ACCEPT_LANGUAGE="en")
    return client


# --- the rule -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("persona, sees", [
    ("referrer", True), ("contact_person", True), ("receiving_worker", True), ("signatory", True),
    ("coordinator", False), ("administrator", False), ("data_protection", False), ("outsider", False),
])
def test_only_the_parties_case_workers_contact_persons_and_signatories_see_the_client(
        request, make_referral, persona, sees):
    referral = make_referral(Status.SUBMITTED)
    user = request.getfixturevalue(persona)
    assert permissions.can_see_client_identity(user, referral) is sees
    assert permissions.is_party(user, referral) is sees


def test_a_coordinator_who_also_works_cases_at_a_party_sees_that_client(make_referral, coordinator, directory):
    referral = make_referral(Status.SUBMITTED)
    membership_set_roles(user=coordinator, institution=directory["iv"], roles=["case_worker"])
    coordinator.refresh_from_db()
    assert permissions.can_see_client_identity(coordinator, referral)


def test_a_coordinator_membership_at_a_party_institution_is_no_need_to_know(make_referral, directory, coordinator):
    referral = make_referral(Status.SUBMITTED)
    membership_set_roles(user=coordinator, institution=directory["social"], roles=["coordinator"])
    coordinator.refresh_from_db()
    assert permissions.can_view(coordinator, referral)
    assert not permissions.can_see_client_identity(coordinator, referral)


def test_the_receiver_sees_no_draft(make_referral, contact_person):
    assert not permissions.can_see_client_identity(contact_person, make_referral(Status.DRAFT))


# --- pages ----------------------------------------------------------------------------------------------------

def test_a_start_page_lists_open_cases_only_of_institutions_where_the_user_is_a_party(
        client, make_referral, data_protection, directory):
    referral = make_referral(Status.SUBMITTED)  # received by the IV, where the data protection officer works
    client.force_login(data_protection)
    page = client.get(reverse("home"))
    assert referral not in page.context["open_cases"]
    assert "Open cases of your institution" not in page.content.decode()  # no empty promise either
    assert f'href="{reverse("referrals:list")}"' not in page.content.decode()  # nor a list that stays empty
    assert "then your open OPTIMA cases" not in page.content.decode()
    membership_set_roles(user=data_protection, institution=directory["third"], roles=["case_worker"])
    data_protection.refresh_from_db()
    own = make_referral(Status.SUBMITTED, receiver="third")
    shown = client.get(reverse("home")).context["open_cases"]
    assert own in shown and referral not in shown


def test_the_coordinators_start_page_points_to_the_list_instead_of_own_open_cases(client, make_referral, coordinator):
    make_referral(Status.SUBMITTED)
    client.force_login(coordinator)
    text = client.get(reverse("home")).content.decode()
    assert "Open cases of your institution" not in text and "Meetings in the next 30 days" not in text
    assert "You work no cases yourself" in text and reverse("referrals:list") in text


@pytest.mark.parametrize("persona", ["coordinator", "administrator"])
def test_the_coordinators_case_page_is_pseudonymised(client, request, case, persona):
    client.force_login(request.getfixturevalue(persona))
    response = client.get(reverse("referrals:detail", args=[case.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert leaks(html) == []
    assert case.reference in html and "WAS IV Luzern" in html and "OPTIMA-IV" in html
    assert 'data-testid="pseudonymised"' in html
    assert "800.00" in html  # amounts and dates stay: they are no identity


def test_the_parties_case_page_shows_the_client_but_only_the_masked_ahv(client, case, referrer):
    client.force_login(referrer)
    html = client.get(reverse("referrals:detail", args=[case.pk])).content.decode()
    assert "Mara Beispiel" in html and "Call me back about the CV" in html and "Arbeitsvertrag.pdf" in html
    assert VALID_AHV not in html and MASKED_TAIL in html
    assert reverse("referrals:ahv_reveal", args=[case.pk]) in html


def test_showing_the_full_ahv_number_is_an_audited_action(client, case, referrer):
    client.force_login(referrer)
    response = client.post(reverse("referrals:ahv_reveal", args=[case.pk]))
    assert response.status_code == 200
    assert VALID_AHV in response.content.decode()
    assert AuditRecord.objects.filter(actor=referrer, referral=case, action="ahv_reveal", outcome="ok").count() == 1
    assert client.get(reverse("referrals:ahv_reveal", args=[case.pk])).status_code == 405


@pytest.mark.parametrize("persona", ["coordinator", "outsider"])
def test_non_parties_cannot_show_the_ahv_number_and_the_attempt_is_recorded(client, request, case, persona):
    user = request.getfixturevalue(persona)
    client.force_login(user)
    response = client.post(reverse("referrals:ahv_reveal", args=[case.pk]))
    assert response.status_code == 404
    assert VALID_AHV not in response.content.decode()
    assert AuditRecord.objects.filter(actor=user, referral=case, outcome="denied").count() == 1


def test_the_coordinators_list_is_pseudonymised_and_a_name_search_finds_nothing(
        client, case, coordinator, english_pages):
    client.force_login(coordinator)
    listed = client.get(reverse("referrals:list")).content.decode()
    assert case.reference in listed and leaks(listed) == []
    assert "(pseudonymised)" in listed
    by_name = client.get(reverse("referrals:list") + "?q=Beispiel")
    assert case.reference not in by_name.content.decode()
    assert case.reference in client.get(reverse("referrals:list") + "?q=" + case.reference).content.decode()
    assert not AuditRecord.objects.filter(actor=coordinator, outcome="ok").exclude(action="view").exists()


def test_document_download_is_404_for_the_coordinator_and_recorded_as_denied(client, case, coordinator):
    client.force_login(coordinator)
    document = case.documents.get()
    response = client.get(reverse("referrals:document", args=[case.pk, document.pk]))
    assert response.status_code == 404
    assert AuditRecord.objects.filter(actor=coordinator, referral=case, action="download",
                                      outcome="denied").count() == 1


def test_an_outsiders_case_page_is_404_and_leaves_a_denied_record(client, case, outsider):
    client.force_login(outsider)
    assert client.get(reverse("referrals:detail", args=[case.pk])).status_code == 404
    record = AuditRecord.objects.get(actor=outsider)
    assert (record.action, record.outcome, record.referral_id, record.target_id) == (
        "access", "denied", case.pk, str(case.pk))


def test_a_denied_attempt_on_a_missing_referral_is_recorded_too(client, outsider, db):
    client.force_login(outsider)
    assert client.get(reverse("referrals:detail", args=[987654])).status_code == 404
    record = AuditRecord.objects.get(actor=outsider)
    assert (record.outcome, record.referral_id, record.target_id) == ("denied", None, "987654")


def test_reads_of_client_names_are_recorded_on_the_start_page_list_and_search(client, case, referrer):
    client.force_login(referrer)
    client.get("/")
    client.get(reverse("referrals:list"))
    client.get(reverse("referrals:list") + "?q=Beispiel")
    actions = set(AuditRecord.objects.filter(actor=referrer, referral=case).values_list("action", flat=True))
    assert {"home", "list", "search"} <= actions


def test_the_django_admin_offers_no_client_data_and_no_audit_records():
    labels = {model._meta.label for model in admin.site._registry}
    assert not any(label.startswith(("referrals.", "audit.")) for label in labels)


# --- API ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("persona", ["coordinator", "administrator"])
def test_the_coordinators_api_detail_and_list_are_pseudonymised(request, case, persona):
    client = api(request.getfixturevalue(persona))
    detail = client.get(f"/api/v1/referrals/{case.pk}/")
    assert detail.status_code == 200
    body = detail.json()
    assert body["client"] is None and body["situation"] is None and body["mandate"] == ""
    assert body["reference"] == case.reference and body["status"] == "active" and body["target_group"]
    assert leaks(json.dumps(body, ensure_ascii=False)) == []
    listed = client.get("/api/v1/referrals/").json()
    assert leaks(json.dumps(listed, ensure_ascii=False)) == [] and listed["results"][0]["client"] is None
    approvals = client.get(f"/api/v1/referrals/{case.pk}/cost-approvals/").json()
    assert approvals["results"][0]["amount_chf"] == "1800.00"
    assert leaks(json.dumps(approvals, ensure_ascii=False)) == []
    for sub in ("comments", "documents"):
        assert client.get(f"/api/v1/referrals/{case.pk}/{sub}/").status_code == 404
    assert client.post(f"/api/v1/referrals/{case.pk}/ahv/").status_code == 404


def test_the_api_shows_the_full_ahv_only_on_request_and_records_it(case, receiving_worker):
    client = api(receiving_worker)
    body = client.get(f"/api/v1/referrals/{case.pk}/").json()
    assert body["client"]["last_name"] == "Beispiel" and VALID_AHV not in json.dumps(body)
    assert client.post(f"/api/v1/referrals/{case.pk}/ahv/").json() == {"ahv_number": VALID_AHV}
    assert AuditRecord.objects.filter(actor=receiving_worker, action="ahv_reveal").count() == 1


def test_every_api_read_is_recorded(case, referrer):
    client = api(referrer)
    for path in ("", "comments/", "documents/", "cost-approvals/"):
        assert client.get(f"/api/v1/referrals/{case.pk}/{path}").status_code == 200
    client.get("/api/v1/referrals/")
    actions = set(AuditRecord.objects.filter(actor=referrer, referral=case).values_list("action", flat=True))
    assert {"api_view", "api_comments", "api_documents", "api_cost_approvals", "api_list"} <= actions


def test_an_outsiders_api_read_is_404_and_recorded_as_denied(case, outsider):
    assert api(outsider).get(f"/api/v1/referrals/{case.pk}/").status_code == 404
    assert AuditRecord.objects.filter(actor=outsider, referral=case, outcome="denied").count() == 1


def test_an_outsiders_cost_approval_step_is_404_and_recorded_as_denied(case, outsider):
    approval = case.cost_approvals.get()
    assert api(outsider).post(f"/api/v1/cost-approvals/{approval.pk}/approve/", {}, format="json").status_code == 404
    record = AuditRecord.objects.get(actor=outsider)
    assert (record.target_type, record.target_id, record.referral_id, record.outcome) == (
        "referrals.costapproval", str(approval.pk), case.pk, "denied")


def test_a_step_the_role_does_not_allow_is_recorded_as_denied(client, make_referral, coordinator, referrer):
    referral = make_referral(Status.SUBMITTED)
    client.force_login(referrer)
    assert client.post(reverse("referrals:reject", args=[referral.pk]), {"reason": "no_capacity"}).status_code == 403
    assert api(coordinator).post(f"/api/v1/referrals/{referral.pk}/reject/", {"reason": "no_capacity"},
                                 format="json").status_code == 403
    assert set(AuditRecord.objects.filter(referral=referral, action="step", outcome="denied")
               .values_list("actor__username", flat=True)) == {referrer.username, coordinator.username}
