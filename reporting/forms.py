"""The period of the key figures: ?from=DD.MM.YYYY&to=DD.MM.YYYY (or ISO), both optional, both days included."""

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from optima.forms import SwissDateField, SwissDateInput
from referrals.validators import collect, validate_report_date

from .kpi import Period


class PeriodForm(forms.Form):
    def __init__(self, data=None, **kwargs):
        super().__init__(data, **kwargs)
        # "from" is a Python keyword, hence the fields are added here rather than declared.
        # dd.mm.yyyy in every browser (issue 12); ISO dates in links keep working.
        self.fields["from"] = SwissDateField(
            label=_("From"), required=False, widget=SwissDateInput(attrs={"class": "form-control"}),
            error_messages={"invalid": _("Enter a date like 31.01.2024.")})
        self.fields["to"] = SwissDateField(
            label=_("Until"), required=False, widget=SwissDateInput(attrs={"class": "form-control"}),
            error_messages={"invalid": _("Enter a date like 31.12.2024.")})

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("from"), cleaned.get("to")
        # Bounded, so "9999-12-31" is a clear error rather than an overflow deep in the counting.
        errors = {}
        for name in ("from", "to"):
            collect(errors, name, validate_report_date, cleaned.get(name), today=timezone.localdate())
        for name, messages in errors.items():
            for message in messages:
                self.add_error(name, message)
        start, end = cleaned.get("from"), cleaned.get("to")
        if start and end and start > end:
            self.add_error("to", _("The end of the period must not be before its start."))
        return cleaned

    @property
    def period(self):
        """The valid period, or the whole time when the input is not valid."""
        if not self.is_valid():
            return Period()
        return Period(self.cleaned_data.get("from"), self.cleaned_data.get("to"))
