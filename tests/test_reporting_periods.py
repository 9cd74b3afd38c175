"""Periods count the events in them (Zurich days, both ends included); only the coordinator and
administrators see the key figures; the query count does not grow with the number of referrals."""

import datetime

import pytest
import time_machine
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from test_reporting_pilot_data import (
    API,
    PILOT_SHEET,
    ahv_number,
    build_pilot,
    flatten,
    kpi_cells,
    make_user,
    pilot_directory,
)

from referrals import services
from referrals.models import MeetingDecision


@pytest.fixture
def client(client):
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    client.cookies["django_language"] = "en"  # the language switch (issue 12), not the browser alone
    return client


# --- periods ---------------------------------------------------------------------------------------------


def _at(moment, func, **kwargs):
    with time_machine.travel(moment, tick=False):
        return func(**kwargs)


@pytest.fixture
def small(db):
    """Two institutions and the people to move referrals along at chosen moments."""
    directory = pilot_directory()
    directory["coordinator"] = make_user("koordination.klein", directory["rav"], ["coordinator"])
    return directory


def submit_at(directory, moment, receiver="iv", serial=1):
    staff = directory["sd_staff"]
    data = {"receiving_institution": directory[receiver], "mandate": "Coaching", "planned_duration_months": 6,
            "consent_given_on": moment.date() - datetime.timedelta(days=1), "consent_form": "written",
            "in_social_counselling": True, "problem_areas": ["debts"]}
    client_data = {"first_name": "A", "last_name": "B", "date_of_birth": datetime.date(1980, 1, 1),
                   "ahv_number": ahv_number(200000000 + serial), "municipality": directory["luzern"]}
    referral = _at(moment - datetime.timedelta(hours=1), services.referral_create_draft, actor=staff,
                   client_data=client_data, data=data)
    _at(moment, services.referral_submit, referral=referral, actor=staff)
    referral.refresh_from_db()
    return referral


def zurich(*args):
    return timezone.make_aware(datetime.datetime(*args), timezone.get_fixed_timezone(60))


def sheet_for(client, start, end):
    response = client.get(API, {"from": start, "to": end})
    assert response.status_code == 200, response.content
    return response.json()


def test_period_counts_the_days_from_and_to_inclusive_in_zurich_time(client, small):
    client.force_login(small["coordinator"])
    submit_at(small, zurich(2022, 11, 1, 0, 0), serial=1)  # first moment of the period
    submit_at(small, zurich(2022, 11, 30, 23, 30), serial=2)  # 23:30 on the last day (22:30 UTC) counts
    submit_at(small, zurich(2022, 10, 31, 23, 59), serial=3)  # the evening before: not in November
    submit_at(small, zurich(2022, 12, 1, 0, 30), serial=4)  # 23:30 UTC on 30 Nov, but December in Zurich
    november = sheet_for(client, "2022-11-01", "2022-11-30")
    assert november["period"] == {"from": "2022-11-01", "to": "2022-11-30"}
    assert november["applications"] == 2 and november["referrers"] == {"iv": 0, "rav": 0, "social": 2}
    assert sheet_for(client, "2022-12-01", "2022-12-31")["applications"] == 1
    assert sheet_for(client, "2022-10-01", "2022-10-31")["applications"] == 1
    assert sheet_for(client, "2022-11-30", "2022-11-30")["applications"] == 1
    # Open ends: from the start / until today.
    assert client.get(API, {"to": "2022-11-30"}).json()["applications"] == 3
    assert client.get(API, {"from": "2022-11-01"}).json()["applications"] == 3
    assert client.get(API).json()["applications"] == 4


def test_summer_time_last_day_counts_too(client, small):
    client.force_login(small["coordinator"])
    summer = timezone.get_fixed_timezone(120)
    submit_at(small, timezone.make_aware(datetime.datetime(2023, 6, 30, 23, 30), summer), serial=5)
    assert sheet_for(client, "2023-06-01", "2023-06-30")["applications"] == 1
    assert sheet_for(client, "2023-07-01", "2023-07-31")["applications"] == 0


def test_each_figure_counts_its_own_event_in_the_period(client, small):
    """Submitted in October, accepted and closed in November: October shows the application, November
    the acceptance and the closure."""
    client.force_login(small["coordinator"])
    iv = small["iv_staff"]
    referral = submit_at(small, zurich(2022, 10, 20, 10, 0), serial=6)
    _at(zurich(2022, 11, 2, 10, 0), services.referral_accept, referral=referral, actor=iv, case_worker=iv)
    referral.refresh_from_db()
    _at(zurich(2022, 11, 3, 10, 0), services.handover_record, referral=referral, actor=iv,
        held_on=datetime.date(2022, 11, 3), case_work_starts_on=datetime.date(2022, 11, 3), strategy="Coaching",
        first_status_meeting_on=datetime.date(2022, 12, 1), client_able_and_willing=True, all_agreed=True)
    referral.refresh_from_db()
    _at(zurich(2022, 11, 28, 10, 0), services.status_meeting_record, referral=referral, actor=iv,
        held_on=datetime.date(2022, 11, 28), progress="Stelle gefunden", decision=MeetingDecision.CLOSE,
        outcome="successful", ground="goal_reached")
    october = sheet_for(client, "2022-10-01", "2022-10-31")
    november = sheet_for(client, "2022-11-01", "2022-11-30")
    assert (october["applications"], october["accepted"], october["closed"]["total"]) == (1, 0, 0)
    assert (november["applications"], november["accepted"], november["closed"]) == (
        0, 1, {"total": 1, "iv": 1, "rav": 0, "social": 0})
    assert november["closure_outcomes"]["successful"]["iv"] == 1


