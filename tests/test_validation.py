"""Plausible input everywhere (issue 10, item 4): pages, API, admin and directory import refuse implausible
dates, overlong texts, bad e-mail addresses and phone numbers and control characters with a clear message
(form error or 400, input kept) - never a 500. Rows that are already bad render as "–" instead of failing.
"""

import datetime
from decimal import Decimal

import pytest
from conftest import VALID_AHV, client_data, referral_data
from django.core.exceptions import ValidationError
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from institutions.directory_import import DirectoryImportError, load_directory
from institutions.validators import MAX_TEXT_LENGTH
from referrals import services
from referrals.models import Meeting, MeetingKind, Referral, Status
from referrals.templatetags.optima import swissdate

TODAY = timezone.localdate()
LONG_EMAIL = "a" * 250 + "@example.ch"  # 261 characters: a 500 on web and API before


def api(user, language="en"):
    client = APIClient(HTTP_ACCEPT_LANGUAGE=language)
    _row, token = AuthToken.objects.create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def application(directory, client=None, **overrides):
    body = {
        "receiving_institution": directory["iv"].pk,
        "client": {"first_name": "Mara", "last_name": "Beispiel", "date_of_birth": "1984-03-02",
                   "ahv_number": VALID_AHV, "municipality": 1061, **(client or {})},
        "situation": {"in_social_counselling": True, "economic_social_assistance": True},
        "mandate": "Job coaching until a stable placement",
        "planned_duration_months": 6,
        "consent": {"given_on": (TODAY - datetime.timedelta(days=3)).isoformat(), "form": "written"},
    }
    body.update(overrides)
    return body


def form_post(directory, **overrides):
    data = {"first_name": "Mara", "last_name": "Beispiel", "date_of_birth": "1984-03-02", "ahv_number": VALID_AHV,
            "municipality": directory["luzern"].pk, "preferred_language": "de", "in_social_counselling": "on",
            "economic_social_assistance": "on", "receiving_institution": directory["iv"].pk,
            "mandate": "Job coaching", "planned_duration_months": "6",
            "consent_given_on": (TODAY - datetime.timedelta(days=2)).isoformat(), "consent_form": "written"}
    data.update(overrides)
    return data


# --- Dates of the application ---------------------------------------------------------------------------

@pytest.mark.parametrize("birth, fragment", [
    (datetime.date(2200, 1, 1), "cannot be in the future"),
    (datetime.date(1899, 12, 31), "after 01.01.1900"),
])
def test_implausible_birth_dates_are_refused_by_the_services(referrer, directory, english, birth, fragment):
    with pytest.raises(ValidationError) as caught:
        services.referral_create_draft(actor=referrer, client_data=client_data(directory, date_of_birth=birth),
                                       data=referral_data(directory))
    assert fragment in caught.value.message_dict["date_of_birth"][0]
    assert not Referral.objects.exists()


def test_consent_before_birth_or_in_the_future_is_refused(referrer, directory, english):
    with pytest.raises(ValidationError) as caught:
        services.referral_create_draft(
            actor=referrer, client_data=client_data(directory),
            data=referral_data(directory, consent_given_on=datetime.date(1980, 1, 1)))
    assert "before the client's birth (02.03.1984)" in caught.value.message_dict["consent_given_on"][0]
    with pytest.raises(ValidationError) as caught:
        services.referral_create_draft(
            actor=referrer, client_data=client_data(directory),
            data=referral_data(directory, consent_given_on=timezone.localdate() + datetime.timedelta(days=1)))
    assert "future" in caught.value.message_dict["consent_given_on"][0]


def test_editing_the_birth_date_of_a_draft_is_checked_against_its_consent(make_referral, referrer, english):
    draft = make_referral(Status.DRAFT)
    with pytest.raises(ValidationError) as caught:
        services.referral_update_draft(referral=draft, actor=referrer,
                                       client_data={"date_of_birth": timezone.localdate() - datetime.timedelta(days=1)})
    assert "before the client's birth" in caught.value.message_dict["consent_given_on"][0]


def test_page_shows_a_german_error_at_the_birth_date_and_keeps_the_input(client, referrer, directory):
    client.force_login(referrer)
    response = client.post(reverse("referrals:create"), form_post(directory, date_of_birth="2200-01-01",
                                                                  mandate="Mein Auftrag"))
    assert response.status_code == 400
    page = response.content.decode()
    assert "Das Geburtsdatum kann nicht in der Zukunft liegen" in page
    assert "Mein Auftrag" in page and 'value="2200-01-01"' in page
    assert not Referral.objects.exists()


