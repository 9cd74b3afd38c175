from django import forms
from django.utils.translation import gettext_lazy as _


class PreferenceForm(forms.Form):
    daily_digest = forms.BooleanField(
        label=_("Send me one summary e-mail per day instead of a single e-mail per reminder"), required=False,
        help_text=_("The summary comes in the morning of each working day on which something is due."))
