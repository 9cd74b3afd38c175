"""Read-only views of the billing data in the Django admin; configuration is done on the settings page
(/fallpauschalen/einstellungen/) through the services, statements are never edited."""

from django.contrib import admin

from .models import FeeModelRule, FeeRate, FeeStatement, FeeStatementLine


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(FeeRate)
class FeeRateAdmin(ReadOnlyAdmin):
    list_display = ("leader_kind", "monthly_rate_chf", "valid_from", "valid_until")


@admin.register(FeeModelRule)
class FeeModelRuleAdmin(ReadOnlyAdmin):
    list_display = ("referrer_kind", "leader_kind", "model", "valid_from", "valid_until")


class LineInline(admin.TabularInline):
    model = FeeStatementLine
    fields = ("reference", "months", "rate_chf", "amount_chf")
    readonly_fields = fields
    can_delete = False
    extra = 0


@admin.register(FeeStatement)
class FeeStatementAdmin(ReadOnlyAdmin):
    list_display = ("number", "month", "billing_institution", "billed_institution", "case_count", "total_chf")
    inlines = [LineInline]
