"""Reminder configuration (one row, edited by an administrator) and each user's choice of a daily digest."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

DAYS = [MinValueValidator(1), MaxValueValidator(60)]


class ReminderSettings(models.Model):
    """Deadlines in Lucerne working days (Monday to Friday without the canton's public holidays)."""

    decide_days = models.PositiveSmallIntegerField(
        _("decision: remind the receiving contact persons after (working days)"), default=5, validators=DAYS)
    decide_escalation_days = models.PositiveSmallIntegerField(
        _("decision: also remind the IIZ coordinator after (working days)"), default=10, validators=DAYS)
    handover_schedule_days = models.PositiveSmallIntegerField(
        _("handover meeting not scheduled: remind the referrer after acceptance (working days)"), default=10,
        validators=DAYS)
    meeting_note_days = models.PositiveSmallIntegerField(
        _("meeting held but no note: remind the person on turn after the meeting date (working days)"), default=3,
        validators=DAYS)
    cost_approval_days = models.PositiveSmallIntegerField(
        _("cost approval unsigned: remind the signatories after (working days)"), default=5, validators=DAYS)
    status_meeting_schedule_days = models.PositiveSmallIntegerField(
        _("status meeting planned in a note but not scheduled: remind the receiving case worker after "
          "(working days)"), default=10, validators=DAYS)
    active = models.BooleanField(_("send reminders"), default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("reminder settings")
        verbose_name_plural = _("reminder settings")

    def __str__(self):
        return str(_("Reminder settings"))


class ReminderPreference(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reminder_preference")
    daily_digest = models.BooleanField(
        _("one daily digest e-mail instead of single reminders"), default=False)

    class Meta:
        verbose_name = _("reminder preference")
        verbose_name_plural = _("reminder preferences")

    def __str__(self):
        return str(self.user)
