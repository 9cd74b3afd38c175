"""Measures (Massnahmen): no measure starts without a signed cost approval covering its amount and period."""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from referrals import services
from referrals.errors import TransitionNotAllowed
from referrals.models import CostApproval, EventKind, Measure, MeasureStatus, Status

TODAY = timezone.localdate()


def api(user):
    client = APIClient(HTTP_ACCEPT_LANGUAGE="en")
    _row, token = AuthToken.objects.create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


@pytest.fixture
def active(make_referral):
    return make_referral(Status.ACTIVE)


@pytest.fixture
def measure(active, receiving_worker):
    return services.measure_create(referral=active, actor=receiving_worker, title="Job coaching",
                                   provider="Coaching AG", amount_chf=Decimal("1800.00"), starts_on=TODAY,
                                   ends_on=TODAY + datetime.timedelta(days=90))


def approve_for(measure, worker, signatory, **overrides):
    values = {"justification": "Needed", "covered_measure": measure, **overrides}
    approval = services.cost_approval_request(referral=measure.referral, actor=worker, **values)
    return services.cost_approval_approve(cost_approval=approval, actor=signatory)


def test_a_measure_cannot_start_without_a_signed_cost_approval(measure, receiving_worker, english):
    with pytest.raises(ValidationError) as error:
        services.measure_start(measure=measure, actor=receiving_worker)

    message = error.value.messages[0]
    assert "no signed cost approval covers CHF 1'800.00" in message
    assert "Request a cost approval" in message  # says what to do
    measure.refresh_from_db()
    assert measure.status == MeasureStatus.PLANNED


def test_a_requested_but_unsigned_approval_does_not_let_it_start(measure, receiving_worker):
    services.cost_approval_request(referral=measure.referral, actor=receiving_worker, justification="x",
                                   covered_measure=measure)
    with pytest.raises(ValidationError):
        services.measure_start(measure=measure, actor=receiving_worker)


def test_a_signed_covering_approval_lets_the_measure_start_and_records_an_event(measure, receiving_worker, signatory):
    approve_for(measure, receiving_worker, signatory)

    started = services.measure_start(measure=measure, actor=receiving_worker)

    assert (started.status, started.started_on) == (MeasureStatus.STARTED, TODAY)
    event = measure.referral.events.filter(kind=EventKind.MEASURE).last()
    assert (event.from_status, event.to_status, event.actor) == ("planned", "started", receiving_worker)


def test_an_approval_for_less_money_or_a_shorter_period_does_not_cover(measure, receiving_worker, signatory):
    approve_for(measure, receiving_worker, signatory, amount_chf=Decimal("1000.00"))
    approve_for(measure, receiving_worker, signatory, ends_on=TODAY + datetime.timedelta(days=30))

    with pytest.raises(ValidationError):
        services.measure_start(measure=measure, actor=receiving_worker)


def test_changing_amount_or_period_after_signing_needs_a_new_approval(measure, receiving_worker, signatory):
    approve_for(measure, receiving_worker, signatory)
    services.measure_update(measure=measure, actor=receiving_worker, amount_chf=Decimal("2500.00"))

    with pytest.raises(ValidationError):
        services.measure_start(measure=measure, actor=receiving_worker)

    approve_for(measure, receiving_worker, signatory)  # a new approval over the new amount
    assert services.measure_start(measure=measure, actor=receiving_worker).status == MeasureStatus.STARTED


def test_a_started_measure_cannot_be_changed(measure, receiving_worker, signatory):
    approve_for(measure, receiving_worker, signatory)
    services.measure_start(measure=measure, actor=receiving_worker)
    with pytest.raises(TransitionNotAllowed):
        services.measure_update(measure=measure, actor=receiving_worker, amount_chf=Decimal("100.00"))


@pytest.mark.parametrize("amount", [Decimal("0"), Decimal("-5"), Decimal("1000000.01")])
def test_zero_negative_or_absurd_amounts_are_refused_with_the_allowed_range(active, receiving_worker, amount,
                                                                           english):
    with pytest.raises(ValidationError) as error:
        services.measure_create(referral=active, actor=receiving_worker, title="x", provider="y",
                                amount_chf=amount, starts_on=TODAY, ends_on=TODAY)
    assert "greater than 0 and at most 1'000'000.00" in error.value.message_dict["amount_chf"][0]
    assert not Measure.objects.exists()


def test_only_the_leading_institution_plans_and_starts_measures(active, measure, referrer, outsider):
    for user in (referrer, outsider):
        with pytest.raises(PermissionDenied):
            services.measure_create(referral=active, actor=user, title="x", provider="y",
                                    amount_chf=Decimal("1"), starts_on=TODAY, ends_on=TODAY)
        with pytest.raises(PermissionDenied):
            services.measure_start(measure=measure, actor=user)


