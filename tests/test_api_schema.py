"""The OpenAPI description at /api/schema/: valid, complete, and true to what the API answers.

- the document is valid OpenAPI 3 and drf-spectacular generates it without a single warning;
- every endpoint is in it with request and response bodies and its error answers;
- the answers of a whole referral's life validate against it (deterministic, no server needed);
- schemathesis fuzzes every operation against a live server with a token, on a small budget: ids of
  real referrals in every status, valid and invalid input, and short stateful sequences along the links
  it infers (create -> read -> submit ...). Select the fuzzing alone with ``-m schemathesis``.

Schemathesis runs all its checks but one: ``positive_data_acceptance`` expects every schema-valid request to
succeed, and the contract answers schema-valid requests with 400 when a business rule says no (a reason
"other" needs a text, the case worker must belong to the receiving institution, a warning needs a
justification). Those rules are the services' and are tested in test_api.py.
"""

import datetime
import io
from decimal import Decimal

import pytest
import schemathesis
from django.core.management import call_command
from django.utils import timezone
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from knox.models import AuthToken
from openapi_schema_validator import OAS30ReadValidator
from openapi_schema_validator import validate as validate_instance
from openapi_spec_validator import validate as validate_openapi
from rest_framework.test import APIClient
from schemathesis import GenerationMode

from referrals import services
from referrals.models import Status
from tests.conftest import PASSWORD, VALID_AHV

SCHEMA_URL = "/api/schema/"
TODAY = timezone.localdate()
REPORTS = r"^/api/v1/reports/"  # the KPI endpoint (issue 5) has its own tests


def fetch_schema(language="en"):
    response = APIClient().get(SCHEMA_URL, {"format": "json"}, HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200
    return response.json()


# --- The description -----------------------------------------------------------------------------------

def test_schema_is_valid_openapi_3(db):
    schema = fetch_schema()
    assert schema["openapi"].startswith("3.")
    validate_openapi(schema)


def test_schema_generates_without_warnings(db, tmp_path):
    # drf-spectacular's own validation; fails on any warning (unresolvable serializer, enum name collision...).
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"),
                 stderr=io.StringIO())


def test_docs_are_self_hosted(client, db):
    page = client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "swagger-ui" in html
    assert "cdn" not in html.lower()  # drf-spectacular-sidecar serves Swagger UI from our static files


EXPECTED_OPERATIONS = {
    ("post", "/api/v1/auth/token/"), ("get", "/api/v1/me/"), ("get", "/api/v1/institutions/"),
    ("get", "/api/v1/referrals/"), ("post", "/api/v1/referrals/"), ("get", "/api/v1/referrals/{id}/"),
    ("patch", "/api/v1/referrals/{id}/"), ("post", "/api/v1/referrals/{id}/submit/"),
    ("post", "/api/v1/referrals/{id}/withdraw/"), ("post", "/api/v1/referrals/{id}/accept/"),
    ("post", "/api/v1/referrals/{id}/reject/"), ("get", "/api/v1/referrals/{id}/comments/"),
    ("post", "/api/v1/referrals/{id}/comments/"), ("post", "/api/v1/referrals/{id}/handover/"),
    ("post", "/api/v1/referrals/{id}/status-meetings/"), ("get", "/api/v1/referrals/{id}/cost-approvals/"),
    ("post", "/api/v1/referrals/{id}/cost-approvals/"), ("post", "/api/v1/cost-approvals/{id}/approve/"),
    ("post", "/api/v1/cost-approvals/{id}/refuse/"), ("get", "/api/v1/referrals/{id}/documents/"),
    ("post", "/api/v1/referrals/{id}/documents/"), ("post", "/api/v1/referrals/{id}/ahv/"),
    ("get", "/api/v1/audit/"),
    ("post", "/api/v1/referrals/{id}/documents/"),
    ("post", "/api/v1/referrals/{id}/personal-data/"), ("post", "/api/v1/referrals/{id}/withdraw-consent/"),
}
# Signing a cost approval needs no input: the signatory and the time are the request's; so does showing the AHV.
NO_REQUEST_BODY = {("post", "/api/v1/cost-approvals/{id}/approve/"), ("post", "/api/v1/referrals/{id}/ahv/"),
                   # Issue 11: starting a measure, forwarding and confirming an invoice need no input either.
                   ("post", "/api/v1/measures/{id}/start/"), ("post", "/api/v1/invoices/{id}/forward/"),
                   ("post", "/api/v1/invoices/{id}/confirm/")}
