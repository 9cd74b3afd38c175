"""Writes to the outbox: enqueue a message in the caller's transaction, send it under a row lock, retry."""

import base64
import logging
from datetime import timedelta
from email.utils import make_msgid

from celery import current_app
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .models import Message, MessageStatus

logger = logging.getLogger(__name__)

SEND_TASK = "outbox.tasks.send_message_task"


def _max_attempts():
    return getattr(settings, "OUTBOX_MAX_ATTEMPTS", 10)


def _backoff(attempts):
    """30 s, 1 min, 2 min, 4 min ... capped at one hour."""
    base = getattr(settings, "OUTBOX_RETRY_BASE_SECONDS", 30)
    return timedelta(seconds=min(base * 2 ** max(attempts - 1, 0), 3600))


def attachment(*, filename, content, content_type):
    """An attachment as the outbox stores it (JSON): content as bytes or str."""
    if isinstance(content, str):
        content = content.encode("utf-8")
    return {"filename": filename, "content_type": content_type, "content": base64.b64encode(content).decode("ascii")}


def message_enqueue(*, subject, body, recipients, attachments=None):
    """Store a message to send. Call it inside the transaction of the change that causes the message.

    After the commit a Celery task is asked to send it at once; if the broker is down, nothing is lost:
    the periodic sweep (``send_due_messages_task``) sends every pending message that is due.
    """
    recipients = sorted({r for r in recipients if r})
    if not recipients:
        return None
    domain = getattr(settings, "OUTBOX_MESSAGE_ID_DOMAIN", "optima.local")
    message = Message.objects.create(subject=subject[:255], body=body, recipients=recipients,
                                     attachments=list(attachments or []), message_id=make_msgid(domain=domain))
    transaction.on_commit(lambda: _kick(message.pk))
    return message


def _kick(message_id):
    """Ask a worker to send the message now (by task name: tasks.py imports this module)."""
    if current_app.conf.task_always_eager:  # embedded shape: no broker, send in this process
        message_send(message_id=message_id)
        return
    try:
        current_app.send_task(SEND_TASK, args=[message_id], ignore_result=True)
    except Exception:  # broker down (kombu OperationalError) or anything raised while publishing
        logger.warning("Could not queue outgoing message %s; the periodic sweep will send it.", message_id,
                       exc_info=True)


def _email(message):
    email = EmailMessage(subject=message.subject, body=message.body, from_email=settings.DEFAULT_FROM_EMAIL,
                         to=list(message.recipients), headers={"Message-ID": message.message_id})
    for item in message.attachments:
        email.attach(item["filename"], base64.b64decode(item["content"]), item["content_type"])
    return email


def message_send(*, message_id, now=None):
    """Send one pending, due message. The row lock is held while the mail server is talking to us.

    Returns "sent", "retry", "failed" or "skipped" (already sent, not due, or claimed by another sender).
    A sender killed in the middle loses its database connection, which releases the lock and rolls the
    claim back: the message stays pending and the next sender sends it (with the same Message-ID).
    """
    now = now or timezone.now()
    with transaction.atomic():
        message = (Message.objects.select_for_update(skip_locked=True)
                   .filter(pk=message_id, status=MessageStatus.PENDING, next_attempt_at__lte=now).first())
        if message is None:
            return "skipped"
        try:
            sent = get_connection(fail_silently=False).send_messages([_email(message)])
            if not sent:
                raise RuntimeError("the mail backend accepted no message")
        except Exception as exc:  # SMTP down, refused, timeout ...: retried with backoff
            message.attempts += 1
            message.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            if message.attempts >= _max_attempts():
                message.status = MessageStatus.FAILED
                logger.error("Outgoing message %s failed for good: %s", message.pk, message.last_error)
            else:
                message.next_attempt_at = now + _backoff(message.attempts)
                logger.warning("Outgoing message %s not sent (attempt %s): %s", message.pk, message.attempts,
                               message.last_error)
            message.save(update_fields=["attempts", "last_error", "status", "next_attempt_at"])
            return "failed" if message.status == MessageStatus.FAILED else "retry"
        message.attempts += 1
        message.status, message.sent_at, message.last_error = MessageStatus.SENT, timezone.now(), ""
        message.save(update_fields=["attempts", "status", "sent_at", "last_error"])
        return "sent"


def messages_send_due(*, now=None, limit=200):
    """The sweep: send every pending message whose time has come. Returns how many went out."""
    now = now or timezone.now()
    ids = list(Message.objects.filter(status=MessageStatus.PENDING, next_attempt_at__lte=now)
               .order_by("next_attempt_at", "id").values_list("pk", flat=True)[:limit])
    return sum(1 for pk in ids if message_send(message_id=pk, now=now) == "sent")


@transaction.atomic
def message_retry(*, message, actor):
    """An administrator sends a failed (or waiting) message again now."""
    if not (actor.is_staff or actor.is_superuser):
        raise PermissionDenied(_("Only administrators can retry outgoing messages."))
    message = Message.objects.select_for_update().get(pk=message.pk)
    if message.status == MessageStatus.SENT:
        return message
    message.status, message.next_attempt_at = MessageStatus.PENDING, timezone.now()
    message.save(update_fields=["status", "next_attempt_at"])
    transaction.on_commit(lambda: _kick(message.pk))
    return message
