"""Messages to send (e-mail today, webhooks tomorrow): the transactional outbox.

A row is written in the same database transaction as the change that causes it, so a message exists
exactly when the change does. A sender claims the row under a row lock and marks it sent only after
the mail server accepted it; the row, not the Celery task, decides whether a message still goes out.
Generic: it holds rendered subject, body, recipients and attachments - it knows nothing of referrals.
"""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class MessageStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")


class Message(models.Model):
    subject = models.CharField(_("subject"), max_length=255)
    body = models.TextField(_("text"))
    recipients = models.JSONField(_("recipients"), default=list)
    # [{"filename": ..., "content_type": ..., "content": base64}]
    attachments = models.JSONField(_("attachments"), default=list, blank=True)
    # Stable across resends: a mail sent again after a crash in the middle of the SMTP dialogue is
    # recognisable as the same message by the receiving mail systems.
    message_id = models.CharField(_("Message-ID"), max_length=255, unique=True)
    status = models.CharField(_("status"), max_length=10, choices=MessageStatus.choices,
                              default=MessageStatus.PENDING, db_index=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    next_attempt_at = models.DateTimeField(_("next attempt"), default=timezone.now, db_index=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("outgoing message")
        verbose_name_plural = _("outgoing messages")

    def __str__(self):
        return self.subject