def test_api_answers_400_for_a_birth_date_in_2200_and_consent_before_birth(referrer, directory):
    response = api(referrer).post("/api/v1/referrals/", application(
        directory, client={"date_of_birth": "2200-01-01"}), format="json")
    assert response.status_code == 400
    assert "future" in response.json()["client"]["date_of_birth"][0]
    response = api(referrer).post("/api/v1/referrals/", application(
        directory, consent={"given_on": "1950-01-01", "form": "written"}), format="json")
    assert response.status_code == 400
    assert "birth" in response.json()["consent"]["given_on"][0]


# --- Meetings and cost approvals ------------------------------------------------------------------------------

def test_a_meeting_in_year_1_is_refused_on_the_page_with_the_input_kept(client, make_referral, receiving_worker):
    referral = make_referral(Status.ACCEPTED)
    client.force_login(receiving_worker)
    response = client.post(reverse("referrals:schedule_handover", args=[referral.pk]),
                           {"scheduled_at": "0001-01-01T00:00", "location": "Sitzungszimmer 3"})
    assert response.status_code == 400
    page = response.content.decode()
    assert "Gespräche werden innerhalb eines Jahres" in page
    assert "Sitzungszimmer 3" in page
    assert not Meeting.objects.exists()


@pytest.mark.parametrize("moment", [
    datetime.datetime(1, 1, 1, 0, 0), datetime.datetime(9999, 12, 31, 23, 59),
    datetime.datetime.combine(TODAY, datetime.time(9)) + datetime.timedelta(days=400),
])
def test_meetings_outside_a_year_around_today_are_refused(make_referral, receiving_worker, english, moment):
    referral = make_referral(Status.ACCEPTED)
    with pytest.raises(ValidationError) as caught:
        services.meeting_schedule(referral=referral, actor=receiving_worker, kind=MeetingKind.HANDOVER,
                                  scheduled_at=moment.replace(tzinfo=timezone.get_current_timezone()))
    assert "within a year of today" in caught.value.message_dict["scheduled_at"][0]


def test_a_handover_held_in_1900_is_refused_and_planned_dates_stay_near_today(make_referral, receiving_worker,
                                                                                english):
    referral = make_referral(Status.ACCEPTED)
    with pytest.raises(ValidationError) as caught:
        services.handover_record(referral=referral, actor=receiving_worker, held_on=datetime.date(1900, 1, 1),
                                 case_work_starts_on=datetime.date(9999, 1, 1), strategy="Coaching",
                                 first_status_meeting_on=TODAY + datetime.timedelta(days=30),
                                 client_able_and_willing=True, all_agreed=True)
    errors = caught.value.message_dict
    assert "within a year" in errors["held_on"][0]
    assert "within a year of today" in errors["case_work_starts_on"][0]
    assert "first_status_meeting_on" not in errors


def test_a_cost_approval_from_year_1_to_9999_is_refused(make_referral, receiving_worker, english):
    referral = make_referral(Status.ACTIVE)
    kwargs = {"referral": referral, "actor": receiving_worker, "measure": "Coaching", "provider": "Coaching AG",
              "amount_chf": Decimal("1800.00"), "justification": "Placement"}
    with pytest.raises(ValidationError) as caught:
        services.cost_approval_request(starts_on=datetime.date(1, 1, 1), ends_on=datetime.date(9999, 12, 31),
                                       **kwargs)
    assert "at most a year back" in caught.value.message_dict["starts_on"][0]
    with pytest.raises(ValidationError) as caught:
        services.cost_approval_request(starts_on=TODAY, ends_on=TODAY.replace(year=TODAY.year + 3), **kwargs)
    assert "at most two years" in caught.value.message_dict["ends_on"][0]


def test_api_refuses_a_handover_held_in_1900_with_400(make_referral, receiving_worker):
    referral = make_referral(Status.ACCEPTED)
    response = api(receiving_worker).post(f"/api/v1/referrals/{referral.pk}/handover/", {
        "held_on": "1900-01-01", "all_agreed": False}, format="json")
    assert response.status_code == 400
    assert "held_on" in response.json()