# Downloads answer with a file, not JSON (issue 11: a fee statement's PDF).
FILE_RESPONSES = {("get", "/api/v1/fee-statements/{id}/pdf/"): "application/pdf"}


def _operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield method, path, operation


def test_schema_lists_every_endpoint_with_bodies(db):
    schema = fetch_schema()
    operations = {(method, path): operation for method, path, operation in _operations(schema)}
    assert EXPECTED_OPERATIONS <= set(operations)
    for (method, path), operation in operations.items():
        where = f"{method.upper()} {path}"
        success = [code for code in operation["responses"] if code.startswith("2")]
        assert len(success) == 1, where
        media_type = FILE_RESPONSES.get((method, path), "application/json")
        assert operation["responses"][success[0]]["content"][media_type]["schema"], where
        if method in ("post", "put", "patch") and (method, path) not in NO_REQUEST_BODY:
            assert operation["requestBody"]["content"], where
    for method, path in EXPECTED_OPERATIONS:
        operation, where = operations[method, path], f"{method.upper()} {path}"
        codes = set(operation["responses"])
        if path != "/api/v1/auth/token/":
            assert "401" in codes, where
        if "{id}" in path:
            assert "404" in codes, where
        if method in ("post", "patch") and "{id}" in path:
            assert "403" in codes, where
            if (method, path) not in NO_REQUEST_BODY:
                assert "400" in codes, where
        if "requestBody" in operation:
            assert "400" in codes, where


def test_schema_in_german(db):
    schema = fetch_schema(language="de")
    page = schema["paths"]["/api/v1/referrals/"]["get"]["parameters"]
    assert any("Seitenzahl" in parameter.get("description", "") for parameter in page)


# --- The answers of a referral's whole life validate against the description ----------------------------

class Conformance:
    """Calls the API like a client and validates every answer against the documented schema of its status."""

    def __init__(self, spec):
        self.spec = spec
        self.checked = set()

    def __call__(self, client, method, path, template, expected, data=None, fmt="json"):
        if method == "get":
            response = client.get(path)
        else:
            response = getattr(client, method)(path, data if data is not None else {}, format=fmt)
        assert response.status_code == expected, (method, path, response.content[:500])
        documented = self.spec["paths"][template][method]["responses"][str(expected)]
        schema = documented["content"]["application/json"]["schema"]
        validate_instance(response.json(), {**schema, "components": self.spec["components"]},
                          cls=OAS30ReadValidator)
        self.checked.add((method, template, expected))
        return response.json()


def _client(user):
    client = APIClient(HTTP_ACCEPT_LANGUAGE="en")
    client.credentials(HTTP_AUTHORIZATION=f"Token {AuthToken.objects.create(user=user)[1]}")
    return client


