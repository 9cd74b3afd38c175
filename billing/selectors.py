"""Reads of the billing app, scoped to the user. Cases are read through referrals' selectors only."""

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from institutions.models import Role
from institutions.selectors import user_has_role, user_institution_ids, user_sees_everything
from referrals import selectors as referral_selectors

from .fees import Config, fee_for_month, first_of_month, is_billable_month, months_between
from .models import FeeModelRule, FeeRate, FeeStatement


def visible_statements(user):
    """Statements between the user's institution and another; coordinator and administrators see all.

    Statements carry no client data: references, months, rates and amounts only."""
    queryset = FeeStatement.objects.select_related("billing_institution", "billed_institution", "corrects")
    if user_sees_everything(user):
        return queryset
    ids = user_institution_ids(user)
    return queryset.filter(Q(billing_institution_id__in=ids) | Q(billed_institution_id__in=ids))


def statement_for_user(user, pk):
    return visible_statements(user).filter(pk=pk).first()


def can_configure_fees(user):
    return user_has_role(user, Role.ADMIN)


def can_build_statements(user):
    return user_has_role(user, Role.ADMIN) or user_has_role(user, Role.COORDINATOR)


def can_see_model_c(user):
    return user_has_role(user, Role.COORDINATOR) or user_has_role(user, Role.ADMIN)


def fee_configuration():
    return {"rules": list(FeeModelRule.objects.order_by("referrer_kind", "leader_kind", "valid_from")),
            "rates": list(FeeRate.objects.order_by("leader_kind", "valid_from"))}



def case_fee_sentence(referral, today=None):
    """One sentence for the case page: whether and what the case costs, from acceptance on; else None."""
    if referral.status not in ("accepted", "active", "closed") or referral.receiving_institution is None:
        return None
    month = first_of_month(today or timezone.localdate())
    fee = fee_for_month(Config.load(), referral, month)
    leader, referrer = referral.receiving_institution.name, referral.referring_institution.name
    if fee.rate is None:
        return _("This case costs no case fee: %(why)s.") % {"why": fee.why_not}
    return _("This case costs %(referrer)s a case fee of CHF %(rate)s per month (model A), billed by %(leader)s "
             "for each calendar month in which the case is active on at least one day – from the agreed handover "
             "meeting to the closing meeting.") % {
        "referrer": referrer, "leader": leader, "rate": f"{fee.rate:,.2f}".replace(",", "'")}


@dataclass
class BalanceRow:
    """Model C: one pair of institutions in one year."""

    year: int
    first: object
    second: object
    given: int = 0  # cases first handed to second
    taken: int = 0  # cases first took over from second
    fees_first_bills: Decimal = Decimal("0.00")  # what first would bill second under model A
    fees_second_bills: Decimal = Decimal("0.00")

    @property
    def balance(self):
        """Positive: the first institution would receive this much net under model A."""
        return self.fees_first_bills - self.fees_second_bills


def model_c_balance(years=None):
    """Model C: per year and pair of institutions, cases given vs taken and the fees model A would produce.

    Every case active in a year counts once in that year for its pair; fees follow model A's conditions and the
    rates valid in each month, whatever model is configured - so the steering group sees whether the balance
    tilts enough to switch from B to A. One query for the cases, two for the configuration."""
    today = timezone.localdate()
    if years is None:
        first_year, last_year = 2000, today.year
    else:
        years = sorted(years)
        first_year, last_year = years[0], years[-1]
    config = Config.load()
    rows = {}
    cases = referral_selectors.cases_active_between(datetime.date(first_year, 1, 1), datetime.date(last_year, 12, 31))
    for referral in cases:
        referrer, leader = referral.referring_institution, referral.receiving_institution
        first, second = sorted([referrer, leader], key=lambda i: (i.name, i.pk))
        until = referral.active_until or max(today, referral.active_from)
        for year in range(max(referral.active_from.year, first_year), min(until.year, last_year) + 1):
            if years is not None and year not in years:
                continue
            row = rows.setdefault((year, first.pk, second.pk), BalanceRow(year, first, second))
            fees = Decimal("0.00")
            start = max(referral.active_from, datetime.date(year, 1, 1))
            for month in months_between(start, min(until, datetime.date(year, 12, 31))):
                if is_billable_month(month, referral.active_from, referral.active_until):
                    fees += fee_for_month(config, referral, month, assume_model_a=True).rate or Decimal("0.00")
            if referrer.pk == first.pk:
                row.given += 1
                row.fees_second_bills += fees
            else:
                row.taken += 1
                row.fees_first_bills += fees
    return ModelC(sorted(rows.values(), key=lambda r: (r.year, r.first.name, r.second.name)), bool(config.rates))


@dataclass
class ModelC:
    rows: list
    rates_configured: bool

    def largest(self, per_year):
        """At most `per_year` rows a year: the pairs with the largest balance (then the most cases), in the table's
        order; with the number of pairs left out. A national directory has tens of thousands of pairs a year
        (issue 14); the steering group looks at the pairs that tilt most."""
        by_year = {}
        for row in self.rows:
            by_year.setdefault(row.year, []).append(row)
        kept, left_out = set(), 0
        for rows in by_year.values():
            ranked = sorted(rows, key=lambda r: (-abs(r.balance), -(r.given + r.taken)))
            kept.update(id(r) for r in ranked[:per_year])
            left_out += max(0, len(rows) - per_year)
        return ModelC([r for r in self.rows if id(r) in kept], self.rates_configured), left_out
