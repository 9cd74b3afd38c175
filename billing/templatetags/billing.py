"""The case page's one sentence on case fees. The referral templates load this tag, so referrals/ (floor 2) needs
no Python import of billing/ (floor 3); without the billing app installed the template would not render."""

from django import template

from billing.selectors import case_fee_sentence as _sentence
from referrals.templatetags.optima import chf

register = template.Library()


@register.simple_tag
def case_fee_sentence(referral):
    return _sentence(referral) or ""


@register.filter
def chf_abs(value):
    """CHF 1'800.00 of the absolute value (a balance said in words: "X would receive ...")."""
    return chf(abs(value)) if value is not None else ""