def test_answers_conform_to_the_schema(personas, directory, make_referral, cost_approval, settings, tmp_path,
                                      data_protection, coordinator):
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.MEDIA_ROOT = tmp_path
    check = Conformance(fetch_schema())
    referrer, contact, worker = (_client(personas[name]) for name in ("referrer", "contact_person",
                                                                       "receiving_worker"))
    signatory, outsider = _client(personas["signatory"]), _client(personas["outsider"])
    anonymous = APIClient(HTTP_ACCEPT_LANGUAGE="en")
    R = "/api/v1/referrals/"  # noqa: N806
    ONE = "/api/v1/referrals/{id}/"  # noqa: N806

    check(anonymous, "post", "/api/v1/auth/token/", "/api/v1/auth/token/", 200,
          {"username": personas["referrer"].username, "password": PASSWORD})
    check(anonymous, "post", "/api/v1/auth/token/", "/api/v1/auth/token/", 400, {"username": "x", "password": "y"})
    check(anonymous, "get", "/api/v1/me/", "/api/v1/me/", 401)
    check(referrer, "get", "/api/v1/me/", "/api/v1/me/", 200)
    check(referrer, "get", "/api/v1/institutions/", "/api/v1/institutions/", 200)

    body = {"receiving_institution": directory["iv"].pk,
            "client": {"first_name": "Mara", "last_name": "Beispiel", "date_of_birth": "1984-03-02",
                       "ahv_number": VALID_AHV, "municipality": 1103, "phone": "", "email": ""},
            "situation": {"in_social_counselling": True, "last_iv_rejection_on": str(TODAY - datetime.timedelta(
                days=40))},
            "mandate": "Job coaching", "problem_areas": [], "planned_duration_months": 6,
            "consent": {"given_on": str(TODAY), "form": "written"}}
    created = check(referrer, "post", R, R, 201, body)
    assert created["warnings"]
    one = f"{R}{created['id']}/"
    check(referrer, "post", R, R, 400, {**body, "client": {**body["client"], "ahv_number": "756.1"}})
    check(signatory, "post", R, R, 403, body)
    check(referrer, "get", R, R, 200)
    check(referrer, "get", one, ONE, 200)
    check(outsider, "get", one, ONE, 404)
    check(referrer, "patch", one, ONE, 200, {"mandate": "Job coaching until a stable placement"})
    check(referrer, "post", one + "submit/", ONE + "submit/", 400, {})
    check(signatory, "post", one + "submit/", ONE + "submit/", 403, {"justification": "x"})
    check(referrer, "post", one + "submit/", ONE + "submit/", 200, {"justification": "New diagnosis"})
    check(referrer, "post", one + "submit/", ONE + "submit/", 409, {})
    check(referrer, "post", one + "comments/", ONE + "comments/", 201, {"text": "Any questions?"})
    check(contact, "get", one + "comments/", ONE + "comments/", 200)
    check(contact, "post", one + "accept/", ONE + "accept/", 200, {"case_worker": personas["receiving_worker"].pk})
    check(worker, "post", one + "handover/", ONE + "handover/", 200, {
        "held_on": str(TODAY), "all_agreed": True, "case_work_starts_on": str(TODAY), "strategy": "Coaching",
        "first_status_meeting_on": str(TODAY + datetime.timedelta(days=30))})
    approval = check(worker, "post", one + "cost-approvals/", ONE + "cost-approvals/", 201, {
        "measure": "Coaching", "provider": "Coaching AG", "amount_chf": "990.50", "starts_on": str(TODAY),
        "ends_on": str(TODAY), "justification": "Needed"})
    check(referrer, "get", one + "cost-approvals/", ONE + "cost-approvals/", 200)
    approve = "/api/v1/cost-approvals/{id}/approve/"
    check(signatory, "post", approve.format(id=approval["id"]), approve, 200, {})
    check(signatory, "post", approve.format(id=approval["id"]), approve, 409, {})
    refuse = "/api/v1/cost-approvals/{id}/refuse/"
    check(signatory, "post", refuse.format(id=cost_approval.pk), refuse, 400, {"reason": ""})
    check(signatory, "post", refuse.format(id=cost_approval.pk), refuse, 200, {"reason": "Too expensive"})
    check(referrer, "post", one + "documents/", ONE + "documents/", 201,
          {"file": SimpleUploadedFile("a.pdf", b"%PDF"), "kind": "other"}, fmt="multipart")
    check(contact, "get", one + "documents/", ONE + "documents/", 200)
    check(worker, "post", one + "status-meetings/", ONE + "status-meetings/", 200, {
        "held_on": str(TODAY), "progress": "Placed", "decision": "close", "outcome": "successful",
        "ground": "goal_reached"})
    closed = check(referrer, "get", one, ONE, 200)
    assert closed["status"] == "closed" and closed["closure_outcome"] == "successful"

    submitted = make_referral(Status.SUBMITTED)
    check(contact, "post", f"{R}{submitted.pk}/reject/", ONE + "reject/", 200, {"reason": "no_capacity"})
    other = make_referral(Status.SUBMITTED)
    check(referrer, "post", f"{R}{other.pk}/withdraw/", ONE + "withdraw/", 200, {"reason": "Moved"})
    check(referrer, "post", one + "ahv/", ONE + "ahv/", 200)
    check(_client(coordinator), "get", one, ONE, 200)  # pseudonymised: client and situation null
    check(_client(coordinator), "post", one + "ahv/", ONE + "ahv/", 404)
    check(_client(data_protection), "get", f"/api/v1/audit/?referral={closed['id']}", "/api/v1/audit/", 200)
    check(referrer, "get", "/api/v1/audit/", "/api/v1/audit/", 403)
    # Issue 10: personal data changed on purpose, consent withdrawn.
    third = make_referral(Status.ACCEPTED)
    check(contact, "post", f"{R}{third.pk}/personal-data/", ONE + "personal-data/", 200, {"last_name": "Muster"})
    check(contact, "post", f"{R}{third.pk}/personal-data/", ONE + "personal-data/", 400, {"last_name": "Muster"})
    check(referrer, "post", f"{R}{third.pk}/withdraw-consent/", ONE + "withdraw-consent/", 200,
          {"withdrawn_on": str(TODAY), "channel": "client_verbally"})
    check(referrer, "post", f"{R}{third.pk}/withdraw-consent/", ONE + "withdraw-consent/", 409,
          {"withdrawn_on": str(TODAY), "channel": "client_verbally"})
    assert {template for _method, template, code in check.checked if code < 300} >= {
        path for _method, path in EXPECTED_OPERATIONS}


