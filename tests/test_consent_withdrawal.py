"""Issue 10, item 2: "Einwilligung widerrufen".

Either party records it on a sent, accepted or active referral; the referral ends through the TRANSITIONS
table; both sides are told; from then on the receiving institution sees only the pseudonymised case (codes,
dates): no identity, no free texts, no documents. The referrer keeps its client.
"""

import datetime

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from institutions.services import membership_set_roles
from referrals import permissions, selectors, services
from referrals.errors import TransitionNotAllowed
from referrals.models import ClosureGround, ClosureOutcome, Referral, Status
from reporting import kpi
from tests.conftest import VALID_AHV

TODAY = timezone.localdate()
SECRET_TEXTS = ("Mara", "Beispiel", "Job coaching until a stable placement", "Please call me about the rent",
                "mietvertrag.pdf", "756.****.****.85")


@pytest.fixture(autouse=True)
def _english(english, english_pages):
    """Messages and pages in English, the source language."""


@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def withdraw(referral, actor, **overrides):
    values = {"withdrawn_on": TODAY, "channel": "client_verbally", "note": "Rief an, möchte nicht mehr."}
    values.update(overrides)
    return services.referral_withdraw_consent(referral=referral, actor=actor, **values)


def fresh(referral):
    return Referral.objects.get(pk=referral.pk)


@pytest.fixture
def withdrawn_case(make_referral, referrer, receiving_worker, media_root):
    """An active case with a comment and a document, whose client then withdrew consent."""
    referral = make_referral(Status.ACTIVE)
    services.comment_add(referral=referral, actor=referrer, text="Please call me about the rent")
    services.document_upload(referral=referral, actor=referrer, kind="other", uploaded_file=SimpleUploadedFile(
        "mietvertrag.pdf", b"%PDF-1.4 test", content_type="application/pdf"))
    withdraw(fresh(referral), receiving_worker)
    return fresh(referral)


# --- The referral ends through the lifecycle -------------------------------------------------------------

@pytest.mark.parametrize(("status", "ends_as"), [
    (Status.SUBMITTED, Status.WITHDRAWN), (Status.ACCEPTED, Status.NOT_STARTED), (Status.ACTIVE, Status.CLOSED)])
@pytest.mark.parametrize("side", ["referrer", "receiving_worker"])
def test_withdrawn_consent_ends_the_referral_by_its_stage(make_referral, personas, status, ends_as, side):
    referral = make_referral(status)
    actor = personas[side] if status != Status.SUBMITTED or side == "referrer" else personas["contact_person"]
    event = withdraw(referral, actor)
    referral = fresh(referral)
    assert referral.status == ends_as
    assert (event.from_status, event.to_status) == (status, ends_as)
    assert event.payload["ground"] == ClosureGround.CONSENT_WITHDRAWN
    assert (referral.consent_withdrawn_on, referral.consent_withdrawal_channel) == (TODAY, "client_verbally")


def test_after_the_handover_the_case_closes_with_the_ground_consent_withdrawn(make_referral, referrer):
    referral = make_referral(Status.ACTIVE)
    event = withdraw(referral, referrer)
    referral = fresh(referral)
    assert (referral.closure_ground, referral.closure_outcome) == (ClosureGround.CONSENT_WITHDRAWN,
                                                                   ClosureOutcome.OTHER)
    assert event.reason == ClosureOutcome.OTHER


def test_a_case_ended_by_the_withdrawal_is_active_until_the_day_consent_was_withdrawn(make_referral, referrer):
    referral = make_referral(Status.ACTIVE)
    withdraw(referral, referrer)
    assert (fresh(referral).active_from, fresh(referral).active_until) == (TODAY, TODAY)


def test_a_withdrawal_before_the_handover_gives_no_active_span(make_referral, referrer):
    referral = make_referral(Status.ACCEPTED)
    withdraw(referral, referrer)
    assert (fresh(referral).active_from, fresh(referral).active_until) == (None, None)


@pytest.mark.parametrize("status", [Status.DRAFT, Status.REJECTED, Status.CLOSED, Status.NOT_STARTED])
def test_consent_withdrawal_is_not_possible_on_a_draft_or_an_ended_referral(make_referral, referrer, status):
    referral = make_referral(status)
    with pytest.raises(TransitionNotAllowed):
        withdraw(referral, referrer)
    assert fresh(referral).status == status


@pytest.mark.parametrize("persona", ["signatory", "coordinator", "outsider"])
def test_only_case_workers_of_the_two_parties_record_a_withdrawal(make_referral, personas, persona):
    referral = make_referral(Status.ACTIVE)
    with pytest.raises(PermissionDenied):
        withdraw(referral, personas[persona])
    assert fresh(referral).status == Status.ACTIVE


