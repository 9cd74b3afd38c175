"""Issue 10, item 1: client records never change behind a referral's back.

Each referral owns its client record. Filing again for a known AHV number shows "Diese Person ist bereits
erfasst" before anything is saved; a change after submission is the explicit "Personalien ändern" with an
event listing old -> new (AHV masked).
"""

import importlib

import pytest
from django.apps import apps
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from rest_framework.test import APIClient

from institutions.services import membership_set_roles
from referrals import selectors, services
from referrals.ahv import ahv_digest
from referrals.errors import TransitionNotAllowed
from referrals.models import Client, EventKind, Referral, Status
from tests.conftest import VALID_AHV, client_data, referral_data

OTHER_AHV = "756.1234.5678.97"
split_shared_clients = importlib.import_module(
    "referrals.migrations.0003_one_client_record_per_referral").split_shared_clients


@pytest.fixture(autouse=True)
def _english(english, english_pages):
    """Messages and pages in English, the source language, so assertions read like the code."""


def form_post(directory, **overrides):
    data = {"first_name": "Mara", "last_name": "Beispiel", "date_of_birth": "1984-03-02", "ahv_number": VALID_AHV,
            "municipality": directory["luzern"].pk, "preferred_language": "de", "phone": "079 000 00 00",
            "receiving_institution": directory["rav"].pk, "mandate": "Stellensuche begleiten", "save": "1"}
    data.update(overrides)
    return data


def names(referral):
    client = Client.objects.get(pk=Referral.objects.get(pk=referral.pk).client_id)
    return client.first_name, client.last_name, client.phone


# --- Reproduction 1: a second draft for the same AHV number ----------------------------------------------

def test_second_draft_with_the_same_ahv_and_no_last_name_leaves_the_sent_referral_alone(make_referral, directory,
                                                                                      referrer):
    sent = make_referral(Status.SUBMITTED)
    services.referral_create_draft(actor=referrer, client_data=client_data(directory, last_name="", phone=""),
                                   data=referral_data(directory, receiver="rav"))
    assert names(sent) == ("Mara", "Beispiel", "079 000 00 00")
    assert not sent.events.filter(kind=EventKind.EDITED).exists()


def test_editing_the_second_draft_never_reaches_the_first_referral(make_referral, directory, referrer):
    sent = make_referral(Status.ACTIVE)
    draft = services.referral_create_draft(actor=referrer, client_data=client_data(directory),
                                           data=referral_data(directory, receiver="rav"))
    services.referral_update_draft(referral=draft, actor=referrer,
                                   client_data=client_data(directory, first_name="Someone", last_name="Else"))
    assert names(sent) == ("Mara", "Beispiel", "079 000 00 00")
    assert names(draft)[:2] == ("Someone", "Else")


def test_a_record_still_shared_from_before_is_copied_on_the_first_draft_edit(make_referral, directory, referrer):
    sent = make_referral(Status.SUBMITTED)
    draft = services.referral_create_draft(actor=referrer, client_data=client_data(directory), data={})
    Referral.objects.filter(pk=draft.pk).update(client=sent.client)  # a row shared before the migration
    services.referral_update_draft(referral=Referral.objects.get(pk=draft.pk), actor=referrer,
                                   client_data={"last_name": ""})
    assert names(sent)[:2] == ("Mara", "Beispiel")
    assert Referral.objects.get(pk=draft.pk).client_id != sent.client_id


def test_browser_shows_this_person_is_already_known_before_saving_anything(client, make_referral, directory,
                                                                         referrer):
    sent = make_referral(Status.SUBMITTED)
    client.force_login(referrer)
    before = Referral.objects.count()
    response = client.post(reverse("referrals:create"), form_post(directory, last_name=""))
    page = response.content.decode()
    assert response.status_code == 200
    assert "This person is already known" in page
    assert sent.reference in page and "Waiting for decision" in page and "WAS IV Luzern" in page
    assert "Known as: Mara Beispiel, 02.03.1984" in page
    assert Referral.objects.count() == before
    assert names(sent)[:2] == ("Mara", "Beispiel")


