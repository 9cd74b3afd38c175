"""Swiss formats for the templates: CHF 1'800.00, dd.mm.yyyy, status badges."""

from decimal import Decimal, InvalidOperation

from django import template
from django.core.exceptions import FieldDoesNotExist
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext

from referrals.models import Client

register = template.Library()


@register.filter
def chf(value):
    try:
        amount = Decimal(value).quantize(Decimal("0.01"))
    except (InvalidOperation, TypeError, ValueError):
        return ""
    whole, cents = f"{amount:,.2f}".split(".")
    return "CHF " + whole.replace(",", "'") + "." + cents


UNFORMATTABLE = "–"


@register.filter
def swissdate(value):
    """dd.mm.yyyy (with HH:MM for moments); "–" for a value that cannot be shown (e.g. year 9999 in UTC+1)."""
    if not value:
        return ""
    try:
        if hasattr(value, "tzinfo") and hasattr(value, "hour"):
            return timezone.localtime(value).strftime("%d.%m.%Y %H:%M")
        return value.strftime("%d.%m.%Y")
    except (OverflowError, ValueError, TypeError, AttributeError):
        return UNFORMATTABLE


@register.simple_tag
def status_badge(referral):
    return format_html('<span class="badge rounded-pill status-badge status-{}">{}</span>',
                       referral.status, referral.get_status_display())


@register.filter
def days_ago(moment):
    if not moment:
        return ""
    return (timezone.localdate() - timezone.localtime(moment).date()).days


@register.filter
def bs(field):
    """Render a form field's widget with Bootstrap classes, error state and its hint linked for screen readers."""
    widget = field.field.widget
    input_type = getattr(widget, "input_type", "")
    if input_type in ("checkbox", "radio") or widget.__class__.__name__ in ("CheckboxSelectMultiple", "RadioSelect"):
        css = "form-check-input"
    elif input_type == "select" or widget.__class__.__name__ in ("Select", "SelectMultiple"):
        css = "form-select"
    else:
        css = "form-control"
    if field.errors:
        css += " is-invalid"
    attrs = {"class": css}
    described = []
    if field.help_text:
        described.append(f"{field.auto_id}_hint")
    if field.errors:
        described.append(f"{field.auto_id}_error")
        attrs["aria-invalid"] = "true"
    if described:
        attrs["aria-describedby"] = " ".join(described)
    return field.as_widget(attrs=attrs)


@register.filter
def is_choice_list(field):
    return field.field.widget.__class__.__name__ in ("CheckboxSelectMultiple", "RadioSelect")


@register.filter
def is_checkbox(field):
    return getattr(field.field.widget, "input_type", "") == "checkbox" and not is_choice_list(field)


@register.filter
def client_field_label(name):
    """The label of a client field named in a 'personal data changed' event (issue 10)."""
    if name == "ahv_number":
        return gettext("AHV number")
    try:
        return str(Client._meta.get_field(name).verbose_name)
    except FieldDoesNotExist:
        return name
