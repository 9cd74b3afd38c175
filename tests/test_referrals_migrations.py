"""Data migrations of the referrals app that compute something: they must give what the services write."""

import datetime
import importlib

import pytest
from django.apps import apps
from django.utils import timezone

from referrals import services
from referrals.models import MeetingDecision, Referral, Status

case_active_span = importlib.import_module("referrals.migrations.0008_fill_case_active_span")


def spans():
    return {pk: (start, end) for pk, start, end in Referral.objects.values_list("pk", "active_from", "active_until")}


@pytest.mark.django_db
def test_filling_the_active_spans_gives_what_the_services_wrote(make_referral, referrer, receiving_worker):
    today = timezone.localdate()
    for status in (Status.SUBMITTED, Status.ACCEPTED, Status.NOT_STARTED, Status.ACTIVE, Status.CLOSED):
        make_referral(status)
    ended_by_client = make_referral(Status.ACTIVE)
    services.referral_withdraw_consent(referral=ended_by_client, actor=referrer, withdrawn_on=today,
                                       channel="client_verbally")
    not_started_by_client = make_referral(Status.ACCEPTED)
    services.referral_withdraw_consent(referral=not_started_by_client, actor=referrer, withdrawn_on=today,
                                       channel="client_verbally")
    continued = make_referral(Status.ACTIVE)
    services.status_meeting_record(referral=continued, actor=receiving_worker, held_on=today, progress="Good",
                                   decision=MeetingDecision.CONTINUE,
                                   next_meeting_on=today + datetime.timedelta(days=60))
    written = spans()
    assert sum(1 for start, _end in written.values() if start) == 4  # active, closed, ended by client, continued

    Referral.objects.update(active_from=None, active_until=None)
    case_active_span.fill_active_spans(apps, None)

    assert spans() == written
