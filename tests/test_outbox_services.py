"""The transactional outbox: written with the change, sent under a row lock, retried, never twice."""

import datetime

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.db import transaction
from django.utils import timezone

from outbox.models import Message, MessageStatus
from outbox.services import message_enqueue, message_retry, message_send, messages_send_due
from outbox.tasks import send_due_messages_task, send_message_task
from referrals import services
from referrals.models import MeetingKind, Status
from tests.outbox_support import FlakyBackend
from tests.test_celery import REDIS_DOWN, celery_conf

pytestmark = pytest.mark.django_db


@pytest.fixture
def flaky(settings):
    settings.EMAIL_BACKEND = "tests.outbox_support.FlakyBackend"
    FlakyBackend.failures = 0
    yield FlakyBackend
    FlakyBackend.failures = 0


def test_a_message_exists_only_if_the_change_is_committed():
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            message_enqueue(subject="Neu", body="Text", recipients=["a@example.ch"])
            raise RuntimeError("the change fails")
    assert Message.objects.count() == 0
    assert mail.outbox == []


def test_filing_writes_the_mail_in_the_same_transaction_and_sends_it_after_commit(
        make_referral, contact_person, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        referral = make_referral(Status.SUBMITTED)
    message = Message.objects.get(recipients=[contact_person.email])
    assert message.status == MessageStatus.SENT and message.attempts == 1
    sent = [m for m in mail.outbox if contact_person.email in m.to]
    assert len(sent) == 1
    assert sent[0].extra_headers["Message-ID"] == message.message_id
    assert referral.reference in sent[0].subject


def test_a_message_is_written_even_if_nothing_runs_after_the_commit(make_referral, contact_person):
    make_referral(Status.SUBMITTED)  # on_commit callbacks do not run here: like a worker that never came
    message = Message.objects.get(recipients=[contact_person.email])
    assert message.status == MessageStatus.PENDING
    assert messages_send_due() == 1
    assert message_send(message_id=message.pk) == "skipped"  # already sent: never twice
    assert len(mail.outbox) == 1


def test_mail_server_down_is_retried_with_backoff_and_sent_once_later(flaky, django_capture_on_commit_callbacks):
    flaky.failures = 2
    now = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        message = message_enqueue(subject="Rückfrage", body="Link", recipients=["b@example.ch"])
    message.refresh_from_db()
    assert (message.status, message.attempts) == (MessageStatus.PENDING, 1)
    assert "SMTP server down" in message.last_error
    assert message.next_attempt_at >= now + datetime.timedelta(seconds=30)

    assert messages_send_due(now=now + datetime.timedelta(seconds=10)) == 0  # not yet due: backoff
    assert messages_send_due(now=now + datetime.timedelta(minutes=1)) == 0  # second attempt fails too
    message.refresh_from_db()
    assert message.attempts == 2 and message.next_attempt_at >= now + datetime.timedelta(seconds=90)
    assert messages_send_due(now=now + datetime.timedelta(minutes=5)) == 1
    assert messages_send_due(now=now + datetime.timedelta(minutes=30)) == 0
    message.refresh_from_db()
    assert (message.status, message.attempts, message.last_error) == (MessageStatus.SENT, 3, "")
    assert [m.subject for m in mail.outbox] == ["Rückfrage"]


def test_after_the_last_attempt_a_message_is_failed_and_an_administrator_can_retry_it(flaky, settings):
    settings.OUTBOX_MAX_ATTEMPTS = 2
    flaky.failures = 5
    message = message_enqueue(subject="Kaputt", body="Text", recipients=["c@example.ch"])
    far = timezone.now() + datetime.timedelta(days=1)
    messages_send_due(now=far)
    messages_send_due(now=far + datetime.timedelta(days=1))
    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED and message.attempts == 2
    assert messages_send_due(now=far + datetime.timedelta(days=2)) == 0  # failed ones wait for a person

    flaky.failures = 0
    admin = get_user_model().objects.create_user("root", is_staff=True)
    message_retry(message=message, actor=admin)
    assert messages_send_due() == 1
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT
    assert len(mail.outbox) == 1


def test_only_administrators_retry(referrer):
    from django.core.exceptions import PermissionDenied

    message = message_enqueue(subject="X", body="Y", recipients=["d@example.ch"])
    with pytest.raises(PermissionDenied):
        message_retry(message=message, actor=referrer)


def test_a_redelivered_task_finds_the_message_sent_and_sends_nothing():
    message = message_enqueue(subject="Einmal", body="Text", recipients=["e@example.ch"])
    assert send_message_task.run(message.pk) == "sent"
    assert send_message_task.run(message.pk) == "skipped"  # the broker delivers the task again
    assert len(mail.outbox) == 1


def test_redis_down_while_filing_loses_nothing_and_the_mail_goes_out_once_when_it_is_back(
        make_referral, contact_person, caplog, django_capture_on_commit_callbacks):
    with celery_conf(**REDIS_DOWN):
        with django_capture_on_commit_callbacks(execute=True):
            referral = make_referral(Status.SUBMITTED)  # the request does not fail
    assert "the periodic sweep will send it" in caplog.text
    assert mail.outbox == []
    message = Message.objects.get(recipients=[contact_person.email])
    assert message.status == MessageStatus.PENDING

    # Redis is back: beat's sweep (eager here) sends it, once.
    send_due_messages_task.run()
    send_due_messages_task.run()
    assert [m.to for m in mail.outbox] == [[contact_person.email]]
    assert referral.reference in mail.outbox[0].subject


def test_the_meeting_invitation_carries_a_calendar_file_without_client_data(
        make_referral, referrer, receiving_worker, django_capture_on_commit_callbacks):
    referral = make_referral(Status.ACCEPTED)
    with django_capture_on_commit_callbacks(execute=True):
        services.meeting_schedule(referral=referral, actor=referrer, kind=MeetingKind.HANDOVER,
                                  scheduled_at=timezone.now() + datetime.timedelta(days=3),
                                  location="Bei Frau Beispiel zuhause")
    invitation = [m for m in mail.outbox if receiving_worker.email in m.to][-1]
    (filename, content, mimetype), = invitation.attachments
    assert filename == f"{referral.reference}.ics" and mimetype == "text/calendar"
    text = content.decode() if isinstance(content, bytes) else content
    assert "BEGIN:VEVENT" in text and referral.reference in text
    assert "Beispiel" not in text  # the place is free text: not in mails


def test_cost_approval_mails_carry_no_free_text(cost_approval, signatory, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.cost_approval_approve(cost_approval=cost_approval, actor=signatory)
    for message in Message.objects.all():
        assert "Job coaching" not in message.subject + message.body
        assert "Coaching AG" not in message.body


def test_administrators_see_the_queue_with_errors(client, flaky):
    flaky.failures = 1
    message_enqueue(subject="Warteschlange", body="Text", recipients=["f@example.ch"])
    messages_send_due()
    admin = get_user_model().objects.create_superuser("root", "root@example.ch", "pw")
    client.force_login(admin)
    page = client.get("/admin/outbox/message/?status__exact=pending").content.decode()
    assert "Warteschlange" in page and "SMTP server down" in page
    response = client.post("/admin/outbox/message/", {
        "action": "retry", "_selected_action": [str(m.pk) for m in Message.objects.all()]})
    assert response.status_code == 302
