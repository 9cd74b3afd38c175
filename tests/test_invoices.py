"""Provider invoices: recorded by the leading institution, forwarded, receipt confirmed by the financing signatory;
the case shows approved vs invoiced vs remaining; invoicing more than approved warns and needs a reason."""

import datetime
from decimal import Decimal

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from referrals import selectors, services
from referrals.errors import TransitionNotAllowed
from referrals.models import Invoice, InvoiceStatus, Status

TODAY = timezone.localdate()
START = TODAY - datetime.timedelta(days=20)


def api(user):
    client = APIClient(HTTP_ACCEPT_LANGUAGE="en")
    _row, token = AuthToken.objects.create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


@pytest.fixture
def measure(make_referral, receiving_worker, signatory):
    referral = make_referral(Status.ACTIVE)
    measure = services.measure_create(referral=referral, actor=receiving_worker, title="Job coaching",
                                      provider="Coaching AG", amount_chf=Decimal("1800.00"), starts_on=START,
                                      ends_on=START + datetime.timedelta(days=90))
    approval = services.cost_approval_request(referral=referral, actor=receiving_worker, justification="x",
                                              covered_measure=measure)
    services.cost_approval_approve(cost_approval=approval, actor=signatory)
    return measure


def record(measure, worker, amount="1000.00", **overrides):
    values = {"number": "R-2026-17", "invoice_date": TODAY, "amount_chf": Decimal(amount), **overrides}
    return services.invoice_record(measure=measure, actor=worker, **values)


def test_an_invoice_is_recorded_forwarded_and_its_receipt_confirmed(measure, receiving_worker, signatory,
                                                                    django_capture_on_commit_callbacks):
    invoice = record(measure, receiving_worker,
                     uploaded_file=SimpleUploadedFile("rechnung.pdf", b"%PDF-1.4", content_type="application/pdf"))
    assert invoice.status == InvoiceStatus.RECORDED and invoice.file
    assert list(selectors.invoices_to_forward(receiving_worker)) == [invoice]

    with django_capture_on_commit_callbacks(execute=True):
        services.invoice_forward(invoice=invoice, actor=receiving_worker)
    assert signatory.email in mail.outbox[-1].to
    assert list(selectors.invoices_to_confirm(signatory)) == [invoice]
    assert list(selectors.invoices_to_forward(receiving_worker)) == []

    confirmed = services.invoice_confirm_receipt(invoice=invoice, actor=signatory)
    assert confirmed.status == InvoiceStatus.CONFIRMED
    assert list(selectors.invoices_to_confirm(signatory)) == []
    kinds = list(measure.referral.events.filter(kind="invoice").values_list("to_status", flat=True))
    assert kinds == ["recorded", "forwarded", "confirmed"]


def test_the_case_shows_approved_invoiced_and_remaining(measure, receiving_worker):
    record(measure, receiving_worker, amount="1000.00")
    money = selectors.case_money(measure.referral)
    assert (money.approved, money.invoiced, money.remaining) == (Decimal("1800.00"), Decimal("1000.00"),
                                                                 Decimal("800.00"))


def test_invoicing_more_than_approved_warns_and_needs_a_reason(measure, receiving_worker, english):
    record(measure, receiving_worker, amount="1500.00")
    with pytest.raises(ValidationError) as error:
        record(measure, receiving_worker, amount="500.00", number="R-2")
    assert "more than the CHF 1'800.00 approved" in error.value.message_dict["over_budget_reason"][0]
    assert Invoice.objects.count() == 1

    invoice = record(measure, receiving_worker, amount="500.00", number="R-2",
                     over_budget_reason="Two extra coaching sessions agreed by phone")
    assert invoice.over_budget_reason
    assert selectors.case_money(measure.referral).remaining == Decimal("-200.00")


def test_an_invoice_dated_before_the_measure_started_is_refused(measure, receiving_worker, english):
    with pytest.raises(ValidationError) as error:
        record(measure, receiving_worker, invoice_date=START - datetime.timedelta(days=1))
    assert "before the measure started" in error.value.message_dict["invoice_date"][0]
    assert not Invoice.objects.exists()


@pytest.mark.parametrize("amount", ["0", "-1", "5000000"])
def test_zero_negative_or_absurd_invoice_amounts_are_refused(measure, receiving_worker, amount):
    with pytest.raises(ValidationError) as error:
        record(measure, receiving_worker, amount=amount)
    assert "amount_chf" in error.value.message_dict


def test_only_the_financing_signatory_confirms_and_only_the_leader_records(measure, receiving_worker, referrer,
                                                                          outsider, contact_person):
    with pytest.raises(PermissionDenied):
        record(measure, referrer)
    invoice = record(measure, receiving_worker)
    with pytest.raises(PermissionDenied):
        services.invoice_forward(invoice=invoice, actor=referrer)
    services.invoice_forward(invoice=invoice, actor=receiving_worker)
    for user in (referrer, outsider, contact_person):
        with pytest.raises(PermissionDenied):
            services.invoice_confirm_receipt(invoice=invoice, actor=user)


def test_an_invoice_is_forwarded_once(measure, receiving_worker):
    invoice = record(measure, receiving_worker)
    services.invoice_forward(invoice=invoice, actor=receiving_worker)
    with pytest.raises(TransitionNotAllowed):
        services.invoice_forward(invoice=invoice, actor=receiving_worker)


def test_case_page_shows_the_money_and_the_invoice(client, measure, receiving_worker, english_pages):
    record(measure, receiving_worker, amount="1000.00")
    client.force_login(receiving_worker)
    content = client.get(reverse("referrals:detail", args=[measure.referral_id])).content.decode()
    assert "CHF 1&#x27;800.00" in content or "CHF 1'800.00" in content
    assert "R-2026-17" in content
    assert "Forward invoice" in content


def test_recording_an_invoice_on_the_page_keeps_the_input_on_error(client, measure, receiving_worker,
                                                                   english_pages):
    client.force_login(receiving_worker)
    response = client.post(reverse("referrals:record_new_invoice", args=[measure.referral_id]), {
        "invoice-measure": measure.pk, "invoice-number": "R-99",
        "invoice-invoice_date": (START - datetime.timedelta(days=3)).isoformat(), "invoice-amount_chf": "100.00"})
    assert response.status_code == 400
    content = response.content.decode()
    assert "before the measure started" in content and 'value="R-99"' in content


def test_api_records_forwards_and_confirms_an_invoice(measure, receiving_worker, signatory, outsider):
    response = api(receiving_worker).post("/api/v1/invoices/", {
        "measure": measure.pk, "number": "R-1", "invoice_date": TODAY.isoformat(), "amount_chf": "900.00"},
        format="json")
    assert response.status_code == 201, response.json()
    pk = response.json()["id"]
    assert api(receiving_worker).post(f"/api/v1/invoices/{pk}/forward/").json()["status"] == "forwarded"
    assert api(signatory).post(f"/api/v1/invoices/{pk}/confirm/").json()["status"] == "confirmed"
    assert api(outsider).get(f"/api/v1/invoices/{pk}/").status_code == 404

    bad = api(receiving_worker).post("/api/v1/invoices/", {
        "measure": measure.pk, "number": "R-2", "invoice_date": TODAY.isoformat(), "amount_chf": "-3.00"},
        format="json")
    assert bad.status_code == 400 and "amount_chf" in bad.json()
