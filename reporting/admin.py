from django.contrib import admin

from .models import ReportSnapshot


@admin.register(ReportSnapshot)
class ReportSnapshotAdmin(admin.ModelAdmin):
    """Read-only: snapshots are made by the reporting services (page, Celery beat), never typed in."""

    list_display = ("pk", "period_label", "trigger", "status", "requested_by", "requested_at", "attempts")
    list_filter = ("status", "trigger")
    readonly_fields = [f.name for f in ReportSnapshot._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
