from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.utils.translation import gettext_lazy as _

from .models import Institution, Membership, Municipality, ProblemArea, User
from .validators import harden_form_fields, validate_phone


class PlausibleInputAdminMixin:
    """Admin forms refuse control characters and implausible phone numbers like the pages do (issue 10)."""

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        harden_form_fields(form, max_length=1000)
        phone = form.base_fields.get("phone")
        if phone is not None and validate_phone not in phone.validators:
            phone.validators.append(validate_phone)
        return form


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]
    verbose_name = _("person and roles")
    verbose_name_plural = _("people and roles (contact persons, signatories, case workers)")


class UserMembershipInline(MembershipInline):
    autocomplete_fields = ["institution"]
    verbose_name_plural = _("institutions and roles")


class InstitutionAdminForm(forms.ModelForm):
    topics = forms.MultipleChoiceField(
        label=_("topics"), choices=ProblemArea.choices, required=False, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = Institution
        fields = ["key", "name", "kind", "active", "address", "email", "phone", "integral_case_management", "topics",
                  "municipalities"]


@admin.register(Institution)
class InstitutionAdmin(PlausibleInputAdminMixin, admin.ModelAdmin):
    form = InstitutionAdminForm
    list_display = ["name", "kind", "email", "phone", "integral_case_management", "active"]
    list_filter = ["kind", "active", "integral_case_management"]
    search_fields = ["name", "key", "email", "municipalities__name"]
    filter_horizontal = ["municipalities"]
    inlines = [MembershipInline]
    fieldsets = [
        (None, {"fields": ["key", "name", "kind", "active"]}),
        (_("Contact"), {"fields": ["address", "email", "phone"]}),
        (_("Social services"), {"fields": ["integral_case_management", "topics"]}),
        (_("Area served"), {"fields": ["municipalities"]}),
    ]


@admin.register(Municipality)
class MunicipalityAdmin(admin.ModelAdmin):
    list_display = ["name", "bfs_number"]
    search_fields = ["name", "bfs_number"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = [
        "user", "institution", "is_case_worker", "is_contact_person", "is_signatory", "is_coordinator", "is_admin",
        "is_data_protection",
    ]
    list_filter = ["institution__kind", "is_contact_person", "is_signatory", "is_coordinator", "is_admin",
                   "is_data_protection", "institution"]
    search_fields = ["user__username", "user__last_name", "user__first_name", "institution__name"]
    autocomplete_fields = ["user", "institution"]
    list_select_related = ["user", "institution"]


@admin.register(User)
class UserAdmin(PlausibleInputAdminMixin, DjangoUserAdmin):
    inlines = [UserMembershipInline]
    list_display = ["username", "first_name", "last_name", "email", "phone", "is_active"]
    list_filter = ["is_active", "is_staff", "memberships__institution__kind"]
    fieldsets = [
        *DjangoUserAdmin.fieldsets[:1],
        (_("Personal info"), {"fields": ["first_name", "last_name", "email", "phone", "language"]}),
        *DjangoUserAdmin.fieldsets[2:],
    ]


admin.site.site_header = _("OPTIMA Referrals – administration")
admin.site.site_title = _("OPTIMA administration")
admin.site.index_title = _("Directory and configuration")


def _superusers_only(request):
    """The Django admin is for superusers only (issue 12); administrators keep the directory on its own page."""
    return request.user.is_active and request.user.is_superuser


admin.site.has_permission = _superusers_only
