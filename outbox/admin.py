from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from . import services
from .models import Message, MessageStatus


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    """The queue of outgoing messages: pending, sent, failed with the error; failed ones can be retried."""

    list_display = ("created_at", "subject", "recipient_list", "status", "attempts", "next_attempt_at", "sent_at",
                    "last_error")
    list_filter = ("status",)
    search_fields = ("subject", "message_id")
    readonly_fields = [f.name for f in Message._meta.fields]
    actions = ["retry"]
    date_hierarchy = "created_at"

    @admin.display(description=_("recipients"))
    def recipient_list(self, obj):
        return ", ".join(obj.recipients)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Send the selected messages again now"))
    def retry(self, request, queryset):
        count = 0
        for message in queryset.exclude(status=MessageStatus.SENT):
            services.message_retry(message=message, actor=request.user)
            count += 1
        self.message_user(request, ngettext("%(count)s message queued again.", "%(count)s messages queued again.",
                                            count) % {"count": count}, messages.SUCCESS)
