from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RemindersConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "reminders"
    verbose_name = _("Reminders")

    def ready(self):
        # Floor 3 hands its configured deadlines down to referrals' next_step (which cannot import us).
        from referrals.next_step import register_due_days_provider

        from .selectors import due_days_by_action

        register_due_days_provider(due_days_by_action)
