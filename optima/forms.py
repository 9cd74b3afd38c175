"""Form pieces shared by every app: dates entered and shown as dd.mm.yyyy in every browser.

The browser's own date picker follows the browser's language (mm/dd/yyyy in an English browser), so dates are
plain text inputs with a numeric keyboard, a pattern and a visible format hint, parsed with
settings.DATE_INPUT_FORMATS (the same in every language).
"""

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

DATE_PATTERN = r"\s*\d{1,2}\.\d{1,2}\.(\d{2}|\d{4})\s*|\s*\d{4}-\d{2}-\d{2}\s*"
DATETIME_PATTERN = r"\s*\d{1,2}\.\d{1,2}\.\d{4}(\s+\d{1,2}[:.]\d{2})?\s*|\s*\d{4}-\d{2}-\d{2}T\d{2}:\d{2}\s*"


class SwissDateInput(forms.DateInput):
    input_type = "text"

    def __init__(self, attrs=None):
        base = {"inputmode": "numeric", "pattern": DATE_PATTERN, "autocomplete": "off", "size": 10,
                "placeholder": _("DD.MM.YYYY"), "data-date-input": "1"}
        super().__init__(attrs={**base, **(attrs or {})}, format="%d.%m.%Y")


class SwissDateTimeInput(forms.DateTimeInput):
    input_type = "text"

    def __init__(self, attrs=None):
        base = {"inputmode": "numeric", "pattern": DATETIME_PATTERN, "autocomplete": "off", "size": 16,
                "placeholder": _("DD.MM.YYYY HH:MM")}
        super().__init__(attrs={**base, **(attrs or {})}, format="%d.%m.%Y %H:%M")


def _with_hint(hint, help_text):
    return f"{hint} {help_text}".strip() if help_text else hint


class SwissDateField(forms.DateField):
    widget = SwissDateInput

    def __init__(self, *, help_text="", **kwargs):
        kwargs.setdefault("input_formats", settings.DATE_INPUT_FORMATS)
        kwargs.setdefault("error_messages", {"invalid": _("Enter the date as DD.MM.YYYY, e.g. 31.01.2025.")})
        super().__init__(help_text=_LazyHint(_("Format: DD.MM.YYYY."), help_text), **kwargs)


class SwissDateTimeField(forms.DateTimeField):
    widget = SwissDateTimeInput

    def __init__(self, *, help_text="", **kwargs):
        kwargs.setdefault("input_formats", settings.DATETIME_INPUT_FORMATS)
        kwargs.setdefault("error_messages", {"invalid": _("Enter date and time as DD.MM.YYYY HH:MM, "
                                                          "e.g. 31.01.2025 14:00.")})
        super().__init__(help_text=_LazyHint(_("Format: DD.MM.YYYY HH:MM."), help_text), **kwargs)


class _LazyHint:
    """The format hint followed by the field's own help text, translated when rendered."""

    def __init__(self, hint, help_text):
        self.hint, self.help_text = hint, help_text

    def __str__(self):
        return _with_hint(str(self.hint), str(self.help_text) if self.help_text else "")

    def __bool__(self):
        return True