# --- Schemathesis against a live server ------------------------------------------------------------------

@pytest.fixture
def seeded(transactional_db, make_referral, cost_approval, personas):
    """A referral in each status, so requests meet real objects and every answer code occurs."""
    referrals = {status: make_referral(status) for status in (Status.DRAFT, Status.SUBMITTED, Status.ACCEPTED,
                                                               Status.CLOSED, Status.REJECTED)}
    referrals[Status.ACTIVE] = cost_approval.referral
    tokens = {name: AuthToken.objects.create(user=user)[1] for name, user in personas.items()}
    # Issue 11: a measure with a signed approval and a recorded invoice on another active case.
    worker = personas["receiving_worker"]
    approved = services.cost_approval_request(
        referral=make_referral(Status.ACTIVE), actor=worker, measure="Coaching", provider="AG",
        amount_chf=Decimal("500.00"), starts_on=TODAY, ends_on=TODAY, justification="x")
    services.cost_approval_approve(cost_approval=approved, actor=personas["signatory"])
    invoice = services.invoice_record(measure=approved.covered_measure, actor=worker, number="R-1",
                                      invoice_date=TODAY, amount_chf=Decimal("100.00"))
    return {"referrals": referrals, "cost_approval": cost_approval, "tokens": tokens,
            "measure": cost_approval.covered_measure, "invoice": invoice}


@pytest.fixture
def api_token(seeded):
    return seeded["tokens"]["referrer"]


@pytest.fixture
def api_schema(live_server, api_token):
    config = schemathesis.Config.from_dict({
        "headers": {"Authorization": f"Token {api_token}", "Accept-Language": "en"},
        "checks": {"positive_data_acceptance": {"enabled": False}},
        "generation": {"max-examples": 5},
    })
    loaded = schemathesis.openapi.from_url(f"{live_server.url}{SCHEMA_URL}?format=json", config=config)
    return loaded.exclude(path_regex=REPORTS)


