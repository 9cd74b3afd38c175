"""Background tasks of the directory app: outgoing e-mail.

E-mail leaves the request through Celery so that a slow or unreachable mail server never slows down a
page. In the embedded shape (no ``REDIS_URL``) Celery runs tasks eagerly, i.e. in the web process.
"""

import logging

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail

logger = logging.getLogger(__name__)


def _send(subject, body, recipients):
    return send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, list(recipients), fail_silently=False)


# Retried with exponential backoff (1 s, 2 s, 4 s, ... with jitter): a mail server that is down for a
# moment must not lose the message. acks_late (settings) redelivers it if the worker dies mid-task.
# ignore_result: nobody waits for it, and without it .delay() also subscribes to the result backend,
# which with Redis down retries for ~20 s before enqueue_email can fall back.
@shared_task(bind=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=5, ignore_result=True)
def send_email_task(self, subject, body, recipients):
    return _send(subject, body, recipients)


@shared_task
def ping_task():
    """Round trip through broker, worker and result backend (used by the tests and for monitoring)."""
    return "pong"


def enqueue_email(*, subject, body, recipients):
    """Send an e-mail in the background; meant to be called inside ``transaction.on_commit``.

    It runs after the commit, so an exception here cannot roll anything back: it would only turn a
    saved change into an error page. Hence nothing is raised; a broker that cannot be reached (Redis
    down) degrades to sending synchronously, so that the message is not lost.
    """
    recipients = list(recipients)  # JSON-serialisable for the broker
    if not recipients:
        return
    try:
        send_email_task.delay(subject, body, recipients)
        return
    except Exception:  # kombu.exceptions.OperationalError and anything else raised while publishing
        if send_email_task.app.conf.task_always_eager:
            # Eager mode: the task already ran (with its retries) here, so there is no broker to blame.
            logger.exception("Sending e-mail %r to %s failed.", subject, recipients)
            return
        logger.exception("Could not queue e-mail %r; sending it synchronously instead.", subject)
    try:
        _send(subject, body, recipients)
    except Exception:
        logger.exception("Sending e-mail %r to %s failed; it is lost.", subject, recipients)
