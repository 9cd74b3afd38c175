"""Generic input checks shared by forms, API serializers, the admin and the directory import.

Nothing here knows about referrals: plain text, e-mail addresses and phone numbers. Each check raises a
Django ``ValidationError`` with a translated message, so forms show it at the field and the API answers 400.
"""

import re
import unicodedata

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator
from django.utils.deconstruct import deconstructible
from django.utils.translation import gettext_lazy as _

# The longest free text a page or the API takes (mandate, comments, meeting notes, explanations).
MAX_TEXT_LENGTH = 5000
# RFC 5321: an address longer than this cannot be delivered (and the e-mail columns hold no more).
MAX_EMAIL_LENGTH = 254
MAX_PHONE_LENGTH = 40

# Line breaks and tabs belong in multi-line text; every other control character (NUL, escape, ...) does not.
ALLOWED_CONTROL_CHARACTERS = {"\n", "\r", "\t"}
PHONE_PATTERN = re.compile(r"^\+?[0-9 ()./-]+$")


def has_control_characters(value):
    return any(unicodedata.category(ch) == "Cc" and ch not in ALLOWED_CONTROL_CHARACTERS for ch in str(value))


@deconstructible
class NoControlCharactersValidator:
    message = _("This text contains invisible control characters (e.g. from a copied document). "
                "Please type it again or remove them.")
    code = "control_characters"

    def __call__(self, value):
        if value is not None and has_control_characters(value):
            raise ValidationError(self.message, code=self.code)

    def __eq__(self, other):
        return isinstance(other, NoControlCharactersValidator)


validate_no_control_characters = NoControlCharactersValidator()


def validate_text_length(value, max_length=MAX_TEXT_LENGTH):
    if value is not None and len(value) > max_length:
        raise ValidationError(
            _("Please shorten this text to %(limit)s characters (it has %(count)s)."),
            code="max_length", params={"limit": max_length, "count": len(value)})


def validate_email_address(value):
    """A deliverable e-mail address of at most 254 characters (longer ones broke the pages and the API)."""
    if not value:
        return
    validate_no_control_characters(value)
    if len(value) > MAX_EMAIL_LENGTH:
        raise ValidationError(
            _("An e-mail address has at most %(limit)s characters (this one has %(count)s)."),
            code="email_length", params={"limit": MAX_EMAIL_LENGTH, "count": len(value)})
    EmailValidator(message=_("Enter an e-mail address like name@example.ch."))(value)


def validate_phone(value):
    """Digits with the usual separators, optionally a leading +: 041 208 00 00, +41 79 000 00 00."""
    if not value:
        return
    validate_no_control_characters(value)
    digits = sum(ch.isdigit() for ch in value)
    if len(value) > MAX_PHONE_LENGTH or not PHONE_PATTERN.match(value) or not 3 <= digits <= 15:
        raise ValidationError(
            _("Enter a phone number with digits, spaces and an optional leading +, e.g. 041 208 00 00."),
            code="phone")


def harden_form_fields(*form_classes, max_length=MAX_TEXT_LENGTH):
    """Every text field of these forms refuses control characters; free texts get a maximum length.

    Applied once to the classes (``base_fields``), so the forms themselves stay as they are. A field that
    declares its own ``max_length`` keeps it; the limit reaches the page as ``maxlength``, which the
    character counter (static/js/charcount.js) shows.
    """
    for form_class in form_classes:
        for field in form_class.base_fields.values():
            if not isinstance(field, forms.CharField):
                continue
            if validate_no_control_characters not in field.validators:
                field.validators.append(validate_no_control_characters)
            if isinstance(field, forms.EmailField):
                if validate_email_address not in field.validators:
                    field.validators.append(validate_email_address)
                field.widget.attrs.setdefault("maxlength", str(MAX_EMAIL_LENGTH))
            elif field.max_length is None:
                field.max_length = max_length
                field.validators.append(_max_length_validator(max_length))
                field.widget.attrs.update(field.widget_attrs(field.widget))


def _max_length_validator(max_length):
    def check(value):
        validate_text_length(value, max_length)

    return check
