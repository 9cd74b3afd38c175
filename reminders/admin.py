from django.contrib import admin

from . import services
from .models import ReminderPreference, ReminderSettings


@admin.register(ReminderSettings)
class ReminderSettingsAdmin(admin.ModelAdmin):
    """The deadlines of the reminders, in Lucerne working days. One row only."""

    list_display = ("__str__", "active", "decide_days", "decide_escalation_days", "handover_schedule_days",
                    "meeting_note_days", "cost_approval_days", "status_meeting_schedule_days", "updated_at")

    def has_add_permission(self, request):
        return not ReminderSettings.objects.exists()

    def save_model(self, request, obj, form, change):
        values = {f.name: getattr(obj, f.name) for f in ReminderSettings._meta.fields
                  if f.editable and f.name not in ("id", "updated_at")}
        saved = services.reminder_settings_save(actor=request.user, **values)
        obj.pk = saved.pk

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ReminderPreference)
class ReminderPreferenceAdmin(admin.ModelAdmin):
    list_display = ("user", "daily_digest")
    list_filter = ("daily_digest",)
    search_fields = ("user__username", "user__last_name")