def test_withdrawn_drafts_never_count(client, small):
    client.force_login(small["coordinator"])
    staff = small["sd_staff"]
    draft = services.referral_create_draft(actor=staff, client_data={"first_name": "X", "last_name": "Y"},
                                           data={"receiving_institution": small["iv"]})
    services.referral_withdraw(referral=draft, actor=staff, reason="")
    assert client.get(API).json()["applications"] == 0


def test_empty_period_gives_zeros_in_the_same_shape(client, small):
    client.force_login(small["coordinator"])
    submit_at(small, zurich(2022, 11, 10, 10, 0), serial=7)
    empty = sheet_for(client, "2021-01-01", "2021-12-31")
    assert set(empty) == set(PILOT_SHEET)
    assert all(value == 0 for _key, value in flatten(empty))
    assert empty["rejected"] == {"total": 0, "iv_rejection_recent": 0, "no_intact_work_offer": 0,
                                 "no_capacity": 0, "goal_not_feasible": 0, "other": 0}
    page = client.get(reverse("reporting:dashboard"), {"from": "2021-01-01", "to": "2021-12-31"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "01.01.2021 to 31.12.2021" in html
    assert set(kpi_cells(html)["applications"]) == {"0"}


def test_invalid_periods_are_refused(client, small):
    client.force_login(small["coordinator"])
    assert client.get(API, {"from": "30.11.2022x"}).status_code == 400
    assert client.get(API, {"from": "2022-12-01", "to": "2022-11-01"}).status_code == 400
    page = client.get(reverse("reporting:dashboard"), {"from": "2022-12-01", "to": "2022-11-01"})
    assert page.status_code == 400
    assert "The end of the period must not be before its start." in page.content.decode()


# --- who may see it --------------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["referrer", "contact_person", "receiving_worker", "signatory", "outsider"])
def test_everyone_but_coordinator_and_administrators_gets_403(client, persona, request):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(reverse("reporting:dashboard")).status_code == 403
    assert client.get(API).status_code == 403
    assert client.get(reverse("reporting:snapshots")).status_code == 403
    assert client.post(reverse("reporting:snapshot_create"), {}).status_code == 403


@pytest.mark.parametrize("persona", ["coordinator", "administrator"])
def test_coordinator_and_administrators_see_it(client, persona, request):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(reverse("reporting:dashboard")).status_code == 200
    assert client.get(API).status_code == 200


def test_anonymous_is_sent_to_login_or_refused(client, db):
    response = client.get(reverse("reporting:dashboard"))
    assert response.status_code == 302 and reverse("login") in response["Location"]
    assert client.get(API).status_code in (401, 403)


# --- query counts ----------------------------------------------------------------------------------------

# Session, user, memberships; then the figures from the KPI rollup (6: totals, trend, durations (2: histogram,
# then the values it points at), open referrals, money per institution; issues 11 and 14), page details
# (1: the oldest waiting referrals), the snapshot list (1), one INSERT into the audit trail (issue 9) - whatever
# the number of referrals. Model C (issue 11) comes with its own request (issue 14): MODEL_C_QUERIES.

API_QUERIES = 4
PAGE_QUERIES = 12
# Session, user, memberships; fee rules, rates; cases (added up by PostgreSQL); their institutions. On PostgreSQL
# two more: the large statement's settings, set and (inside the test's transaction) set back.
MODEL_C_QUERIES = 9 if connection.vendor == "postgresql" else 7


def test_query_count_does_not_grow_with_the_referrals(client, small, django_assert_num_queries):
    coordinator = small["coordinator"]
    client.force_login(coordinator)
    with django_assert_num_queries(API_QUERIES):
        assert client.get(API).status_code == 200
    with django_assert_num_queries(PAGE_QUERIES):
        assert client.get(reverse("reporting:dashboard")).status_code == 200
    build_pilot(directory=small)
    with django_assert_num_queries(API_QUERIES):
        assert client.get(API).json() == PILOT_SHEET
    with django_assert_num_queries(PAGE_QUERIES):
        assert client.get(reverse("reporting:dashboard")).status_code == 200
    with django_assert_num_queries(MODEL_C_QUERIES):
        assert client.get(reverse("reporting:model_c")).status_code == 200
    with django_assert_num_queries(API_QUERIES):
        assert client.get(API, {"from": "2020-01-01", "to": "2020-12-31"}).status_code == 200

