"""The filter of the audit trail page: case, user, period."""

import datetime

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from institutions.models import User

from .selectors import protected_model

DATE_INPUT = {"input_formats": ["%Y-%m-%d", "%d.%m.%Y"],
              "widget": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")}


class AuditFilterForm(forms.Form):
    referral = forms.CharField(
        label=_("Case"), required=False, max_length=40,
        help_text=_("The reference, e.g. OPT-2026-0014, or the case number."))
    user = forms.CharField(label=_("User"), required=False, max_length=150,
                           help_text=_("The user name, e.g. iv.kontakt."))
    since = forms.DateField(label=_("From"), required=False,
                            error_messages={"invalid": _("Enter a date like 31.01.2026.")}, **DATE_INPUT)
    until = forms.DateField(label=_("Until (inclusive)"), required=False,
                            error_messages={"invalid": _("Enter a date like 31.12.2026.")}, **DATE_INPUT)

    def clean_referral(self):
        value = self.cleaned_data["referral"].strip()
        if not value:
            return None
        if value.isdigit() and len(value) < 19:
            return int(value)
        found = protected_model()._default_manager.filter(reference__iexact=value).values_list("pk", flat=True)
        if not found:
            raise forms.ValidationError(_("No case has the reference %(value)s. Check the spelling, e.g. "
                                          "OPT-2026-0014."), params={"value": value})
        return found[0]

    def clean_user(self):
        value = self.cleaned_data["user"].strip()
        if not value:
            return None
        user = User.objects.filter(username__iexact=value).first()
        if user is None:
            raise forms.ValidationError(_("No user is called %(value)s. Enter the user name, e.g. iv.kontakt."),
                                        params={"value": value})
        return user

    def clean(self):
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            self.add_error("until", _("The end of the period must not be before its start."))
        return cleaned

    def filters(self):
        """Keyword arguments for selectors.audit_records (only when valid)."""
        data = self.cleaned_data

        def start_of(day):
            return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min)) if day else None

        return {
            "referral_id": data.get("referral"),
            "actor": data.get("user"),
            "since": start_of(data.get("since")),
            "until": start_of(data["until"] + datetime.timedelta(days=1)) if data.get("until") else None,
        }
