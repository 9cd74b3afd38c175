"""Model C: per pair of institutions and year, cases given vs taken and the fees model A would produce, shown on
the coordinator's key-figures page with its table - for the pilot's 52 referrals and on a small exact example."""

import datetime
import re
from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from test_billing_statements import d, run_case, withdraw_consent
from test_reporting_pilot_data import build_pilot, make_user, pilot_directory

from billing import selectors, services
from billing.fees import Config
from institutions.models import Institution
from referrals import selectors as referral_selectors


@pytest.fixture
def concept_rates(administrator):
    for kind, rate in (("iv", "227.00"), ("rav", "125.00"), ("social", "125.00")):
        services.fee_rate_create(actor=administrator, leader_kind=kind, monthly_rate_chf=Decimal(rate),
                                 valid_from=datetime.date(2019, 1, 1))


def test_model_c_counts_every_case_once_per_year_and_prices_months_with_model_a(concept_rates, make_referral,
                                                                                 receiving_worker):
    # Model B is configured (nothing set): model C still shows what model A would produce.
    run_case(make_referral, receiving_worker, start=d(2, 10), end=d(5, 3))  # Feb..May: 4 months
    run_case(make_referral, receiving_worker, start=d(11, 30))  # Nov, Dec this year; more next year
    run_case(make_referral, receiving_worker, start=d(3, 1), iv_procedure_running=True)  # not billable

    result = selectors.model_c_balance(years=[d(1, 1).year])

    [row] = result.rows
    assert (row.first.name, row.second.name) == ("Sozialdienste Stadt Luzern", "WAS IV Luzern")
    assert (row.given, row.taken) == (3, 0)
    assert row.fees_second_bills == Decimal("227.00") * 6
    assert row.fees_first_bills == Decimal("0.00")
    assert row.balance == Decimal("-1362.00")  # the IV would receive CHF 1'362.00 net


def test_model_c_prices_a_case_ended_by_a_consent_withdrawal_up_to_the_withdrawal(concept_rates, make_referral,
                                                                                   receiving_worker, referrer):
    referral = run_case(make_referral, receiving_worker, start=d(2, 10), consent_given_on=d(1, 5))
    withdraw_consent(referral, referrer, d(5, 20))  # Feb..May: 4 months, none after

    [row] = selectors.model_c_balance(years=[d(1, 1).year]).rows
    later = selectors.model_c_balance(years=[d(1, 1).year + 1]).rows

    assert (row.given, row.fees_second_bills) == (1, Decimal("227.00") * 4)
    assert later == []


def test_coordinator_sees_the_model_c_balance_for_the_pilot_data_with_its_table(client, db, administrator):
    directory = pilot_directory()
    coordinator = make_user("koordination.pilot", directory["rav"], ["coordinator"])
    for kind, rate in (("iv", "227.00"), ("rav", "125.00"), ("social", "125.00")):
        services.fee_rate_create(actor=administrator, leader_kind=kind, monthly_rate_chf=Decimal(rate),
                                 valid_from=datetime.date(2019, 1, 1))
    build_pilot(directory=directory)
    client.force_login(coordinator)

    # The key figures page loads model C after its figures (issue 14); the section comes from its own view.
    page = client.get(reverse("reporting:dashboard")).content.decode()
    assert f'hx-get="{reverse("reporting:model_c")}"' in page
    html = client.get(reverse("reporting:model_c"), HTTP_HX_REQUEST="true").content.decode()

    section = html[html.index('data-testid="model-c"'):]
    section = section[:section.index("</section>")]
    assert "<table" in section and "<caption" in section
    result = selectors.model_c_balance()
    assert result.rows and result.rates_configured
    for row in result.rows:
        assert row.first.name in section and row.second.name in section
    # Every case active in a year counts once in that year, in the row of its pair.
    for year in sorted({row.year for row in result.rows}):
        active = referral_selectors.cases_active_between(datetime.date(year, 1, 1), datetime.date(year, 12, 31))
        assert sum(r.given + r.taken for r in result.rows if r.year == year) == active.count()
    # The pilot's flows go both ways between the RAV Luzern and the IV, and fees follow model A's conditions:
    # social services clients all had personal social assistance before, so social services bill nothing.
    assert any(r.given and r.taken for r in result.rows) or any(r.fees_first_bills and r.fees_second_bills
                                                                 for r in result.rows)
    social_leads = [r for r in result.rows if "Fachstelle Sucht" in (r.first.name, r.second.name)]
    assert all(r.fees_first_bills == r.fees_second_bills == 0 for r in social_leads)
    assert re.search(r"would receive CHF [\d']+\.\d\d net|erhielte netto CHF", section) or "balanced" in section