def test_continuing_with_the_known_person_files_a_draft_with_her_data_and_changes_nothing_else(
        client, make_referral, directory, referrer):
    sent = make_referral(Status.SUBMITTED)
    client.force_login(referrer)
    response = client.post(reverse("referrals:create"),
                           form_post(directory, last_name="", first_name="", phone="", known_client="continue"))
    assert response.status_code == 302
    draft = Referral.objects.exclude(pk=sent.pk).get()
    assert draft.client_id != sent.client_id
    assert names(draft) == ("Mara", "Beispiel", "079 000 00 00")  # the known data; blanks did not erase it
    assert names(sent) == ("Mara", "Beispiel", "079 000 00 00")
    assert draft.events.get().payload == {"known_client": True}


def test_a_new_ahv_number_is_saved_without_the_extra_step(client, make_referral, directory, referrer):
    make_referral(Status.SUBMITTED)
    client.force_login(referrer)
    response = client.post(reverse("referrals:create"), form_post(directory, ahv_number=OTHER_AHV))
    assert response.status_code == 302
    assert Referral.objects.count() == 2


def test_another_institution_filing_the_same_ahv_learns_nothing_about_the_person(client, make_referral, directory,
                                                                               outsider):
    sent = make_referral(Status.SUBMITTED)
    client.force_login(outsider)
    response = client.post(reverse("referrals:create"), form_post(directory, first_name="Other"))
    assert response.status_code == 302
    assert sent.reference not in response.content.decode()
    assert names(sent)[:2] == ("Mara", "Beispiel")


def test_known_person_list_has_reference_status_and_other_institution_in_fixed_queries(
        make_referral, contact_person, django_assert_num_queries):
    for status in (Status.SUBMITTED, Status.CLOSED, Status.REJECTED):
        make_referral(status)
    with django_assert_num_queries(1):  # the referrals with their institutions (memberships are cached)
        rows = selectors.known_person_referrals(contact_person, ahv_digest(VALID_AHV))
    assert {r.status for r in rows} == {Status.SUBMITTED, Status.CLOSED, Status.REJECTED}
    assert {r.other_institution.key for r in rows} == {"sd-luzern"}



def test_known_person_list_names_no_case_of_an_institution_where_the_user_is_no_party(
        make_referral, data_protection, directory):
    make_referral(Status.SUBMITTED)  # received by the IV, where this user only reads the audit trail
    membership_set_roles(user=data_protection, institution=directory["third"], roles=["case_worker"])
    data_protection.refresh_from_db()
    assert selectors.known_person_referrals(data_protection, ahv_digest(VALID_AHV)) == []

# --- Reproduction 2: the API --------------------------------------------------------------------------------