def test_requesting_an_approval_without_a_measure_creates_one(active, receiving_worker):
    approval = services.cost_approval_request(
        referral=active, actor=receiving_worker, measure="Work trial", provider="Werkstatt",
        amount_chf=Decimal("900.00"), starts_on=TODAY, ends_on=TODAY, justification="x")
    assert approval.covered_measure.title == "Work trial"
    assert approval.covered_measure.amount_chf == Decimal("900.00")


# --- financing institution ------------------------------------------------------------------------------

def test_the_referrer_finances_by_default_and_its_signatories_are_asked(measure, receiving_worker, directory):
    approval = services.cost_approval_request(referral=measure.referral, actor=receiving_worker,
                                              justification="x", covered_measure=measure)
    assert approval.financing_institution == directory["social"]


def test_the_requester_can_name_the_leading_institution_as_financing_with_a_reason(
        measure, receiving_worker, contact_person, signatory, directory, english):
    with pytest.raises(ValidationError) as error:
        services.cost_approval_request(referral=measure.referral, actor=receiving_worker, justification="x",
                                       covered_measure=measure, financing_institution=directory["iv"])
    assert "financing_reason" in error.value.message_dict

    approval = services.cost_approval_request(
        referral=measure.referral, actor=receiving_worker, justification="x", covered_measure=measure,
        financing_institution=directory["iv"], financing_reason="IV measure: the client is insured with the IV")
    assert approval.financing_institution == directory["iv"]
    with pytest.raises(PermissionDenied):  # the referrer's signatory is not asked any more
        services.cost_approval_approve(cost_approval=approval, actor=signatory)


def test_a_third_institution_cannot_be_named_to_pay(measure, receiving_worker, directory):
    with pytest.raises(ValidationError) as error:
        services.cost_approval_request(referral=measure.referral, actor=receiving_worker, justification="x",
                                       covered_measure=measure, financing_institution=directory["third"],
                                       financing_reason="because")
    assert "financing_institution" in error.value.message_dict
    assert not CostApproval.objects.exists()


# --- pages -------------------------------------------------------------------------------------------------

def test_on_the_case_page_starting_without_approval_says_why_and_what_to_do(client, measure, receiving_worker,
                                                                            english_pages):
    client.force_login(receiving_worker)
    response = client.post(reverse("referrals:start_measure", args=[measure.referral_id, measure.pk]), follow=True)

    content = response.content.decode()
    assert "This measure cannot start yet" in content
    assert "Request a cost approval for this measure" in content
    measure.refresh_from_db()
    assert measure.status == MeasureStatus.PLANNED


def test_planning_a_measure_on_the_page_keeps_the_input_on_error(client, active, receiving_worker, english_pages):
    client.force_login(receiving_worker)
    response = client.post(reverse("referrals:plan_measure", args=[active.pk]), {
        "measure-title": "Job coaching", "measure-provider": "Coaching AG", "measure-amount_chf": "0",
        "measure-starts_on": TODAY.isoformat(), "measure-ends_on": TODAY.isoformat()})

    assert response.status_code == 400
    content = response.content.decode()
    assert "greater than 0 and at most 1&#x27;000&#x27;000.00" in content or "greater than 0" in content
    assert 'value="Coaching AG"' in content
    assert not Measure.objects.exists()


# --- API ---------------------------------------------------------------------------------------------------

def test_api_measure_cannot_start_without_a_signed_approval_and_can_with_one(measure, receiving_worker,
                                                                            signatory):
    url = f"/api/v1/measures/{measure.pk}/start/"
    response = api(receiving_worker).post(url)
    assert response.status_code == 400
    assert "no signed cost approval" in response.json()["non_field_errors"][0]

    approve_for(measure, receiving_worker, signatory)
    response = api(receiving_worker).post(url)
    assert response.status_code == 200
    assert response.json()["status"] == "started"


def test_api_plans_lists_and_hides_measures(active, receiving_worker, outsider):
    response = api(receiving_worker).post("/api/v1/measures/", {
        "referral": active.pk, "title": "Coaching", "provider": "AG", "amount_chf": "500.00",
        "starts_on": TODAY.isoformat(), "ends_on": TODAY.isoformat()}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["covered"] is False

    assert api(receiving_worker).get("/api/v1/measures/").json()["count"] == 1
    assert api(outsider).get("/api/v1/measures/").json()["count"] == 0
    assert api(outsider).get(f"/api/v1/measures/{response.json()['id']}/").status_code == 404


def test_api_cost_approval_can_name_the_financing_institution(measure, receiving_worker, directory):
    response = api(receiving_worker).post(f"/api/v1/referrals/{measure.referral_id}/cost-approvals/", {
        "measure": "Job coaching", "provider": "Coaching AG", "amount_chf": "1800.00",
        "starts_on": TODAY.isoformat(), "ends_on": (TODAY + datetime.timedelta(days=90)).isoformat(),
        "justification": "x", "financing_institution_id": directory["iv"].pk,
        "financing_reason": "IV measure", "measure_id": measure.pk}, format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["financing_institution"]["id"] == directory["iv"].pk
    assert CostApproval.objects.get().covered_measure == measure
