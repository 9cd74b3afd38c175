"""The daily reminder job: what is due on a Lucerne working day, reminded once per task and threshold.

Rules (thresholds configured in ReminderSettings, counted in working days by referrals.workdays):
- a decision not taken: the receiving contact persons on the due date; at the escalation threshold
  the IIZ coordinators as well (once);
- a handover meeting not scheduled, a meeting held without a note, a cost approval not signed, a
  status meeting planned by a note but not scheduled: the party on turn on the due date.
Each reminder is an event in the case timeline (referrals.services.referral_record_reminder) and a mail
through the outbox - one per reminder, or one daily digest per user who chose it.
"""

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from institutions.models import Role
from institutions.selectors import institution_members_with_role, users_with_role
from referrals import notifications
from referrals.next_step import Action, open_tasks
from referrals.selectors import referrals_with_open_tasks, reminder_recorded
from referrals.services import referral_record_reminder
from referrals.workdays import add_working_days, is_working_day

from .models import ReminderPreference, ReminderSettings
from .selectors import digest_user_ids, due_days_by_action, reminder_settings

REMINDED_ACTIONS = {Action.DECIDE, Action.SCHEDULE_HANDOVER, Action.RECORD_HANDOVER, Action.RECORD_STATUS_MEETING,
                    Action.SIGN_COST_APPROVAL, Action.SCHEDULE_STATUS_MEETING}


@dataclass
class DueReminder:
    task: object
    threshold: int  # 1 = the reminder, 2 = the escalation
    due_on: object
    recipients: list

    @property
    def escalation(self):
        return self.threshold > 1

    def line(self):
        names = ", ".join(sorted(u.get_full_name() or u.username for u in self.recipients))
        kind = _("escalation") if self.escalation else _("reminder")
        return _("%(ref)s  due %(due)s  %(kind)s: %(action)s  -> %(who)s") % {
            "ref": self.task.referral.reference, "due": self.due_on.strftime("%d.%m.%Y"), "kind": kind,
            "action": self.task.label, "who": names or _("(nobody with an e-mail address)")}


def _on_turn(task):
    if task.user is not None:
        return [task.user] if task.user.is_active else []
    return list(institution_members_with_role(task.institution, task.role))


REFERRAL_CHUNK = 1000


def reminders_due(*, today=None, config=None):
    """Every reminder due today or earlier that has not gone out yet (nothing is written)."""
    today = today or timezone.localdate()
    config = config or reminder_settings()
    days = due_days_by_action(config)
    coordinators = None
    due = []
    # In chunks (prefetches included): the job's memory stays flat with 100,000 open referrals (issue 14).
    for referral in referrals_with_open_tasks().iterator(chunk_size=REFERRAL_CHUNK):
        for task in open_tasks(referral, days=days, today=today):
            if task.action not in REMINDED_ACTIONS or task.due_on is None or task.due_on > today:
                continue
            thresholds = [(1, task.due_on)]
            if task.action == Action.DECIDE:
                escalation_on = add_working_days(task.since, config.decide_escalation_days)
                if escalation_on <= today:
                    thresholds.append((2, escalation_on))
            for threshold, due_on in thresholds:
                if reminder_recorded(referral, key=task.key, threshold=threshold):
                    continue
                recipients = _on_turn(task)
                if threshold == 2:
                    if coordinators is None:
                        coordinators = list(users_with_role(Role.COORDINATOR))
                    recipients = [*recipients, *[c for c in coordinators if c not in recipients]]
                due.append(DueReminder(task=task, threshold=threshold, due_on=due_on, recipients=recipients))
    return due


def send_reminders(*, today=None, dry_run=False, force=False):
    """Run the job: record and mail every due reminder once. Returns the reminders (sent or, dry, to send).

    Only on working days (a Saturday run does nothing) unless `force`; what fell due over the weekend
    goes out on Monday.
    """
    today = today or timezone.localdate()
    config = reminder_settings()
    if not config.active or not (force or is_working_day(today)):
        return []
    due = reminders_due(today=today, config=config)
    if dry_run:
        return due
    sent = []
    with transaction.atomic():
        digests = {}
        digest_ids = digest_user_ids([u.pk for d in due for u in d.recipients])
        for reminder in due:
            task = reminder.task
            event = referral_record_reminder(
                referral=task.referral, action=task.action, key=task.key, threshold=reminder.threshold,
                due_on=reminder.due_on, recipients=reminder.recipients, escalation=reminder.escalation)
            if event is None:  # recorded by a concurrent run meanwhile
                continue
            sent.append(reminder)
            single = [u for u in reminder.recipients if u.pk not in digest_ids]
            notifications.reminder(task.referral.pk, [u.pk for u in single], action_label=str(task.label),
                                   due_on=reminder.due_on, escalation=reminder.escalation)
            for user in reminder.recipients:
                if user.pk in digest_ids:
                    digests.setdefault(user.pk, []).append(
                        (task.referral.pk, str(task.label), reminder.due_on, reminder.escalation))
        for user_id, items in digests.items():
            notifications.reminder_digest(user_id, items)
    return sent


@transaction.atomic
def reminder_preference_set(*, user, actor, daily_digest):
    if actor.pk != user.pk:
        raise PermissionDenied(_("You can only change your own reminder settings."))
    preference, _created = ReminderPreference.objects.select_for_update().get_or_create(user=user)
    preference.daily_digest = bool(daily_digest)
    preference.save()
    return preference


@transaction.atomic
def reminder_settings_save(*, actor, **values):
    if not (actor.is_staff or actor.is_superuser):
        raise PermissionDenied(_("Only administrators change the reminder settings."))
    config = ReminderSettings.objects.select_for_update().order_by("pk").first() or ReminderSettings()
    for name, value in values.items():
        setattr(config, name, value)
    config.full_clean()
    config.save()
    return config