@pytest.mark.parametrize(("overrides", "field"), [
    ({"withdrawn_on": None}, "withdrawn_on"),
    ({"withdrawn_on": TODAY + datetime.timedelta(days=1)}, "withdrawn_on"),
    ({"withdrawn_on": TODAY - datetime.timedelta(days=30)}, "withdrawn_on"),  # before the consent was given
    ({"channel": "carrier pigeon"}, "channel"),
])
def test_implausible_withdrawal_input_is_refused_at_the_field(make_referral, referrer, overrides, field):
    referral = make_referral(Status.ACTIVE)
    with pytest.raises(ValidationError) as caught:
        withdraw(referral, referrer, **overrides)
    assert list(caught.value.message_dict) == [field]
    assert fresh(referral).status == Status.ACTIVE


def test_both_sides_are_told_without_client_data(make_referral, referrer, contact_person, receiving_worker,
                                                 django_capture_on_commit_callbacks):
    referral = make_referral(Status.ACTIVE)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        withdraw(referral, referrer)
    recipients = {address for message in mail.outbox for address in message.to}
    assert {receiving_worker.email, contact_person.email} <= recipients
    assert referrer.email not in recipients  # the actor knows
    body = " ".join(message.subject + message.body for message in mail.outbox)
    assert referral.reference in body and "Mara" not in body and "Beispiel" not in body


# --- What each persona sees afterwards ---------------------------------------------------------------------

def test_permission_rules_per_persona(withdrawn_case, personas):
    hidden = {name: permissions.consent_withdrawal_hides_identity(user, withdrawn_case)
              for name, user in personas.items()}
    assert hidden == {"referrer": False, "contact_person": True, "receiving_worker": True, "signatory": False,
                      "coordinator": False, "outsider": False}
    identity = {name: permissions.can_see_client_identity(user, withdrawn_case) for name, user in personas.items()}
    assert identity == {"referrer": True, "contact_person": False, "receiving_worker": False, "signatory": True,
                        "coordinator": False, "outsider": False}


def test_a_membership_without_a_party_role_at_the_referrer_does_not_lift_the_hiding(
        withdrawn_case, receiving_worker, directory):
    # A case worker of the receiver who also reads the audit trail at the referring social services: no need to know.
    membership_set_roles(user=receiving_worker, institution=directory["social"], roles=["data_protection"])
    receiving_worker.refresh_from_db()
    assert permissions.consent_withdrawal_hides_identity(receiving_worker, withdrawn_case)
    assert not permissions.can_see_client_identity(receiving_worker, withdrawn_case)
    assert withdrawn_case in selectors.visible_referrals(receiving_worker).filter(selectors._identity_hidden_q(
        receiving_worker))


@pytest.mark.parametrize("persona", ["contact_person", "receiving_worker"])
def test_receiver_sees_only_the_pseudonymised_case_page(client, withdrawn_case, personas, persona):
    client.force_login(personas[persona])
    response = client.get(reverse("referrals:detail", args=[withdrawn_case.pk]))
    page = response.content.decode()
    assert response.status_code == 200
    assert withdrawn_case.reference in page and "withdrew consent" in page
    assert TODAY.strftime("%d.%m.%Y") in page
    for text in SECRET_TEXTS:
        assert text not in page, text


@pytest.mark.parametrize("persona", ["contact_person", "receiving_worker"])
def test_receiver_can_no_longer_download_documents(client, withdrawn_case, personas, persona):
    document = withdrawn_case.documents.get()
    client.force_login(personas[persona])
    assert client.get(reverse("referrals:document", args=[withdrawn_case.pk, document.pk])).status_code == 404


def test_referrer_keeps_its_client_texts_and_documents(client, withdrawn_case, referrer):
    client.force_login(referrer)
    page = client.get(reverse("referrals:detail", args=[withdrawn_case.pk])).content.decode()
    for text in ("Mara", "Beispiel", "Please call me about the rent", "mietvertrag.pdf", "Rief an"):
        assert text in page, text
    document = withdrawn_case.documents.get()
    assert client.get(reverse("referrals:document", args=[withdrawn_case.pk, document.pk])).status_code == 200


def test_outsider_still_sees_nothing(client, withdrawn_case, outsider):
    client.force_login(outsider)
    assert client.get(reverse("referrals:detail", args=[withdrawn_case.pk])).status_code == 404


@pytest.mark.parametrize("persona", ["contact_person", "receiving_worker"])
def test_receiver_lists_show_no_name_and_a_name_search_finds_nothing(client, withdrawn_case, personas, persona):
    client.force_login(personas[persona])
    listing = client.get(reverse("referrals:list")).content.decode()
    assert withdrawn_case.reference in listing and "Beispiel" not in listing
    assert "consent withdrawn" in listing
    assert withdrawn_case.reference not in client.get(reverse("referrals:list"), {"q": "Beispiel"}).content.decode()
    assert withdrawn_case.reference in client.get(reverse("referrals:list"),
                                                  {"q": withdrawn_case.reference}).content.decode()