def test_api_post_with_an_existing_ahv_and_another_name_renames_nobody(make_referral, directory, referrer):
    active = make_referral(Status.ACTIVE)
    api = APIClient()
    api.force_authenticate(referrer)
    response = api.post("/api/v1/referrals/", {
        "client": {"first_name": "Someone", "last_name": "Else", "ahv_number": VALID_AHV},
        "receiving_institution": directory["rav"].pk}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["client"]["last_name"] == "Else"
    assert names(active) == ("Mara", "Beispiel", "079 000 00 00")
    detail = api.get(f"/api/v1/referrals/{active.pk}/").json()
    assert (detail["client"]["first_name"], detail["client"]["last_name"]) == ("Mara", "Beispiel")


def test_api_patch_of_a_draft_with_a_known_ahv_renames_nobody(make_referral, directory, referrer):
    active = make_referral(Status.ACTIVE)
    draft = services.referral_create_draft(actor=referrer, client_data={"first_name": "A", "last_name": "B"},
                                           data={})
    api = APIClient()
    api.force_authenticate(referrer)
    response = api.patch(f"/api/v1/referrals/{draft.pk}/", {"client": {"ahv_number": VALID_AHV, "last_name": "X"}},
                         format="json")
    assert response.status_code == 200, response.content
    assert names(active)[:2] == ("Mara", "Beispiel")


# --- Personalien ändern -------------------------------------------------------------------------------------

def test_changing_personal_data_records_old_and_new_with_the_ahv_masked(make_referral, contact_person):
    referral = make_referral(Status.SUBMITTED)
    event = services.client_change_personal_data(
        referral=referral, actor=contact_person,
        client_data={"last_name": "Muster", "ahv_number": OTHER_AHV, "phone": "079 000 00 00"})
    assert event.kind == EventKind.CLIENT_CHANGED
    assert event.payload["changes"] == [
        {"field": "last_name", "old": "Beispiel", "new": "Muster"},
        {"field": "ahv_number", "old": "756.****.****.85", "new": "756.****.****.97"},
    ]
    assert VALID_AHV not in str(event.payload) and OTHER_AHV not in str(event.payload)
    referral.client.refresh_from_db()
    assert (referral.client.last_name, referral.client.ahv_number) == ("Muster", OTHER_AHV)


def test_changing_personal_data_on_one_referral_leaves_the_persons_other_referrals_alone(make_referral, referrer):
    first, second = make_referral(Status.SUBMITTED), make_referral(Status.SUBMITTED)
    services.client_change_personal_data(referral=first, actor=referrer, client_data={"first_name": "Marah"})
    assert names(first)[0] == "Marah" and names(second)[0] == "Mara"


@pytest.mark.parametrize("persona", ["signatory", "coordinator", "outsider"])
def test_only_case_workers_of_the_parties_change_personal_data(make_referral, personas, persona):
    referral = make_referral(Status.ACTIVE)
    with pytest.raises(PermissionDenied):
        services.client_change_personal_data(referral=referral, actor=personas[persona],
                                             client_data={"first_name": "X"})
    assert names(referral)[0] == "Mara"


def test_a_draft_is_edited_directly_not_through_personal_data_changes(make_referral, referrer):
    with pytest.raises(TransitionNotAllowed):
        services.client_change_personal_data(referral=make_referral(Status.DRAFT), actor=referrer,
                                             client_data={"first_name": "X"})


def test_personal_data_change_without_a_change_or_with_an_empty_name_is_refused(make_referral, referrer):
    referral = make_referral(Status.SUBMITTED)
    with pytest.raises(ValidationError) as nothing:
        services.client_change_personal_data(referral=referral, actor=referrer, client_data={"first_name": "Mara"})
    assert "Nothing was changed" in str(nothing.value)
    with pytest.raises(ValidationError) as empty:
        services.client_change_personal_data(referral=referral, actor=referrer, client_data={"last_name": " "})
    assert list(empty.value.message_dict) == ["last_name"]
    assert not referral.events.filter(kind=EventKind.CLIENT_CHANGED).exists()


def test_personal_data_page_changes_the_data_and_the_timeline_shows_old_and_new(client, make_referral, directory,
                                                                               receiving_worker):
    referral = make_referral(Status.ACTIVE)
    client.force_login(receiving_worker)
    url = reverse("referrals:change_personal_data", args=[referral.pk])
    page = client.get(url)
    assert page.status_code == 200 and 'value="Beispiel"' in page.content.decode()
    form = {"first_name": "Mara", "last_name": "Muster", "date_of_birth": "02.03.1984", "ahv_number": VALID_AHV,
            "municipality": directory["luzern"].pk, "phone": "079 000 00 00", "preferred_language": "de"}
    assert client.post(url, form).status_code == 302
    detail = client.get(reverse("referrals:detail", args=[referral.pk])).content.decode()
    assert "Personal data changed" in detail
    assert "Beispiel → Muster" in detail
    assert VALID_AHV not in detail.replace("<details><summary>756.****.****.85</summary>756.9217.0769.85", "")


def test_personal_data_page_keeps_the_input_on_an_error(client, make_referral, directory, referrer):
    referral = make_referral(Status.SUBMITTED)
    client.force_login(referrer)
    response = client.post(reverse("referrals:change_personal_data", args=[referral.pk]), {
        "first_name": "Mara", "last_name": "Neuname", "ahv_number": "756.9217.0769.84", "preferred_language": "de"})
    assert response.status_code == 400
    page = response.content.decode()
    assert 'value="Neuname"' in page and "check digit" in page
    assert names(referral)[1] == "Beispiel"


def test_api_changes_personal_data_with_an_event(make_referral, contact_person):
    referral = make_referral(Status.SUBMITTED)
    api = APIClient()
    api.force_authenticate(contact_person)
    response = api.post(f"/api/v1/referrals/{referral.pk}/personal-data/", {"address": "Seestrasse 1"},
                        format="json")
    assert response.status_code == 200, response.content
    assert response.json()["events"][-1]["kind"] == "client_changed"
    bad = api.post(f"/api/v1/referrals/{referral.pk}/personal-data/", {"ahv_number": "123"}, format="json")
    assert bad.status_code == 400 and "ahv_number" in bad.json()


def test_the_migration_gives_every_referral_of_a_shared_record_its_own_copy(make_referral):
    first, second, third = (make_referral(Status.SUBMITTED) for _ in range(3))
    Referral.objects.filter(pk__in=[second.pk, third.pk]).update(client=first.client)  # as before issue 10
    split_shared_clients(apps, None)
    clients = [Referral.objects.get(pk=r.pk).client for r in (first, second, third)]
    assert clients[0].pk == first.client_id
    assert len({c.pk for c in clients}) == 3
    assert {(c.last_name, c.ahv_number) for c in clients} == {("Beispiel", VALID_AHV)}


def test_typing_a_known_ahv_into_a_draft_shows_the_person_first_and_continuing_takes_her_data(
        client, make_referral, directory, referrer):
    sent = make_referral(Status.SUBMITTED)
    draft = services.referral_create_draft(actor=referrer, client_data={"first_name": "Temp", "last_name": ""},
                                           data={})
    client.force_login(referrer)
    url = reverse("referrals:edit", args=[draft.pk])
    shown = client.post(url, form_post(directory, first_name="Temp", last_name="", phone=""))
    assert shown.status_code == 200 and sent.reference in shown.content.decode()
    assert names(draft)[:2] == ("Temp", "")  # nothing saved yet
    assert client.post(url, form_post(directory, first_name="Temp", last_name="", phone="",
                                      known_client="continue")).status_code == 302
    assert names(draft) == ("Mara", "Beispiel", "079 000 00 00")
    assert names(sent) == ("Mara", "Beispiel", "079 000 00 00")
    assert Referral.objects.get(pk=draft.pk).client_id != sent.client_id


def test_an_overlong_e_mail_in_a_personal_data_change_is_a_clear_400(client, make_referral, referrer):
    referral = make_referral(Status.SUBMITTED)
    long_email = "a" * 250 + "@example.ch"
    api = APIClient()
    api.force_authenticate(referrer)
    response = api.post(f"/api/v1/referrals/{referral.pk}/personal-data/", {"email": long_email}, format="json")
    assert response.status_code == 400 and "email" in response.json()
    client.force_login(referrer)
    page = client.post(reverse("referrals:change_personal_data", args=[referral.pk]), {
        "first_name": "Mara", "last_name": "Beispiel", "ahv_number": VALID_AHV, "preferred_language": "de",
        "email": long_email})
    assert page.status_code == 400 and long_email in page.content.decode()


def test_the_step_speaks_german_by_default(client, make_referral, directory, referrer):
    make_referral(Status.SUBMITTED)
    client.cookies.pop("django_language", None)  # this module reads English through the switch's cookie
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "de-CH"
    client.force_login(referrer)
    page = client.post(reverse("referrals:create"), form_post(directory)).content.decode()
    assert "Diese Person ist bereits erfasst" in page and "Mit dieser Person weiterfahren" in page


def test_the_other_side_is_told_of_a_personal_data_change_without_the_data(
        make_referral, referrer, receiving_worker, django_capture_on_commit_callbacks):
    referral = make_referral(Status.ACTIVE)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.client_change_personal_data(referral=referral, actor=receiving_worker,
                                             client_data={"last_name": "Muster"})
    assert [message.to for message in mail.outbox] == [[referrer.email]]
    assert referral.reference in mail.outbox[0].subject
    assert "Muster" not in mail.outbox[0].body and "Beispiel" not in mail.outbox[0].body
