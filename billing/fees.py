"""How much a case costs in a month: the configured model, the rate and model A's conditions (concept 5.1).

Pure reads of the configuration; ``billing.services`` builds statements from them and ``billing.selectors``
answers the case page and the model-C balance.

The billable-month rule (documented where it is shown): a case is billed for each calendar month in which it
was active - from the agreed handover meeting to the closing meeting (or the withdrawal of consent) - on at
least one day (setting ``BILLING_MIN_ACTIVE_DAYS``, default 1, if the institutions agree on another minimum).
"""

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from institutions.models import InstitutionKind

from .models import FeeModel, FeeModelRule, FeeRate


def first_of_month(day):
    return day.replace(day=1)


def last_of_month(day):
    following = (day.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)
    return following - datetime.timedelta(days=1)


def months_between(first, last):
    """The first days of every month from `first`'s month to `last`'s month."""
    month = first_of_month(first)
    while month <= last:
        yield month
        month = last_of_month(month) + datetime.timedelta(days=1)


def _valid_on(queryset, day):
    return queryset.filter(valid_from__lte=day).filter(Q(valid_until__isnull=True) | Q(valid_until__gte=day))


def min_active_days():
    return getattr(settings, "BILLING_MIN_ACTIVE_DAYS", 1)


def active_days_in(month, active_from, active_until):
    start = max(month, active_from)
    end = min(last_of_month(month), active_until or last_of_month(month))
    return max((end - start).days + 1, 0)


def is_billable_month(month, active_from, active_until):
    return active_days_in(month, active_from, active_until) >= min_active_days()


# Model A's conditions: the leader bills only if the client was not already its own client before the referral,
# as recorded in the situation at filing.
MODEL_A_CONDITIONS = {
    InstitutionKind.IV: ("iv_procedure_running",
                         _("the IV bills only cases without a running IV procedure")),
    InstitutionKind.SOCIAL: ("in_social_counselling",
                             _("social services bill only clients without personal social assistance before "
                               "the referral")),
    InstitutionKind.RAV: ("registered_at_rav",
                          _("the RAV bills only people not registered at the RAV before the referral")),
}


def model_a_condition_met(referral):
    field, _reason = MODEL_A_CONDITIONS[InstitutionKind(referral.receiving_institution.kind)]
    return not getattr(referral, field)


@dataclass
class Config:
    """The whole fee configuration, loaded once (two queries) for a build or a page."""

    rules: list
    rates: list

    @classmethod
    def load(cls):
        return cls(list(FeeModelRule.objects.all()), list(FeeRate.objects.all()))

    @staticmethod
    def _valid(rows, day):
        return [r for r in rows if r.valid_from <= day and (r.valid_until is None or r.valid_until >= day)]

    def model(self, referrer_kind, leader_kind, day):
        rows = [r for r in self._valid(self.rules, day)
                if r.referrer_kind == referrer_kind and r.leader_kind == leader_kind]
        return rows[0].model if rows else FeeModel.B

    def rate(self, leader_kind, day):
        rows = [r for r in self._valid(self.rates, day) if r.leader_kind == leader_kind]
        return rows[0].monthly_rate_chf if rows else None


@dataclass
class MonthFee:
    model: str
    rate: Decimal | None  # None: nothing billed this month
    why_not: str = ""


def fee_for_month(config, referral, month, *, assume_model_a=False):
    """What the leading institution bills the referrer for this case in this month (month = its first day)."""
    leader, referrer = referral.receiving_institution, referral.referring_institution
    model = FeeModel.A if assume_model_a else config.model(referrer.kind, leader.kind, month)
    if model != FeeModel.A:
        return MonthFee(model, None, str(_("between these institutions model B applies – each carries its own "
                                           "costs")))
    if not model_a_condition_met(referral):
        return MonthFee(model, None, str(_("model A applies, but %(condition)s")
                                         % {"condition": MODEL_A_CONDITIONS[InstitutionKind(leader.kind)][1]}))
    rate = config.rate(leader.kind, month)
    if rate is None:
        return MonthFee(model, None, str(_("model A applies, but no monthly rate is configured for this month")))
    return MonthFee(model, rate)
