"""REST API v1 (issue 4): every endpoint's success path, bad input and permission cases.

The API calls the same services as the browser, so these tests check the translation to HTTP:
400 field messages, 403 may see but not act, 404 outside the user's parties, 409 wrong status.
"""

import datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone, translation
from knox.models import AuthToken
from rest_framework.test import APIClient

from audit.models import AuditRecord
from institutions.services import membership_set_roles
from referrals import services
from referrals.models import CostApproval, EventKind, ReferralEvent, Status
from tests.conftest import PASSWORD, VALID_AHV, client_data, referral_data

TODAY = timezone.localdate()


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def api(user=None, language="en"):
    """An API client as an external system uses it: token header, JSON, a chosen language."""
    client = APIClient(HTTP_ACCEPT_LANGUAGE=language)
    if user is not None:
        _row, token = AuthToken.objects.create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def application(directory, **overrides):
    """The request body of POST /api/v1/referrals/ as in the issue."""
    body = {
        "receiving_institution": directory["iv"].pk,
        "client": {"first_name": "Mara", "last_name": "Beispiel", "date_of_birth": "1984-03-02",
                   "ahv_number": VALID_AHV, "municipality": 1103, "phone": "", "email": ""},
        "situation": {"in_social_counselling": True, "economic_social_assistance": True,
                      "registered_at_rav": False, "receives_unemployment_benefits": False,
                      "in_iv_integration": False, "iv_procedure_running": False,
                      "iv_health_damage_suspected": False,
                      "last_iv_rejection_on": None, "last_rav_registration_on": None},
        "mandate": "Job coaching until a stable placement",
        "problem_areas": [],
        "planned_duration_months": 6,
        "consent": {"given_on": (TODAY - datetime.timedelta(days=3)).isoformat(), "form": "written"},
    }
    body.update(overrides)
    return body


def url(referral, action=""):
    base = f"/api/v1/referrals/{referral.pk}/"
    return f"{base}{action}/" if action else base


def last_event(referral):
    return ReferralEvent.objects.filter(referral=referral).order_by("-created_at", "-id").first()


def upload(name="note.pdf", content=b"%PDF-1.4 test"):
    return SimpleUploadedFile(name, content, content_type="application/pdf")


# --- Token, me, directory -------------------------------------------------------------------------------

def test_token_flow(referrer):
    anonymous = api()
    assert anonymous.get("/api/v1/me/").status_code == 401
    response = anonymous.post("/api/v1/auth/token/", {"username": referrer.username, "password": PASSWORD},
                              format="json")
    assert response.status_code == 200
    token = response.json()["token"]
    assert AuthToken.objects.filter(user=referrer).count() == 1  # stored as a hash, not as the key
    assert not AuthToken.objects.filter(digest=token).exists()

    anonymous.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    me = anonymous.get("/api/v1/me/")
    assert me.status_code == 200
    assert me.json()["username"] == referrer.username