def test_model_c_is_for_the_coordinator_page_only(client, referrer):
    client.force_login(referrer)
    assert client.get(reverse("reporting:dashboard")).status_code == 403
    assert client.get(reverse("reporting:model_c")).status_code == 403


def test_model_c_shows_the_pairs_that_tilt_most_and_counts_the_others(concept_rates, make_referral,
                                                                     receiving_worker):
    run_case(make_referral, receiving_worker, start=d(2, 10), end=d(5, 3))
    result = selectors.model_c_balance(years=[d(1, 1).year])
    assert result.rows
    shown, left_out = result.largest(per_year=0)
    assert shown.rows == [] and left_out == len(result.rows)
    shown, left_out = result.largest(per_year=len(result.rows))
    assert shown.rows == result.rows and left_out == 0


def test_model_c_opens_on_its_own_page_without_javascript(client, coordinator):
    client.force_login(coordinator)
    page = client.get(reverse("reporting:model_c") + "?from=2026-01-01&to=2026-12-31")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-testid="model-c"' in html and "<h1" in html and "01.01.2026" in html


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the database's own computation is PostgreSQL's")
@pytest.mark.parametrize("years", [None, [2019], [2018, 2020], [timezone.localdate().year]])
@pytest.mark.parametrize("min_days", [1, 10, 28])
def test_the_databases_model_c_equals_the_computation_case_by_case(concept_rates, administrator, directory, settings,
                                                                    years, min_days):
    # A national directory's model C is added up by PostgreSQL (issue 14): the same figures as Python's, with a rate
    # that changes within the period, a minimum of active days (a case's first and last month can fall short of it)
    # and cases open today.
    _national_cases(administrator, settings, min_days)
    config, today = Config.load(), timezone.localdate()
    first, last = (years[0], years[-1]) if years else (2000, today.year)
    from_python = selectors._pair_years_python(config, first, last, years, today)
    assert from_python and sum(fees for _cases, fees in from_python.values()) > 0
    assert selectors._pair_years_sql(config, first, last, years, today) == from_python


def _national_cases(administrator, settings, min_days=10):
    from scale import synthetic

    synthetic.generate(referrals=400, seed=5, institutions=3, years=8)
    services.fee_rate_create(actor=administrator, leader_kind="iv", monthly_rate_chf=Decimal("250.00"),
                             valid_from=datetime.date(2017, 1, 1), valid_until=datetime.date(2018, 12, 31))
    settings.BILLING_MIN_ACTIVE_DAYS = min_days


def _table(model_c):
    return [(r.year, r.first.pk, r.second.pk, r.given, r.taken, r.fees_first_bills, r.fees_second_bills)
            for r in model_c.rows]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the database's own ranking is PostgreSQL's")
@pytest.mark.parametrize("years, per_year", [(None, 4), ([2019, 2020], 3), ([2019], 1000)])
def test_the_databases_largest_pairs_equal_pythons_ranking(concept_rates, administrator, directory, settings,
                                                           years, per_year):
    _national_cases(administrator, settings)
    # Two institutions of the same name: the table orders them by id after the names, in both computations.
    named_alike = list(Institution.objects.filter(referrals_received__isnull=False).distinct().order_by("pk")[:2])
    Institution.objects.filter(pk=named_alike[1].pk).update(name=named_alike[0].name)
    config, today = Config.load(), timezone.localdate()
    first, last = (years[0], years[-1]) if years else (2000, today.year)
    expected, expected_left_out = selectors._balance(
        selectors._pair_years_python(config, first, last, years, today), True).largest(per_year)
    found, left_out = selectors.model_c_largest(years, per_year)
    assert _table(found) == _table(expected) and left_out == expected_left_out
    assert found.rows and (left_out > 0) == (per_year < 1000)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the settings are PostgreSQL's")
def test_the_large_statement_settings_end_with_the_statement(concept_rates, administrator, directory, settings):
    _national_cases(administrator, settings)
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('work_mem'), current_setting('jit')")
        before = cursor.fetchone()
        selectors.model_c_largest(None)  # inside the test's transaction: a savepoint keeps SET LOCAL
        cursor.execute("SELECT current_setting('work_mem'), current_setting('jit')")
        assert cursor.fetchone() == before


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the database's own computation is PostgreSQL's")
def test_a_minimum_of_active_days_no_month_can_have_is_refused(concept_rates, settings):
    settings.BILLING_MIN_ACTIVE_DAYS = 29
    with pytest.raises(ImproperlyConfigured):
        selectors.model_c_largest(None)
