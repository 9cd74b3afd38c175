"""Admin: lockouts (django-axes, delete an entry to unlock), second factors and API tokens without secrets.

django-otp's own admin shows the TOTP secret and its QR code, knox's the token's key prefix: both are replaced
by lists that show who has what since when; deleting a row resets a lost second factor or revokes a token.
"""

from django.contrib import admin
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice
from knox.models import AuthToken

for model in (TOTPDevice, StaticDevice, AuthToken):
    if admin.site.is_registered(model):
        admin.site.unregister(model)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(TOTPDevice)
class SecondFactorAdmin(ReadOnlyAdmin):
    list_display = ("user", "confirmed", "created_at", "last_used_at")
    list_filter = ("confirmed",)
    search_fields = ("user__username", "user__last_name")
    fields = ("user", "name", "confirmed", "created_at", "last_used_at")


@admin.register(AuthToken)
class ApiTokenAdmin(ReadOnlyAdmin):
    list_display = ("user", "created", "expiry")
    search_fields = ("user__username", "user__last_name")
    fields = ("user", "created", "expiry")
