"""Forms of the billing pages: they validate input and hand it to the services."""

import datetime

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from institutions.models import InstitutionKind
from referrals.forms import DateInput

from .models import FeeModel

DATE_FORMATS = ["%Y-%m-%d", "%d.%m.%Y"]


class MonthField(forms.CharField):
    """A month as YYYY-MM (the browser's month input) or MM.YYYY; cleaned to its first day."""

    widget = forms.TextInput(attrs={"type": "month", "placeholder": "2026-05"})

    def to_python(self, value):
        value = (value or "").strip()
        if not value:
            return None
        for fmt in ("%Y-%m", "%m.%Y"):
            try:
                return datetime.datetime.strptime(value, fmt).date()
            except ValueError:
                continue
        raise ValidationError(_("Enter the month as YYYY-MM, e.g. 2026-05."), code="invalid")


class BuildStatementsForm(forms.Form):
    month = MonthField(label=_("Month"), help_text=_("A month that has ended, e.g. 2026-05."))
    dry_run = forms.BooleanField(label=_("Only preview, issue nothing"), required=False)


def _rate_field():
    return forms.DecimalField(label=_("Monthly rate in CHF"), max_digits=8, decimal_places=2, localize=False,
                              widget=forms.NumberInput(attrs={"step": "0.05"}),
                              help_text=_("Greater than 0 and at most 10'000.00, e.g. 300.00."))


class FeeRateForm(forms.Form):
    leader_kind = forms.ChoiceField(label=_("Leading institution kind"), choices=InstitutionKind.choices)
    monthly_rate_chf = _rate_field()
    valid_from = forms.DateField(label=_("Valid from"), widget=DateInput, input_formats=DATE_FORMATS,
                                 help_text=_("The 1st of a month. An open-ended earlier rate ends the day before."))
    valid_until = forms.DateField(label=_("Valid until (optional)"), widget=DateInput, input_formats=DATE_FORMATS,
                                  required=False, help_text=_("The last day of a month; empty = until changed."))


class FeeModelRuleForm(forms.Form):
    referrer_kind = forms.ChoiceField(label=_("Referring institution kind"), choices=InstitutionKind.choices)
    leader_kind = forms.ChoiceField(label=_("Leading institution kind"), choices=InstitutionKind.choices)
    model = forms.ChoiceField(label=_("Model"), choices=FeeModel.choices, widget=forms.RadioSelect)
    valid_from = forms.DateField(label=_("Valid from"), widget=DateInput, input_formats=DATE_FORMATS,
                                 help_text=_("The 1st of a month. An open-ended earlier setting ends the day before."))
    valid_until = forms.DateField(label=_("Valid until (optional)"), widget=DateInput, input_formats=DATE_FORMATS,
                                  required=False, help_text=_("The last day of a month; empty = until changed."))


class YearForm(forms.Form):
    year = forms.IntegerField(label=_("Year"), min_value=2000, max_value=2100, required=False)
