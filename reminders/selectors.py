"""Reads of the reminder configuration."""

from referrals.next_step import Action

from .models import ReminderPreference, ReminderSettings


def reminder_settings():
    """The one configuration row (defaults until an administrator saves it)."""
    return ReminderSettings.objects.order_by("pk").first() or ReminderSettings()


def due_days_by_action(config=None):
    """{action: working days}; one query (the configuration row) unless `config` is given."""
    config = config or reminder_settings()
    return {
        Action.DECIDE: config.decide_days,
        Action.SCHEDULE_HANDOVER: config.handover_schedule_days,
        Action.RECORD_HANDOVER: config.meeting_note_days,
        Action.RECORD_STATUS_MEETING: config.meeting_note_days,
        Action.SIGN_COST_APPROVAL: config.cost_approval_days,
        Action.SCHEDULE_STATUS_MEETING: config.status_meeting_schedule_days,
    }


def digest_user_ids(user_ids):
    return set(ReminderPreference.objects.filter(user_id__in=user_ids, daily_digest=True)
               .values_list("user_id", flat=True))


def wants_digest(user):
    return ReminderPreference.objects.filter(user=user, daily_digest=True).exists()