def test_referrer_still_finds_the_client_by_name(withdrawn_case, referrer):
    assert list(selectors.search_referrals(referrer, "Beispiel")) == [withdrawn_case]


def test_receiver_list_page_queries_do_not_grow(client, make_referral, contact_person, receiving_worker,
                                                django_assert_num_queries):
    for _ in range(3):
        withdraw(make_referral(Status.ACTIVE), receiving_worker)
    client.force_login(contact_person)
    client.get(reverse("referrals:list"))  # warm up the session
    with django_assert_num_queries(5):  # session, user, memberships, the page's ids, the referrals
        response = client.get(reverse("referrals:list"))
    assert response.status_code == 200


@pytest.mark.parametrize("persona", ["contact_person", "receiving_worker"])
def test_receiver_api_shows_codes_and_dates_only(withdrawn_case, personas, persona):
    api = APIClient()
    api.force_authenticate(personas[persona])
    detail = api.get(f"/api/v1/referrals/{withdrawn_case.pk}/").json()
    # The same pseudonymised shape the coordinator gets (need to know): no client, no free texts.
    assert detail["client"] is None
    assert detail["mandate"] == "" and all(event["text"] == "" for event in detail["events"])
    assert detail["consent_withdrawn_on"] == TODAY.isoformat()
    assert (detail["status"], detail["closure_ground"]) == ("closed", "consent_withdrawn")
    listing = api.get("/api/v1/referrals/").json()["results"]
    assert listing[0]["client"] is None
    assert api.get(f"/api/v1/referrals/{withdrawn_case.pk}/documents/").status_code == 404
    assert api.get(f"/api/v1/referrals/{withdrawn_case.pk}/comments/").status_code == 404
    assert VALID_AHV not in str(detail)


def test_referrer_api_keeps_the_client(withdrawn_case, referrer):
    api = APIClient()
    api.force_authenticate(referrer)
    detail = api.get(f"/api/v1/referrals/{withdrawn_case.pk}/").json()
    assert detail["client"]["last_name"] == "Beispiel" and detail["mandate"]
    assert api.get(f"/api/v1/referrals/{withdrawn_case.pk}/documents/").status_code == 200


def test_api_records_a_withdrawal_and_refuses_bad_input(make_referral, receiving_worker):
    referral = make_referral(Status.ACCEPTED)
    api = APIClient()
    api.force_authenticate(receiving_worker)
    url = f"/api/v1/referrals/{referral.pk}/withdraw-consent/"
    bad = api.post(url, {"withdrawn_on": (TODAY + datetime.timedelta(days=3)).isoformat(),
                         "channel": "client_in_writing"}, format="json")
    assert bad.status_code == 400 and "withdrawn_on" in bad.json()
    response = api.post(url, {"withdrawn_on": TODAY.isoformat(), "channel": "client_in_writing"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "not_started"
    assert response.json()["client"] is None  # the receiver's own answer is pseudonymised already


def test_case_page_form_records_a_withdrawal_and_keeps_input_on_error(client, make_referral, referrer):
    referral = make_referral(Status.ACTIVE)
    client.force_login(referrer)
    url = reverse("referrals:withdraw_consent", args=[referral.pk])
    bad = client.post(url, {"withdrawn_on": "", "channel": "client_in_writing", "note": "Brief vom Montag"})
    assert bad.status_code == 400 and "Brief vom Montag" in bad.content.decode()
    ok = client.post(url, {"withdrawn_on": TODAY.strftime("%d.%m.%Y"), "channel": "client_in_writing"})
    assert ok.status_code == 302
    assert fresh(referral).status == Status.CLOSED


# --- The KPI sheet ------------------------------------------------------------------------------------------

def test_kpi_sheet_counts_withdrawals_where_the_pilot_sheet_expects_them(make_referral, referrer):
    for status in (Status.SUBMITTED, Status.ACCEPTED, Status.ACTIVE):
        withdraw(make_referral(status), referrer)
    sheet = kpi.sheet()
    assert sheet["applications"] == 3
    assert sheet["accepted"] == 2  # accepted and active; the submitted one was withdrawn before a decision
    assert sheet["rejected"]["total"] == 0
    assert sheet["closed"] == {"total": 1, "iv": 1, "rav": 0, "social": 0}  # only the one after the handover
    assert sheet["closure_outcomes"]["other"]["total"] == 1  # "Sonstige"
    assert kpi.compute()["extras"]["closure_grounds"]["consent_withdrawn"] == 1
