from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _


class LoginForm(AuthenticationForm):
    """Django's log-in form with an upper bound on the password (an over-long one gets a message, not a hash)."""

    password = forms.CharField(label=_("Password"), strip=False, max_length=128,
                               widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
                               error_messages={"max_length": _("This password is too long (at most %(limit_value)d "
                                                               "characters).")})


class CodeForm(forms.Form):
    code = forms.CharField(
        label=_("Code"), max_length=32, strip=True,
        help_text=_("The six digits your authenticator app shows now, or one of your recovery codes."),
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric",
                                      "autocapitalize": "off", "spellcheck": "false"}),
        error_messages={"required": _("Enter the code from your authenticator app.")})