# Which real object, and whose token, lets a request get past 404/403 into the service's own checks.
ACTING = {
    "/api/v1/referrals/{id}/": (Status.DRAFT, "referrer"),
    "/api/v1/referrals/{id}/submit/": (Status.DRAFT, "referrer"),
    "/api/v1/referrals/{id}/withdraw/": (Status.SUBMITTED, "referrer"),
    "/api/v1/referrals/{id}/accept/": (Status.SUBMITTED, "contact_person"),
    "/api/v1/referrals/{id}/reject/": (Status.SUBMITTED, "contact_person"),
    "/api/v1/referrals/{id}/comments/": (Status.SUBMITTED, "referrer"),
    "/api/v1/referrals/{id}/documents/": (Status.SUBMITTED, "referrer"),
    "/api/v1/referrals/{id}/ahv/": (Status.SUBMITTED, "referrer"),
    "/api/v1/referrals/{id}/handover/": (Status.ACCEPTED, "receiving_worker"),
    "/api/v1/referrals/{id}/status-meetings/": (Status.ACTIVE, "receiving_worker"),
    "/api/v1/referrals/{id}/cost-approvals/": (Status.ACTIVE, "receiving_worker"),
    "/api/v1/referrals/{id}/personal-data/": (Status.SUBMITTED, "contact_person"),
    "/api/v1/referrals/{id}/withdraw-consent/": (Status.ACCEPTED, "receiving_worker"),
    "/api/v1/cost-approvals/{id}/approve/": ("cost_approval", "signatory"),
    "/api/v1/cost-approvals/{id}/refuse/": ("cost_approval", "signatory"),
    "/api/v1/measures/{id}/": ("measure", "receiving_worker"),
    "/api/v1/measures/{id}/start/": ("measure", "receiving_worker"),
    "/api/v1/invoices/{id}/": ("invoice", "receiving_worker"),
    "/api/v1/invoices/{id}/forward/": ("invoice", "receiving_worker"),
    "/api/v1/invoices/{id}/confirm/": ("invoice", "signatory"),
    "/api/v1/fee-statements/{id}/": (None, "signatory"),  # no statement seeded: ids only
    "/api/v1/fee-statements/{id}/pdf/": (None, "signatory"),
}


def _runs(operation, seeded):
    """(generation mode, fixed path parameters, token) for one operation."""
    if "{id}" not in operation.path:
        token = seeded["tokens"]["referrer"]
        return [(GenerationMode.POSITIVE, None, token), (GenerationMode.NEGATIVE, None, token)]
    target, persona = ACTING[operation.path]
    token = seeded["tokens"][persona]
    if target is None:
        return [(GenerationMode.NEGATIVE, None, token)]
    obj = seeded[target] if target in ("cost_approval", "measure", "invoice") else seeded["referrals"][target]
    return [
        (GenerationMode.POSITIVE, {"id": obj.pk}, token),  # valid input on a real object
        (GenerationMode.NEGATIVE, {"id": obj.pk}, token),  # invalid input on a real object
        (GenerationMode.NEGATIVE, None, token),  # invalid ids, anything else
    ]


def _fuzz(operation, mode, path_parameters, token):
    headers = {"Authorization": f"Token {token}", "Accept-Language": "en"}

    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
    @settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck), database=None,
              derandomize=True, phases=[Phase.explicit, Phase.generate])
    def run(case):
        case.call_and_validate(headers=headers)

    return run


@pytest.mark.schemathesis
def test_api_conforms_to_its_schema(api_schema, seeded):
    failures = []
    for result in api_schema.get_all_operations():
        operation = result.ok()
        for mode, path_parameters, token in _runs(operation, seeded):
            try:
                _fuzz(operation, mode, path_parameters, token)()
            except Unsatisfiable:
                pass  # nothing to make invalid: the operation takes no parameters and no body
            except (Exception, BaseExceptionGroup) as error:  # noqa: BLE001 - collect all, then report
                failures.append(f"{operation.label} [{mode.value}, {path_parameters}]: {error}")
    assert not failures, "\n\n".join(failures)


@pytest.mark.schemathesis
def test_api_workflows_conform_to_its_schema(api_schema, api_token):
    """Stateful: sequences along the links schemathesis infers (POST /referrals/ -> its id -> the actions)."""
    machine = api_schema.as_state_machine()

    class Workflow(machine):
        def get_call_kwargs(self, case):
            return {"headers": {"Authorization": f"Token {api_token}", "Accept-Language": "en"}}

    Workflow.run(settings=settings(max_examples=10, stateful_step_count=6, deadline=None, derandomize=True,
                                   suppress_health_check=list(HealthCheck), database=None))