# --- Key-figure periods ------------------------------------------------------------------------------------------

def test_kpi_period_to_9999_is_a_400_on_the_api_and_a_form_error_on_the_page(client, coordinator):
    response = api(coordinator).get("/api/v1/reports/kpi/", {"from": "2024-01-01", "to": "9999-12-31"})
    assert response.status_code == 400
    assert "Choose a day between 01.01.2000" in response.json()["to"][0]
    client.force_login(coordinator)
    response = client.get(reverse("reporting:dashboard"), {"from": "0001-01-01", "to": "9999-12-31"})
    assert response.status_code in (200, 400)
    assert "Wählen Sie einen Tag zwischen dem 01.01.2000" in response.content.decode()


# --- Texts, e-mail, phone, control characters ---------------------------------------------------------------------

def test_api_refuses_overlong_texts_control_characters_and_bad_contact_data(referrer, directory):
    client = api(referrer)
    cases = [
        ({"mandate": "x" * (MAX_TEXT_LENGTH + 1)}, ("mandate",)),
        ({"mandate": "Auftrag\x00"}, ("mandate",)),
        ({"mandate": "Auftrag\x1b[31m"}, ("mandate",)),
        ({"client": {"first_name": "Ma\x07ra", "last_name": "B"}}, ("client", "first_name")),
        ({"client": {"first_name": "Mara", "last_name": "B", "email": LONG_EMAIL}}, ("client", "email")),
        ({"client": {"first_name": "Mara", "last_name": "B", "phone": "call me maybe"}}, ("client", "phone")),
    ]
    for override, path in cases:
        body = application(directory, **({} if "client" in override else override))
        if "client" in override:
            body["client"].update(override["client"])
        response = client.post("/api/v1/referrals/", body, format="json")
        assert response.status_code == 400, (override, response.content)
        detail = response.json()
        for part in path:
            detail = detail[part]
        assert detail, override
    assert not Referral.objects.exists()


def test_multi_line_text_with_tabs_and_line_breaks_is_fine(referrer, directory):
    response = api(referrer).post("/api/v1/referrals/", application(
        directory, mandate="Erstens:\tCoaching\r\nZweitens: Stelle", client={"phone": "+41 79 000 00 00"}),
        format="json")
    assert response.status_code == 201, response.content


def test_page_refuses_a_long_email_and_a_long_mandate_with_errors_at_the_fields(client, referrer, directory,
                                                                               english_pages):
    client.force_login(referrer)
    response = client.post(reverse("referrals:create"), form_post(
        directory, email=LONG_EMAIL, mandate="y" * (MAX_TEXT_LENGTH + 1), phone="041 208 00 00"))
    assert response.status_code == 400
    form = response.context["form"]
    assert "at most 254 characters" in " ".join(form.errors["email"])
    assert "5000" in " ".join(form.errors["mandate"])
    assert not Referral.objects.exists()


def test_text_areas_carry_maxlength_for_the_counter_script(client, referrer):
    client.force_login(referrer)
    page = client.get(reverse("referrals:create")).content.decode()
    assert f'maxlength="{MAX_TEXT_LENGTH}"' in page
    assert "js/charcount.js" in page
    assert 'name="optima-charcount"' in page


def test_comment_with_a_nul_character_is_a_form_error_not_a_500(client, make_referral, referrer):
    referral = make_referral(Status.SUBMITTED)
    client.force_login(referrer)
    response = client.post(reverse("referrals:comment", args=[referral.pk]), {"text": "Frage\x00"})
    assert response.status_code == 400


def test_search_with_a_nul_character_explains_instead_of_failing(client, make_referral, referrer):
    make_referral(Status.SUBMITTED)
    client.force_login(referrer)
    response = client.get(reverse("referrals:list"), {"q": "Mara\x00"})
    assert response.status_code == 400
    page = response.content.decode()
    assert "Steuerzeichen" in page
    assert 'value="Mara"' in page


def test_directory_import_refuses_bad_phone_numbers_and_control_characters(db):
    text = ("municipalities:\n  - {bfs: 1103, name: Sursee}\ninstitutions:\n  - key: rav-sursee\n"
            "    name: RAV Sursee\n    kind: rav\n    email: rav@example.ch\n    phone: \"call us\"\n"
            "    municipalities: [1103]\n")
    with pytest.raises(DirectoryImportError) as caught:
        load_directory(text)
    assert caught.value.line == 8
    with pytest.raises(DirectoryImportError):
        load_directory(text.replace('"call us"', '"041 000 00 00"').replace("RAV Sursee", '"RAV\\0 Sursee"'))