def test_token_bad_credentials_and_bad_token(referrer):
    response = api().post("/api/v1/auth/token/", {"username": referrer.username, "password": "wrong"},
                          format="json")
    assert response.status_code == 400
    assert "non_field_errors" in response.json()
    response = api().post("/api/v1/auth/token/", {"username": referrer.username}, format="json")
    assert response.status_code == 400
    assert response.json()["password"] == ["This field is required."]

    client = api()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    response = client.get("/api/v1/me/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_session_authentication_works_too(client, referrer):
    client.force_login(referrer)
    assert client.get("/api/v1/me/").json()["id"] == referrer.pk


def test_me(referrer, contact_person, coordinator, directory):
    me = api(contact_person).get("/api/v1/me/").json()
    assert me == {
        "id": contact_person.pk, "username": "iv.kontakt", "name": "Iris Vogel", "email": "iv.kontakt@example.ch",
        "institution": {"id": directory["iv"].pk, "key": "was-iv", "name": "WAS IV Luzern", "kind": "iv"},
        "roles": ["case_worker", "contact_person"],
    }
    assert api(coordinator).get("/api/v1/me/").json()["roles"] == ["coordinator"]


def test_directory(referrer, contact_person, directory):
    response = api(referrer).get("/api/v1/institutions/")
    assert response.status_code == 200
    entries = {entry["key"]: entry for entry in response.json()["results"]}
    iv = entries["was-iv"]
    assert iv["kind"] == "iv"
    assert iv["email"] == "iv@example.ch"
    assert iv["municipalities"] == [1061, 1103]
    assert iv["contact_persons"] == [{"name": "Iris Vogel", "email": "iv.kontakt@example.ch",
                                      "phone": "041 000 00 00"}]
    assert entries["sd-luzern"]["integral_case_management"] is True
    assert entries["sd-klein"]["integral_case_management"] is False

    sursee = api(referrer).get("/api/v1/institutions/?municipality=1103").json()["results"]
    assert {entry["key"] for entry in sursee} == {"was-iv", "sobz-sursee"}
    social = api(referrer).get("/api/v1/institutions/?kind=social").json()["results"]
    assert {entry["kind"] for entry in social} == {"social"}


def test_directory_bad_filter_and_anonymous(referrer):
    assert api(referrer).get("/api/v1/institutions/?kind=bank").status_code == 400
    assert api(referrer).get("/api/v1/institutions/?municipality=abc").status_code == 400
    assert api().get("/api/v1/institutions/").status_code == 401


def test_directory_refuses_a_bfs_number_beyond_what_the_database_stores(referrer):
    # The schema on PostgreSQL says 2**31 - 1 (the PositiveIntegerField's range); larger was answered 200 there.
    assert api(referrer).get("/api/v1/institutions/?municipality=2147483647").status_code == 200
    response = api(referrer).get("/api/v1/institutions/?municipality=8841061855")
    assert response.status_code == 400 and "municipality" in response.json()


def test_directory_query_count_does_not_grow(referrer, directory, django_assert_num_queries):
    client = api(referrer)
    with django_assert_num_queries(5):  # token, count, institutions, municipalities, contact persons
        client.get("/api/v1/institutions/")
    for number in range(5):
        extra = directory["iv"].__class__.objects.create(key=f"extra-{number}", name=f"Extra {number}", kind="rav")
        extra.municipalities.add(directory["luzern"])
    with django_assert_num_queries(5):
        assert len(client.get("/api/v1/institutions/").json()["results"]) == 10


# --- Listing -------------------------------------------------------------------------------------------

def test_list_shows_only_the_users_referrals(make_referral, referrer, contact_person, outsider, coordinator):
    draft = make_referral(Status.DRAFT)
    submitted = make_referral(Status.SUBMITTED)

    def ids(user, query=""):
        response = api(user).get(f"/api/v1/referrals/{query}")
        assert response.status_code == 200
        return {item["id"] for item in response.json()["results"]}

    assert ids(referrer) == {draft.pk, submitted.pk}
    assert ids(contact_person) == {submitted.pk}  # drafts are the referrer's alone
    assert ids(outsider) == set()
    assert ids(coordinator) == {draft.pk, submitted.pk}
    assert ids(referrer, "?status=draft") == {draft.pk}
    assert ids(referrer, "?direction=sent") == {draft.pk, submitted.pk}
    assert ids(referrer, "?direction=received") == set()
    assert ids(contact_person, "?direction=received") == {submitted.pk}



def test_direction_counts_only_institutions_where_the_user_works_cases(make_referral, coordinator, directory):
    submitted = make_referral(Status.SUBMITTED)  # from the social services to the IV
    membership_set_roles(user=coordinator, institution=directory["iv"], roles=["data_protection"])
    membership_set_roles(user=coordinator, institution=directory["third"], roles=["case_worker"])
    coordinator.refresh_from_db()
    client = api(coordinator)
    assert client.get("/api/v1/referrals/").json()["results"]  # the coordinator still sees every referral
    assert submitted.pk not in {r["id"] for r in client.get("/api/v1/referrals/?direction=received").json()["results"]}

def test_list_item_shape(make_referral, referrer):
    referral = make_referral(Status.SUBMITTED)
    item = api(referrer).get("/api/v1/referrals/").json()["results"][0]
    assert item["reference"] == referral.reference
    assert item["status"] == "submitted"
    assert item["process"] == "optima_iv"
    assert item["target_group"] == "E"
    assert item["client"]["ahv_masked"] == "756.****.****.85"
    assert item["receiving_institution"]["key"] == "was-iv"


def test_list_bad_filter(referrer):
    response = api(referrer).get("/api/v1/referrals/?status=lost")
    assert response.status_code == 400
    assert "status" in response.json()
    assert api(referrer).get("/api/v1/referrals/?direction=sideways").status_code == 400
    assert api(referrer).get("/api/v1/referrals/?status=").status_code == 400  # empty is not "any"
    for page in ("99", "", "last", "-1", "x"):
        assert api(referrer).get(f"/api/v1/referrals/?page={page}").status_code == 404, page
    assert api(referrer).get("/api/v1/referrals/?page=1").status_code == 200


def test_list_query_count_does_not_grow(make_referral, referrer, django_assert_num_queries):
    client = api(referrer)
    make_referral(Status.SUBMITTED)
    # token, memberships, the page's ids (each side's newest) and its rows (no count, issue 14), the clients'
    # municipalities and the referring case workers by a query each (no assigned case worker before the
    # decision: no query for those), access log
    with django_assert_num_queries(7):
        assert len(client.get("/api/v1/referrals/").json()["results"]) == 1
    for _ in range(4):
        make_referral(Status.SUBMITTED)
    with django_assert_num_queries(7):
        assert len(client.get("/api/v1/referrals/?status=submitted").json()["results"]) == 5
    with django_assert_num_queries(7):  # numbered pages count the list
        assert client.get("/api/v1/referrals/?page=1").json()["count"] == 5


def test_list_rows_name_both_case_workers_and_the_clients_municipality(make_referral, referrer, receiving_worker):
    """Loaded by a query each rather than joined (selectors.LIST_RELATED), they are still in every row."""
    referral = make_referral(Status.ACCEPTED)
    row = next(r for r in api(referrer).get("/api/v1/referrals/").json()["results"] if r["id"] == referral.pk)
    assert row["referring_case_worker"]["id"] == referrer.pk and row["referring_case_worker"]["name"]
    assert row["assigned_case_worker"]["id"] == receiving_worker.pk and row["assigned_case_worker"]["name"]
    assert row["client"]["municipality"] == referral.client.municipality.bfs_number


@pytest.mark.parametrize("action", ["comments", "cost-approvals", "documents"])
def test_sub_lists_query_count_does_not_grow(action, make_referral, receiving_worker, django_assert_num_queries):
    referral = make_referral(Status.ACTIVE)
    client = api(receiving_worker)

    def add():
        if action == "comments":
            services.comment_add(referral=referral, actor=receiving_worker, text="Note")
        elif action == "cost-approvals":
            services.cost_approval_request(referral=referral, actor=receiving_worker, measure="M", provider="P",
                                           amount_chf=100, starts_on=TODAY, ends_on=TODAY, justification="J")
        else:
            services.document_upload(referral=referral, actor=receiving_worker, uploaded_file=upload(), kind="other")

    add()
    with django_assert_num_queries(6):  # token, memberships, referral, audit record, count, page
        assert client.get(url(referral, action)).json()["count"] == 1
    for _ in range(4):
        add()
    with django_assert_num_queries(6):
        assert client.get(url(referral, action)).json()["count"] == 5


# --- Filing ------------------------------------------------------------------------------------------------

def test_create_draft(referrer, directory):
    response = api(referrer).post("/api/v1/referrals/", application(directory), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "draft"
    assert body["reference"].startswith("OPT-")
    assert body["process"] == "optima_iv"
    assert body["target_group"] == "E"
    assert body["warnings"] == [] and body["missing"] == [] and body["hard_stops"] == []
    assert body["referring_institution"]["key"] == "sd-luzern"
    assert body["referring_case_worker"] == {"id": referrer.pk, "name": "Sandra Meier"}
    assert body["client"]["municipality"] == 1103
    assert body["client"]["ahv_masked"] == "756.****.****.85"
    assert VALID_AHV not in response.content.decode()  # never the full AHV number
    assert body["consent"]["form"] == "written"
    assert [(e["kind"], e["from_status"], e["to_status"]) for e in body["events"]] == [("status", "", "draft")]
    assert body["events"][0]["actor"]["name"] == "Sandra Meier"


def test_create_reports_warnings(referrer, directory):
    recent = (TODAY - datetime.timedelta(days=60)).isoformat()
    situation = {**application(directory)["situation"], "last_iv_rejection_on": recent}
    body = api(referrer).post("/api/v1/referrals/", application(directory, situation=situation),
                              format="json").json()
    assert [w["code"] for w in body["warnings"]] == ["iv_rejection_recent"]
    assert "12 months" in body["warnings"][0]["message"]
    assert body["warnings"][0]["field"] == "last_iv_rejection_on"


def test_create_missing_and_malformed_fields(referrer, directory):
    body = application(directory, planned_duration_months="six", problem_areas=["gambling"])
    del body["receiving_institution"]
    body["client"] = {"last_name": "Beispiel", "date_of_birth": "2.3.1984", "municipality": 9999}
    response = api(referrer).post("/api/v1/referrals/", body, format="json")
    assert response.status_code == 400
    errors = response.json()
    assert errors["receiving_institution"] == ["This field is required."]
    assert errors["client"]["first_name"] == ["This field is required."]
    assert "date_of_birth" in errors["client"]
    assert "municipality" in errors["client"]
    assert "planned_duration_months" in errors
    assert "problem_areas" in errors


@pytest.mark.parametrize("change", [
    {"planned_duration_months": "6"},
    {"receiving_institution": "2"},
    {"situation": {"iv_procedure_running": "yes"}},
    {"situation": {"registered_at_rav": 1}},
    {"mandate": 42},
    {"client": {"first_name": "Mara", "last_name": "Beispiel", "municipality": "1103"}},
    {"receiving_institution": 2**70},
])
def test_create_takes_json_types_as_documented(referrer, directory, change):
    # JSON clients get the types the schema promises; DRF's form-style coercion ("6" for 6) is off.
    response = api(referrer).post("/api/v1/referrals/", application(directory, **change), format="json")
    assert response.status_code == 400
    assert set(response.json()) == set(change)


@pytest.mark.parametrize("ahv, words", [
    ("756.9217.0769.84", "check digit"),
    ("123.4567.8901.23", "must start with 756"),
])
def test_create_invalid_ahv_number(referrer, directory, ahv, words):
    body = application(directory)
    body["client"]["ahv_number"] = ahv
    response = api(referrer).post("/api/v1/referrals/", body, format="json")
    assert response.status_code == 400
    messages = response.json()["client"]["ahv_number"]
    assert len(messages) == 1 and words in messages[0]


def german(message):
    with translation.override("de-ch"):
        return translation.gettext(message)


def test_create_in_german(referrer, directory):
    required = german("This field is required.")
    assert required != "This field is required."  # DRF ships German; the project's locale may refine it
    body = application(directory)
    del body["receiving_institution"]
    response = api(referrer, language="de").post("/api/v1/referrals/", body, format="json")
    assert response.status_code == 400
    assert response.json()["receiving_institution"] == [required]
    not_authenticated = api(language="de").get("/api/v1/me/").json()["detail"]
    assert not_authenticated == german("Authentication credentials were not provided.") != (
        "Authentication credentials were not provided.")


def test_create_needs_a_case_worker(signatory, coordinator, directory):
    for user in (signatory, coordinator):
        response = api(user).post("/api/v1/referrals/", application(directory), format="json")
        assert response.status_code == 403
        assert "case workers" in response.json()["detail"]


def test_create_rejects_form_encoded_bodies(referrer, directory):
    response = api(referrer).post("/api/v1/referrals/", {"mandate": "x"})
    assert response.status_code == 415


# --- Reading one ---------------------------------------------------------------------------------------------

def test_retrieve(make_referral, referrer, contact_person, coordinator):
    referral = make_referral(Status.ACCEPTED)
    response = api(contact_person).get(url(referral))
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "accepted"
    assert body["assigned_case_worker"]["name"] == "Ivan Brunner"
    assert [e["to_status"] for e in body["events"] if e["kind"] == "status"] == ["draft", "submitted", "accepted"]
    assert body["next_step"]["text"]
    assert AuditRecord.objects.filter(actor=contact_person, referral=referral, action="api_view").exists()
    assert api(coordinator).get(url(referral)).status_code == 200


def test_retrieve_outside_the_parties_is_404(make_referral, outsider, contact_person, referrer):
    submitted = make_referral(Status.SUBMITTED)
    draft = make_referral(Status.DRAFT)
    assert api(outsider).get(url(submitted)).status_code == 404
    assert api(contact_person).get(url(draft)).status_code == 404  # the receiver sees it once sent
    for path in ("/api/v1/referrals/999999/", "/api/v1/referrals/abc/", f"/api/v1/referrals/{2**70}/"):
        response = api(referrer).get(path)
        assert response.status_code == 404
        assert response.json() == {"detail": "Not found."}
    assert api(referrer, language="de").get("/api/v1/referrals/999999/").json() == {"detail": german("Not found.")}


# --- Editing a draft -------------------------------------------------------------------------------------

def test_patch_draft(make_referral, referrer):
    referral = make_referral(Status.DRAFT)
    response = api(referrer).patch(url(referral), {"mandate": "Stable placement", "client": {"phone": "041 1"},
                                                   "situation": {"iv_procedure_running": True}}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["mandate"] == "Stable placement"
    assert body["client"]["phone"] == "041 1"
    assert body["client"]["first_name"] == "Mara"  # untouched
    assert body["situation"]["iv_procedure_running"] is True
    assert body["target_group"] == "D"  # social -> IV with a running IV procedure
    assert body["events"][-1]["kind"] == "edited"


def test_patch_bad_input(make_referral, referrer):
    referral = make_referral(Status.DRAFT)
    response = api(referrer).patch(url(referral), {"planned_duration_months": 99,
                                                   "client": {"ahv_number": "756.1"}}, format="json")
    assert response.status_code == 400
    errors = response.json()
    assert "planned_duration_months" in errors
    assert "13 digits" in errors["client"]["ahv_number"][0]


# --- Lifecycle ----------------------------------------------------------------------------------------------

def test_submit(make_referral, referrer):
    referral = make_referral(Status.DRAFT)
    response = api(referrer).post(url(referral, "submit"), {}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "submitted"
    event = last_event(referral)
    assert (event.kind, event.from_status, event.to_status, event.actor) == ("status", "draft", "submitted", referrer)


def test_submit_lists_what_is_missing(make_referral, referrer):
    referral = make_referral(Status.DRAFT, mandate="", consent_given_on=None, planned_duration_months=None)
    response = api(referrer).post(url(referral, "submit"), {}, format="json")
    assert response.status_code == 400
    errors = response.json()
    assert set(errors) >= {"mandate", "planned_duration_months", "consent"}
    assert Status(referral.__class__.objects.get(pk=referral.pk).status) == Status.DRAFT


def test_submit_with_warning_needs_a_justification(make_referral, referrer):
    referral = make_referral(Status.DRAFT, last_iv_rejection_on=TODAY - datetime.timedelta(days=30))
    client = api(referrer)
    response = client.post(url(referral, "submit"), {}, format="json")
    assert response.status_code == 400
    assert list(response.json()) == ["justification"]
    response = client.post(url(referral, "submit"), {"justification": "New diagnosis since"}, format="json")
    assert response.status_code == 200
    assert response.json()["justification"] == "New diagnosis since"


def test_withdraw(make_referral, referrer):
    referral = make_referral(Status.SUBMITTED)
    response = api(referrer).post(url(referral, "withdraw"), {"reason": "Client moved"}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "withdrawn"
    assert last_event(referral).text == "Client moved"


def test_withdraw_after_sending_needs_a_reason(make_referral, referrer):
    referral = make_referral(Status.SUBMITTED)
    response = api(referrer).post(url(referral, "withdraw"), {}, format="json")
    assert response.status_code == 400
    assert list(response.json()) == ["reason"]


def test_accept(make_referral, contact_person, receiving_worker):
    referral = make_referral(Status.SUBMITTED)
    response = api(contact_person).post(url(referral, "accept"), {"case_worker": receiving_worker.pk}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "accepted"
    assert response.json()["assigned_case_worker"]["id"] == receiving_worker.pk


@pytest.mark.parametrize("body, field", [({}, "case_worker"), ({"case_worker": "Ivan"}, "case_worker"),
                                         ({"case_worker": 0}, "case_worker")])
def test_accept_bad_input(make_referral, contact_person, body, field):
    referral = make_referral(Status.SUBMITTED)
    response = api(contact_person).post(url(referral, "accept"), body, format="json")
    assert response.status_code == 400
    assert field in response.json()


def test_accept_needs_a_case_worker_of_the_receiving_institution(make_referral, contact_person, referrer):
    referral = make_referral(Status.SUBMITTED)
    response = api(contact_person).post(url(referral, "accept"), {"case_worker": referrer.pk}, format="json")
    assert response.status_code == 400
    assert response.json() == {"case_worker": ["Choose a case worker of your institution."]}


def test_reject(make_referral, contact_person):
    referral = make_referral(Status.SUBMITTED)
    response = api(contact_person).post(url(referral, "reject"), {"reason": "iv_rejection_recent"}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["rejection_reason"]) == ("rejected", "iv_rejection_recent")
    assert last_event(referral).reason == "iv_rejection_recent"


@pytest.mark.parametrize("body, field", [({"reason": "other"}, "reason_text"), ({"reason": "bored"}, "reason"),
                                         ({}, "reason")])
def test_reject_bad_input(make_referral, contact_person, body, field):
    referral = make_referral(Status.SUBMITTED)
    response = api(contact_person).post(url(referral, "reject"), body, format="json")
    assert response.status_code == 400
    assert list(response.json()) == [field]


def handover_body(**overrides):
    body = {"held_on": TODAY.isoformat(), "all_agreed": True, "case_work_starts_on": TODAY.isoformat(),
            "strategy": "Coaching, then a work trial",
            "first_status_meeting_on": (TODAY + datetime.timedelta(days=30)).isoformat(),
            "client_able_and_willing": True}
    body.update(overrides)
    return body


@pytest.mark.parametrize("all_agreed, status", [(True, "active"), (False, "not_started")])
def test_handover(make_referral, referrer, all_agreed, status):
    referral = make_referral(Status.ACCEPTED)
    response = api(referrer).post(url(referral, "handover"), handover_body(all_agreed=all_agreed), format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == status


@pytest.mark.parametrize("overrides, field", [
    ({"held_on": None}, "held_on"),
    ({"held_on": (TODAY + datetime.timedelta(days=1)).isoformat()}, "held_on"),
    ({"strategy": ""}, "strategy"),
    ({"all_agreed": "maybe"}, "all_agreed"),
])
def test_handover_bad_input(make_referral, receiving_worker, overrides, field):
    referral = make_referral(Status.ACCEPTED)
    response = api(receiving_worker).post(url(referral, "handover"), handover_body(**overrides), format="json")
    assert response.status_code == 400
    assert field in response.json()


def status_meeting_body(**overrides):
    body = {"held_on": TODAY.isoformat(), "progress": "Work trial started", "next_steps": "Apply",
            "decision": "continue", "next_meeting_on": (TODAY + datetime.timedelta(days=60)).isoformat()}
    body.update(overrides)
    return body


def test_status_meeting_continue_and_close(make_referral, receiving_worker):
    referral = make_referral(Status.ACTIVE)
    client = api(receiving_worker)
    response = client.post(url(referral, "status-meetings"), status_meeting_body(), format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "active"
    closing = status_meeting_body(decision="close", next_meeting_on=None, outcome="partial", ground="goal_unreachable")
    response = client.post(url(referral, "status-meetings"), closing, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["status"], body["closure_outcome"], body["closure_ground"]) == ("closed", "partial",
                                                                                 "goal_unreachable")


@pytest.mark.parametrize("overrides, field", [
    ({"next_meeting_on": None}, "next_meeting_on"),
    ({"decision": "close", "next_meeting_on": None}, "outcome"),
    ({"decision": "close", "outcome": "other", "ground": "other"}, "outcome_text"),
    ({"decision": "pause"}, "decision"),
    ({"progress": ""}, "progress"),
])
def test_status_meeting_bad_input(make_referral, receiving_worker, overrides, field):
    referral = make_referral(Status.ACTIVE)
    response = api(receiving_worker).post(url(referral, "status-meetings"), status_meeting_body(**overrides),
                                          format="json")
    assert response.status_code == 400
    assert field in response.json()


# --- Comments, cost approvals, documents ------------------------------------------------------------------

def test_comments(make_referral, referrer, contact_person):
    referral = make_referral(Status.SUBMITTED)
    response = api(contact_person).post(url(referral, "comments"), {"text": "Is the client in therapy?"},
                                        format="json")
    assert response.status_code == 201
    assert response.json()["author"]["name"] == "Iris Vogel"
    listing = api(referrer).get(url(referral, "comments")).json()
    assert listing["count"] == 1
    assert listing["results"][0]["text"] == "Is the client in therapy?"
    assert last_event(referral).kind == EventKind.COMMENT


def test_comment_bad_input(make_referral, referrer):
    referral = make_referral(Status.SUBMITTED)
    for body in ({}, {"text": ""}, {"text": "   "}):
        response = api(referrer).post(url(referral, "comments"), body, format="json")
        assert response.status_code == 400
        assert list(response.json()) == ["text"]


def cost_approval_body(**overrides):
    body = {"measure": "Job coaching", "provider": "Coaching AG", "amount_chf": "1800.00",
            "starts_on": TODAY.isoformat(), "ends_on": (TODAY + datetime.timedelta(days=90)).isoformat(),
            "justification": "Needed for the placement"}
    body.update(overrides)
    return body


def test_cost_approvals(make_referral, receiving_worker, referrer, directory):
    referral = make_referral(Status.ACTIVE)
    response = api(receiving_worker).post(url(referral, "cost-approvals"), cost_approval_body(), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["status"], body["amount_chf"]) == ("requested", "1800.00")
    assert body["financing_institution"]["key"] == "sd-luzern"
    assert body["requesting_institution"]["key"] == "was-iv"
    listing = api(referrer).get(url(referral, "cost-approvals")).json()
    assert [item["id"] for item in listing["results"]] == [body["id"]]


@pytest.mark.parametrize("overrides, field", [
    ({"ends_on": (TODAY - datetime.timedelta(days=1)).isoformat()}, "ends_on"),
    ({"amount_chf": "0"}, "amount_chf"),
    ({"amount_chf": "a lot"}, "amount_chf"),
    ({"amount_chf": 1800}, "amount_chf"),  # amounts are strings, as the answers show them
    ({"measure": ""}, "measure"),
])
def test_cost_approval_bad_input(make_referral, receiving_worker, overrides, field):
    referral = make_referral(Status.ACTIVE)
    response = api(receiving_worker).post(url(referral, "cost-approvals"), cost_approval_body(**overrides),
                                          format="json")
    assert response.status_code == 400
    assert field in response.json()


def test_approve_and_refuse(cost_approval, signatory, make_referral, receiving_worker):
    response = api(signatory).post(f"/api/v1/cost-approvals/{cost_approval.pk}/approve/")
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["decided_by"]["name"]) == ("approved", "Silvia Amrein")

    second = services.cost_approval_request(
        referral=cost_approval.referral, actor=receiving_worker, measure="Work trial", provider="Werk AG",
        amount_chf=500, starts_on=TODAY, ends_on=TODAY, justification="Trial")
    response = api(signatory).post(f"/api/v1/cost-approvals/{second.pk}/refuse/", {"reason": "Too expensive"},
                                   format="json")
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["refusal_reason"]) == ("refused", "Too expensive")


def test_refuse_needs_a_reason(cost_approval, signatory):
    for body in ({"reason": " "}, {}):
        response = api(signatory).post(f"/api/v1/cost-approvals/{cost_approval.pk}/refuse/", body, format="json")
        assert response.status_code == 400
        assert list(response.json()) == ["reason"]
    assert CostApproval.objects.get(pk=cost_approval.pk).status == "requested"


def test_approve_unknown_cost_approval(signatory, directory):
    assert api(signatory).post("/api/v1/cost-approvals/4711/approve/").status_code == 404
    assert api(signatory).post("/api/v1/cost-approvals/x/approve/").status_code == 404


def test_documents(make_referral, referrer, contact_person):
    referral = make_referral(Status.SUBMITTED)
    response = api(referrer).post(url(referral, "documents"), {"file": upload(), "kind": "application"},
                                  format="multipart")
    assert response.status_code == 201, response.json()
    assert (response.json()["original_name"], response.json()["kind"]) == ("note.pdf", "application")
    listing = api(contact_person).get(url(referral, "documents")).json()
    assert [item["original_name"] for item in listing["results"]] == ["note.pdf"]


def test_documents_can_be_handed_over_at_closing(make_referral, receiving_worker):
    # No status rule for documents: the closing meeting hands e.g. the employment contract to the referrer.
    referral = make_referral(Status.CLOSED)
    response = api(receiving_worker).post(url(referral, "documents"),
                                          {"file": upload("contract.pdf"), "kind": "employment_contract"},
                                          format="multipart")
    assert response.status_code == 201


@pytest.mark.parametrize("body, field", [
    ({"kind": "other"}, "file"),
    ({"file": "not a file", "kind": "other"}, "file"),
    ({"file": "exe", "kind": "other"}, "file"),
    ({"file": "pdf", "kind": "selfie"}, "kind"),
])
def test_document_bad_input(make_referral, referrer, body, field):
    referral = make_referral(Status.SUBMITTED)
    if body.get("file") == "exe":
        body["file"] = upload("tool.exe", b"MZ")
    elif body.get("file") == "pdf":
        body["file"] = upload()
    response = api(referrer).post(url(referral, "documents"), body, format="multipart")
    assert response.status_code == 400
    assert field in response.json()


# --- Permissions and statuses, endpoint by endpoint ------------------------------------------------------

def _document_body(personas):
    return {"file": upload(), "kind": "other"}


# endpoint: (path action, allowed status, who may, a party who may not (403), a status that does not allow it (409),
#            body, expected status after success)
ENDPOINTS = {
    "patch": ("", Status.DRAFT, "referrer", "coordinator", Status.SUBMITTED, lambda p: {"mandate": "New"}, "draft"),
    "submit": ("submit", Status.DRAFT, "referrer", "coordinator", Status.SUBMITTED, lambda p: {}, "submitted"),
    "withdraw": ("withdraw", Status.SUBMITTED, "referrer", "contact_person", Status.ACCEPTED,
                 lambda p: {"reason": "Moved away"}, "withdrawn"),
    "accept": ("accept", Status.SUBMITTED, "contact_person", "receiving_worker", Status.ACCEPTED,
               lambda p: {"case_worker": p["receiving_worker"].pk}, "accepted"),
    "reject": ("reject", Status.SUBMITTED, "contact_person", "referrer", Status.REJECTED,
               lambda p: {"reason": "no_capacity"}, "rejected"),
    "comments": ("comments", Status.SUBMITTED, "referrer", "signatory", Status.CLOSED,
                 lambda p: {"text": "Question"}, None),
    "handover": ("handover", Status.ACCEPTED, "receiving_worker", "signatory", Status.SUBMITTED,
                 lambda p: handover_body(), "active"),
    "status-meetings": ("status-meetings", Status.ACTIVE, "receiving_worker", "referrer", Status.ACCEPTED,
                        lambda p: status_meeting_body(), "active"),
    "cost-approvals": ("cost-approvals", Status.ACTIVE, "receiving_worker", "referrer", Status.SUBMITTED,
                       lambda p: cost_approval_body(), None),
    "documents": ("documents", Status.SUBMITTED, "referrer", "signatory", None, _document_body, None),
}


def _call(personas, user_key, referral, endpoint):
    action, _status, _who, _wrong, _conflict, body, _after = ENDPOINTS[endpoint]
    client = api(personas[user_key])
    data = body(personas)
    if endpoint == "patch":
        return client.patch(url(referral), data, format="json")
    return client.post(url(referral, action), data, format="multipart" if endpoint == "documents" else "json")


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_endpoint_success(endpoint, make_referral, personas):
    _action, status, who, _wrong, _conflict, _body, after = ENDPOINTS[endpoint]
    referral = make_referral(status)
    response = _call(personas, who, referral, endpoint)
    assert response.status_code in (200, 201), response.json()
    if after:
        assert response.json()["status"] == after


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_endpoint_outsider_gets_404(endpoint, make_referral, personas):
    referral = make_referral(ENDPOINTS[endpoint][1])
    response = _call(personas, "outsider", referral, endpoint)
    assert response.status_code == 404
    assert ReferralEvent.objects.filter(referral=referral, actor=personas["outsider"]).count() == 0


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_endpoint_wrong_role_gets_403(endpoint, make_referral, personas):
    _action, status, _who, wrong, _conflict, _body, _after = ENDPOINTS[endpoint]
    referral = make_referral(status)
    before = ReferralEvent.objects.filter(referral=referral).count()
    response = _call(personas, wrong, referral, endpoint)
    assert response.status_code == 403, response.json()
    assert response.json()["detail"]
    assert ReferralEvent.objects.filter(referral=referral).count() == before


@pytest.mark.parametrize("endpoint", [name for name, spec in ENDPOINTS.items() if spec[4]])
def test_endpoint_wrong_status_gets_409(endpoint, make_referral, personas):
    _action, _status, who, _wrong, conflict, _body, _after = ENDPOINTS[endpoint]
    referral = make_referral(conflict)
    response = _call(personas, who, referral, endpoint)
    assert response.status_code == 409, response.json()
    body = response.json()
    assert body["code"] == "transition_not_allowed"
    assert body["current_status"] == conflict
    assert body["detail"]


@pytest.mark.parametrize("action", ["approve", "refuse"])
def test_cost_approval_decisions_permissions(action, cost_approval, signatory, contact_person, outsider,
                                             coordinator):
    path = f"/api/v1/cost-approvals/{cost_approval.pk}/{action}/"
    body = {"reason": "Too expensive"} if action == "refuse" else {}
    assert api(outsider).post(path, body, format="json").status_code == 404
    for user in (contact_person, coordinator):  # may see the referral, but do not sign for the referrer
        response = api(user).post(path, body, format="json")
        assert response.status_code == 403
    assert api(signatory).post(path, body, format="json").status_code == 200
    response = api(signatory).post(path, body, format="json")
    assert response.status_code == 409
    assert response.json()["current_status"] in ("approved", "refused")


def test_read_endpoints_outsider_gets_404(make_referral, outsider):
    referral = make_referral(Status.ACTIVE)
    for action in ("", "comments", "cost-approvals", "documents"):
        assert api(outsider).get(url(referral, action)).status_code == 404


def test_anonymous_gets_401_everywhere(make_referral):
    referral = make_referral(Status.SUBMITTED)
    for path in ("/api/v1/referrals/", url(referral), url(referral, "comments"), url(referral, "submit")):
        assert api().post(path, {}, format="json").status_code == 401


# --- One set of rules: API and browser record the same events ---------------------------------------------

def _event_signature(event):
    return (event.kind, event.from_status, event.to_status, event.actor_id, event.reason, event.text,
            sorted(event.payload))


def test_api_submit_records_the_same_event_as_the_service(make_referral, referrer):
    by_service = make_referral(Status.DRAFT)
    by_api = make_referral(Status.DRAFT)
    services.referral_submit(referral=by_service, actor=referrer)
    assert api(referrer).post(url(by_api, "submit"), {}, format="json").status_code == 200
    assert _event_signature(last_event(by_api)) == _event_signature(last_event(by_service))
    assert last_event(by_api).payload == last_event(by_service).payload


def test_api_accept_records_the_same_event_as_the_browser(make_referral, contact_person, receiving_worker, client):
    by_browser = make_referral(Status.SUBMITTED)
    by_api = make_referral(Status.SUBMITTED)
    client.force_login(contact_person)
    page = client.post(reverse("referrals:accept", args=[by_browser.pk]), {"case_worker": receiving_worker.pk})
    assert page.status_code == 302
    assert api(contact_person).post(url(by_api, "accept"), {"case_worker": receiving_worker.pk},
                                    format="json").status_code == 200
    assert _event_signature(last_event(by_api)) == _event_signature(last_event(by_browser))
    assert last_event(by_api).payload == last_event(by_browser).payload


def test_api_and_service_create_the_same_draft(referrer, directory):
    by_service = services.referral_create_draft(
        actor=referrer, client_data=client_data(directory, municipality=directory["sursee"]),
        data=referral_data(directory, consent_given_on=TODAY - datetime.timedelta(days=3)))
    response = api(referrer).post("/api/v1/referrals/", application(directory), format="json")
    by_api = by_service.__class__.objects.get(pk=response.json()["id"])
    for name in ("process", "target_group", "status", "receiving_institution_id", "mandate",
                 "planned_duration_months", "consent_given_on", "consent_form", "in_social_counselling"):
        assert getattr(by_api, name) == getattr(by_service, name), name
    # Same AHV number, same person - but each referral owns its record, so neither can rewrite the other (issue 10).
    assert by_api.client_id != by_service.client_id
    assert by_api.client.ahv_digest == by_service.client.ahv_digest


def test_coordinator_sees_no_client_contact_details_and_no_documents(make_referral, coordinator):
    referral = make_referral(Status.SUBMITTED)
    client = api(coordinator)
    body = client.get(f"/api/v1/referrals/{referral.pk}/").json()
    assert body["client"] is None and body["reference"] == referral.reference  # pseudonymised (need to know)
    listed = client.get("/api/v1/referrals/").json()["results"][0]
    assert listed["client"] is None
    assert client.get(f"/api/v1/referrals/{referral.pk}/documents/").status_code == 404


def test_listing_referrals_is_access_logged(make_referral, referrer):
    referral = make_referral(Status.SUBMITTED)
    api(referrer).get("/api/v1/referrals/")
    assert AuditRecord.objects.filter(actor=referrer, referral=referral, action="api_list").exists()
