"""Reads of the billing app, scoped to the user. Cases are read through referrals' selectors only."""

import datetime
import itertools
import re
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from institutions.models import Institution, Role
from institutions.selectors import user_has_role, user_institution_ids, user_sees_everything
from referrals import selectors as referral_selectors

from .fees import (
    MODEL_A_CONDITIONS,
    Config,
    fee_for_month,
    first_of_month,
    is_billable_month,
    min_active_days,
    months_between,
)
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
             "meeting to the closing meeting or to the day the client withdraws consent.") % {
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
    tilts enough to switch from B to A. On PostgreSQL the database adds up the cases and billable months
    (``_pair_years_sql``: a national directory has a million referrals, issue 14); elsewhere Python does
    (``_pair_years_python``), with identical figures (tests/test_billing_model_c.py)."""
    today = timezone.localdate()
    if years is None:
        first_year, last_year = 2000, today.year
    else:
        years = sorted(years)
        first_year, last_year = years[0], years[-1]
    config = Config.load()
    pair_years = _pair_years_sql if connection.vendor == "postgresql" else _pair_years_python
    totals = pair_years(config, first_year, last_year, years, today)
    return _balance(totals, bool(config.rates))


def _balance(totals, rates_configured):
    """{(year, referrer id, leader id): (cases, fees)} -> ModelC, one row per year and pair (named in order)."""
    institutions = Institution.objects.in_bulk({pk for _year, *pair in totals for pk in pair})
    rows = {}
    for (year, referrer_id, leader_id), (cases, fees) in totals.items():
        referrer, leader = institutions[referrer_id], institutions[leader_id]
        first, second = sorted([referrer, leader], key=lambda i: (i.name, i.pk))
        row = rows.setdefault((year, first.pk, second.pk), BalanceRow(year, first, second))
        if referrer.pk == first.pk:
            row.given += cases
            row.fees_second_bills += fees
        else:
            row.taken += cases
            row.fees_first_bills += fees
    # Ids after the names, as the database orders them: two institutions may bear the same name.
    return ModelC(sorted(rows.values(), key=lambda r: (r.year, r.first.name, r.second.name, r.first.pk, r.second.pk)),
                  rates_configured)


def _pair_years_python(config, first_year, last_year, years, today):
    totals = {}
    cases = referral_selectors.cases_active_between(datetime.date(first_year, 1, 1), datetime.date(last_year, 12, 31))
    for referral in cases:
        until = referral.active_until or max(today, referral.active_from)
        for year in range(max(referral.active_from.year, first_year), min(until.year, last_year) + 1):
            if years is not None and year not in years:
                continue
            fees = Decimal("0.00")
            start = max(referral.active_from, datetime.date(year, 1, 1))
            for month in months_between(start, min(until, datetime.date(year, 12, 31))):
                if is_billable_month(month, referral.active_from, referral.active_until):
                    fees += fee_for_month(config, referral, month, assume_model_a=True).rate or Decimal("0.00")
            key = (year, referral.referring_institution_id, referral.receiving_institution_id)
            cases_before, fees_before = totals.get(key, (0, Decimal("0.00")))
            totals[key] = (cases_before + 1, fees_before + fees)
    return totals


# Model C in the database: the cases of ``cases_active_between`` (one definition of a case's active span) and the
# years each counts in. A case's billable months are one run: every month between its first and last month has
# at least 28 days (BILLING_MIN_ACTIVE_DAYS is at most 28), so only the first and the last month can fall short
# of the minimum. Its fees in a year are the rates of the run's months in that year, read from a running total of
# the monthly rates per institution kind (handed in as an array computed by Config, month 1 = January of the
# first year): total[last] - total[first - 1]. One row per case and year, none per case and month (issue 14: a
# million referrals have four million billable case-months). Model A's condition is the referral's situation
# field that must be false for the leader's kind.
PAIR_YEARS_SQL = """
WITH cases AS MATERIALIZED ({cases}), spans AS (
    SELECT referrer, leader, leader_kind, CASE leader_kind {conditions} ELSE false END AS condition_met,
           active_from, active_until, COALESCE(active_until, GREATEST(%(today)s, active_from)) AS until
    FROM cases
), months AS (
    SELECT *, {month_of_from} AS first_month, {month_of_until} AS last_month,
           LEAST({end_of_from_month}, COALESCE(active_until, {end_of_from_month})) - active_from + 1 AS first_days,
           CASE WHEN active_until IS NULL THEN 31 ELSE extract(day FROM active_until)::int END AS last_days
    FROM spans
), runs AS MATERIALIZED (
    SELECT referrer, leader, leader_kind, condition_met, extract(year FROM active_from)::int AS from_year,
           extract(year FROM until)::int AS until_year,
           first_month + CASE WHEN first_days >= %(min_days)s THEN 0 ELSE 1 END AS first_billable,
           last_month - CASE WHEN (CASE WHEN last_month = first_month THEN first_days ELSE last_days END)
                                  >= %(min_days)s THEN 0 ELSE 1 END AS last_billable
    FROM months
), case_years AS (
    SELECT y AS year, referrer, leader, leader_kind, condition_met,
           GREATEST(first_billable, (y - %(first_year)s) * 12 + 1) AS run_from,
           LEAST(last_billable, (y - %(first_year)s) * 12 + 12) AS run_until
    FROM runs, generate_series(GREATEST(from_year, %(first_year)s), LEAST(until_year, %(last_year)s)) AS y
)
SELECT year, referrer, leader, count(*),
       COALESCE(SUM({fees}) FILTER (WHERE condition_met AND run_from <= run_until), 0)
FROM case_years
WHERE %(all_years)s OR year = ANY(%(years)s::int[])
GROUP BY 1, 2, 3
"""


# A national directory has a million case-years to add up and close to a million pairs to rank. With PostgreSQL's
# default 4 MB per sort or hash they spill to disk (at 1 M referrals, all time: 9 of 20 s); the just-in-time
# compiler, which its estimates call in for a statement this size, took another 0.7-2 s to compile. Both are
# changed for this one statement: set for the transaction (or savepoint) and set back after it.
LARGE_STATEMENT_SETTINGS = {"work_mem": "128MB", "jit": "off"}


def _fetch_large(sql, params):
    """cursor.execute(sql, params).fetchall() with LARGE_STATEMENT_SETTINGS, local to the transaction. Inside a
    caller's transaction they are set back after the statement (they would last until its end); when the
    statement fails, the caller's transaction is rolled back and they with it."""
    names = list(LARGE_STATEMENT_SETTINGS)
    # One statement reads the settings (the materialised CTE, first) and then sets them.
    settle = ("WITH before AS MATERIALIZED (SELECT " + ", ".join("current_setting(%s)" for _name in names)
              + ") SELECT before.*, " + ", ".join("set_config(%s, %s, true)" for _name in names) + " FROM before")
    nested = connection.in_atomic_block
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        cursor.execute(settle, [*names, *(value for name in names for value in (name, LARGE_STATEMENT_SETTINGS[name]))])
        before = cursor.fetchone()[:len(names)]
        cursor.execute(sql, params)
        rows = cursor.fetchall()
        if nested:
            cursor.execute("SELECT " + ", ".join("set_config(%s, %s, true)" for _name in names),
                           [value for name, old in zip(names, before, strict=True) for value in (name, old)])
    return rows


def _pair_years_sql(config, first_year, last_year, years, today):
    sql, params = _pair_years_statement(config, first_year, last_year, years, today)
    return {(year, referrer, leader): (count, Decimal(fees).quantize(Decimal("0.01")))
            for year, referrer, leader, count, fees in _fetch_large(sql, params)}


def _pair_years_statement(config, first_year, last_year, years, today):
    """PAIR_YEARS_SQL with its parameters (positional) for these years."""
    if not 1 <= min_active_days() <= 28:  # checked at start (settings); a test could still set another value
        raise ImproperlyConfigured("BILLING_MIN_ACTIVE_DAYS must be between 1 and 28.")
    first_day, last_day = datetime.date(first_year, 1, 1), datetime.date(last_year, 12, 31)
    fields = sorted({field for field, _why in MODEL_A_CONDITIONS.values()})
    cases = (referral_selectors.cases_active_between(first_day, last_day).order_by()
             .values("active_from", "active_until", *fields, referrer=F("referring_institution_id"),
                     leader=F("receiving_institution_id"), leader_kind=F("receiving_institution__kind")))
    cases_sql, cases_params = cases.query.sql_with_params()
    months = list(months_between(first_day, last_day))
    named = {"today": today, "first_year": first_year, "last_year": last_year, "min_days": min_active_days(),
             "all_years": years is None, "years": years or []}
    for kind in MODEL_A_CONDITIONS:  # running totals: element i + 1 holds the rates of months 1..i
        named[f"totals_{kind}"] = list(itertools.accumulate((config.rate(kind, month) or Decimal("0.00")
                                                             for month in months), initial=Decimal("0.00")))
    month_of = "((extract(year FROM {day})::int - %(first_year)s) * 12 + extract(month FROM {day})::int)"
    fees = "CASE leader_kind " + " ".join(
        f"WHEN '{kind}' THEN (%(totals_{kind})s::numeric[])[run_until + 1] - (%(totals_{kind})s::numeric[])[run_from]"
        for kind in MODEL_A_CONDITIONS) + " END"
    conditions = " ".join(f"WHEN '{kind}' THEN NOT {field}" for kind, (field, _why) in MODEL_A_CONDITIONS.items())
    ours = (PAIR_YEARS_SQL.replace("{fees}", fees).replace("{conditions}", conditions)
            .replace("{month_of_from}", month_of.format(day="active_from"))
            .replace("{month_of_until}", month_of.format(day="until"))
            .replace("{end_of_from_month}", "((date_trunc('month', active_from) + interval '1 month')::date - 1)"))
    # Django's part has positional parameters; ours are named for reading and put in the order they appear.
    order = []
    ours = re.sub(r"%\((\w+)\)s", lambda match: order.append(match[1]) or "%s", ours)
    return ours.replace("{cases}", cases_sql), [*cases_params, *(named[name] for name in order)]


# The pairs of PAIR_YEARS_SQL folded into rows of ModelC (the first institution of a pair is the one whose
# (name, id) comes first, compared by code point like Python's sort) and ranked as ModelC.largest does: per
# year, the largest balance first, then the most cases, then the table's order. Names are compared once, as
# the institutions' places in name order: the pairs are then folded, grouped and sorted by integers (at 1 M
# referrals, close to a million pairs: sorting them by their names took longer than adding them up).
LARGEST_SQL = """
WITH pair_years AS ({pair_years}), places AS MATERIALIZED (
    SELECT id, dense_rank() OVER (ORDER BY name COLLATE "C") AS name_place FROM {institution}
), folded AS (
    SELECT p.year, p.cases, p.fees, p.referrer AS referrer_id, p.leader AS leader_id,
           ri.name_place AS referrer_place, li.name_place AS leader_place,
           (ri.name_place, p.referrer) <= (li.name_place, p.leader) AS referrer_first
    FROM pair_years AS p(year, referrer, leader, cases, fees)
    JOIN places ri ON ri.id = p.referrer
    JOIN places li ON li.id = p.leader
), pairs AS (
    SELECT year,
           CASE WHEN referrer_first THEN referrer_id ELSE leader_id END AS first_id,
           CASE WHEN referrer_first THEN leader_id ELSE referrer_id END AS second_id,
           MIN(CASE WHEN referrer_first THEN referrer_place ELSE leader_place END) AS first_place,
           MIN(CASE WHEN referrer_first THEN leader_place ELSE referrer_place END) AS second_place,
           SUM(CASE WHEN referrer_first THEN cases ELSE 0 END) AS given,
           SUM(CASE WHEN referrer_first THEN 0 ELSE cases END) AS taken,
           SUM(CASE WHEN referrer_first THEN 0 ELSE fees END) AS fees_first_bills,
           SUM(CASE WHEN referrer_first THEN fees ELSE 0 END) AS fees_second_bills
    FROM folded
    GROUP BY 1, 2, 3
), ranked AS (
    SELECT *, count(*) OVER (PARTITION BY year) AS pairs,
           row_number() OVER (PARTITION BY year ORDER BY abs(fees_first_bills - fees_second_bills) DESC,
                              given + taken DESC, first_place, second_place, first_id, second_id) AS rank
    FROM pairs
)
SELECT year, first_id, second_id, given, taken, fees_first_bills, fees_second_bills, pairs
FROM ranked
WHERE rank <= %s
ORDER BY year, first_place, second_place, first_id, second_id
"""


def model_c_largest(years=None, per_year=100):
    """``model_c_balance(years).largest(per_year)``: on PostgreSQL the database folds and ranks the pairs too, so a
    national directory's tens of thousands of pairs a year never reach Python (issue 14)."""
    if connection.vendor != "postgresql":
        return model_c_balance(years).largest(per_year)
    today = timezone.localdate()
    years = sorted(years) if years is not None else None
    first_year, last_year = (years[0], years[-1]) if years else (2000, today.year)
    config = Config.load()
    pair_years, params = _pair_years_statement(config, first_year, last_year, years, today)
    sql = LARGEST_SQL.replace("{institution}", Institution._meta.db_table).replace("{pair_years}", pair_years)
    found = _fetch_large(sql, [*params, per_year])
    institutions = Institution.objects.in_bulk({pk for row in found for pk in row[1:3]})
    two_places = Decimal("0.01")
    rows = [BalanceRow(year, institutions[first], institutions[second], given, taken,
                       Decimal(first_bills).quantize(two_places), Decimal(second_bills).quantize(two_places))
            for year, first, second, given, taken, first_bills, second_bills, _pairs in found]
    pairs_per_year = {row[0]: row[-1] for row in found}
    left_out = sum(max(0, pairs - per_year) for pairs in pairs_per_year.values())
    return ModelC(rows, bool(config.rates)), left_out


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