def test_admin_refuses_an_implausible_phone_number(client, administrator, directory):
    administrator.is_staff = administrator.is_superuser = True
    administrator.save()
    client.force_login(administrator)
    institution = directory["rav"]
    response = client.post(reverse("admin:institutions_institution_change", args=[institution.pk]), {
        "key": institution.key, "name": institution.name, "kind": institution.kind, "active": "on",
        "email": institution.email, "phone": "not a number", "municipalities": [directory["luzern"].pk]})
    assert response.status_code == 200
    assert "phone" in response.context["adminform"].form.errors
    institution.refresh_from_db()
    assert institution.phone != "not a number"


# --- Bad rows already stored -----------------------------------------------------------------------------------------

def test_dates_that_cannot_be_shown_render_as_a_dash():
    assert swissdate(datetime.datetime(9999, 12, 31, 23, 59, tzinfo=datetime.UTC)) == "–"
    assert swissdate(datetime.date(2024, 1, 31)) == "31.01.2024"


def _pages_survive(client, user, referral):
    client.force_login(user)
    assert client.get(reverse("referrals:detail", args=[referral.pk])).status_code == 200
    assert client.get(reverse("home")).status_code == 200
    assert api(user).get(f"/api/v1/referrals/{referral.pk}/").status_code == 200


def test_a_meeting_stored_at_the_end_of_time_does_not_take_pages_down(client, make_referral, personas):
    """Inserted directly (not through the services, which refuse it): 31.12.9999 23:59 UTC overflows in Zurich."""
    referral = make_referral(Status.ACCEPTED)
    Meeting.objects.create(referral=referral, kind=MeetingKind.HANDOVER,
                           scheduled_at=datetime.datetime(9999, 12, 31, 23, 59, tzinfo=datetime.UTC))
    for name in ("referrer", "receiving_worker", "contact_person", "coordinator"):
        _pages_survive(client, personas[name], referral)
    page = client.get(reverse("referrals:detail", args=[referral.pk])).content.decode()
    assert "–" in page


@pytest.mark.postgres
def test_a_meeting_stored_in_year_1_before_the_fix_does_not_take_pages_down(client, make_referral, personas):
    """The reproduction of the issue: 0001-01-01T00:00 Zurich time is 31.12.0000 in UTC, which PostgreSQL
    stores and Python cannot read. Inserted with SQL; case page, API detail, start page and rescheduling
    must answer, and rescheduling repairs the row."""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL stores dates before year 1; SQLite through Django cannot")
    referral = make_referral(Status.ACCEPTED)
    meeting = Meeting.objects.create(referral=referral, kind=MeetingKind.HANDOVER,
                                     scheduled_at=timezone.now() + datetime.timedelta(days=3))
    with connection.cursor() as cursor:
        cursor.execute("UPDATE referrals_meeting SET scheduled_at = '0001-01-01 00:00:00+00:34:08' WHERE id = %s",
                       [meeting.pk])
    Meeting.objects.get(pk=meeting.pk)  # loads (as an empty moment) instead of raising
    for name in ("referrer", "receiving_worker", "contact_person", "coordinator"):
        _pages_survive(client, personas[name], referral)
    client.force_login(personas["receiving_worker"])
    moment = (timezone.localtime() + datetime.timedelta(days=7)).replace(second=0, microsecond=0)
    response = client.post(reverse("referrals:schedule_handover", args=[referral.pk]),
                           {"scheduled_at": moment.strftime("%Y-%m-%dT%H:%M")})
    assert response.status_code == 302
    assert Meeting.objects.get(pk=meeting.pk).scheduled_at == moment  # the row is repaired


def test_year_1_meeting_from_the_page_no_longer_reaches_the_database(client, make_referral, personas):
    referral = make_referral(Status.ACCEPTED)
    client.force_login(personas["receiving_worker"])
    response = client.post(reverse("referrals:schedule_handover", args=[referral.pk]),
                           {"scheduled_at": "0001-01-01T00:00"})
    assert response.status_code == 400
    for name in ("referrer", "contact_person", "coordinator"):
        _pages_survive(client, personas[name], referral)

