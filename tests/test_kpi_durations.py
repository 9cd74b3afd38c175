"""Waiting times and case durations from the bucket histogram (issue 14) equal the computation over every duration.

``kpi._durations_from_rollup`` reads a histogram and then only the few durations the median and the 90th
percentile need; ``kpi._durations_from_rows`` applies ``kpi._summary`` (statistics.median / quantiles) to every
row of the period, as ``compute_from_events`` does (tests/test_kpi_rollup.py and tests/test_synthetic.py check the
whole chain from the events on the pilot and on a generated dataset).
"""

import datetime
import random

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reporting import kpi, rollup
from reporting.models import DURATION_PLANNED, DurationMeasure, KpiDuration, KpiDurationMonthly

JAN = datetime.date(2024, 1, 1)
MEASURES = (DurationMeasure.DECISION, DurationMeasure.HANDOVER, DurationMeasure.CASE)
_event_ids = iter(range(1, 10**9))


def _add(day, days, measure=DurationMeasure.DECISION, kind="iv", planned=None):
    """One duration as the rollup records it: the row and its count in the monthly histogram."""
    planned = planned if measure == DurationMeasure.CASE else None
    row = KpiDuration.objects.create(
        event_id=next(_event_ids), day=day, measure=measure, receiver_kind=kind, days=days, planned_months=planned,
        bucket=rollup.duration_bucket(days), within_plan=rollup.within_plan(days, planned))
    with connection.cursor() as cursor:
        rollup._count_duration(cursor, row, 1)
    return row


def _both(period):
    return kpi._durations_from_rollup(period), kpi._durations_from_rows(period)


@pytest.mark.django_db
def test_an_empty_period_has_no_medians_and_no_cases():
    _add(JAN, 3.0)
    waiting, durations = kpi._durations_from_rollup(kpi.Period(datetime.date(2030, 1, 1), datetime.date(2030, 2, 1)))
    assert waiting["decision"]["all"] == {"count": 0, "median": None, "p90": None}
    assert durations["all"] == {"count": 0, "median_actual_months": None, "median_planned_months": None,
                                "within_plan": 0}
    assert _both(kpi.Period(datetime.date(2030, 1, 1), None))[0] == _both(kpi.Period(datetime.date(2030, 1, 1),
                                                                                    None))[1]


@pytest.mark.django_db
def test_one_duration_is_its_own_median_and_90th_percentile():
    _add(JAN, 4.26)
    waiting, _durations = kpi._durations_from_rollup(kpi.Period())
    assert waiting["decision"]["all"] == {"count": 1, "median": 4.3, "p90": 4.3}
    assert waiting["decision"]["iv"] == waiting["decision"]["all"]
    assert waiting["decision"]["rav"] == {"count": 0, "median": None, "p90": None}


@pytest.mark.django_db
@pytest.mark.parametrize("n", [2, 3, 4, 5, 9, 10, 11, 12, 19, 20, 21, 101])
def test_odd_and_even_numbers_of_durations_give_the_figures_of_statistics(n):
    generator = random.Random(n)
    for i in range(n):
        _add(JAN + datetime.timedelta(days=i % 28), generator.uniform(0, 90), kind=generator.choice(kpi.KINDS))
    assert _both(kpi.Period())[0] == _both(kpi.Period())[1]


@pytest.mark.django_db
def test_partial_months_at_both_edges_count_only_the_days_of_the_period():
    for offset in range(0, 120):
        day = datetime.date(2023, 12, 1) + datetime.timedelta(days=offset)
        _add(day, 0.5 + offset * 0.7, kind=kpi.KINDS[offset % 3])
        _add(day, 2.0 + offset, measure=DurationMeasure.CASE, kind=kpi.KINDS[offset % 2], planned=offset % 7)
    for period in (kpi.Period(datetime.date(2023, 12, 17), datetime.date(2024, 2, 11)),  # both edges partial
                   kpi.Period(datetime.date(2024, 1, 10), datetime.date(2024, 1, 20)),  # inside one month
                   kpi.Period(datetime.date(2024, 1, 31), datetime.date(2024, 2, 1)),  # two edge days only
                   kpi.Period(datetime.date(2024, 1, 1), datetime.date(2024, 2, 29)),  # whole months only
                   kpi.Period(None, datetime.date(2024, 1, 15)), kpi.Period(datetime.date(2024, 1, 15), None)):
        from_rollup, from_rows = _both(period)
        assert from_rollup == from_rows, period
    waiting, _durations = kpi._durations_from_rollup(kpi.Period(datetime.date(2023, 12, 17),
                                                                datetime.date(2024, 2, 11)))
    assert waiting["decision"]["all"]["count"] == (31 - 16) + 31 + 11


@pytest.mark.django_db
def test_durations_without_a_start_count_as_cases_but_not_in_the_medians():
    _add(JAN, None)
    _add(JAN, 5.0)
    _add(JAN, None, measure=DurationMeasure.CASE, planned=6)
    _add(JAN, 190.0, measure=DurationMeasure.CASE, planned=6)  # 6.2 months
    _add(JAN, 90.0, measure=DurationMeasure.CASE, planned=0)
    waiting, durations = kpi._durations_from_rollup(kpi.Period())
    assert waiting["decision"]["all"] == {"count": 1, "median": 5.0, "p90": 5.0}
    assert durations["all"]["count"] == 3
    assert durations["all"]["median_planned_months"] == 6.0
    assert durations["all"]["within_plan"] == 1
    assert (waiting, durations) == kpi._durations_from_rows(kpi.Period())


@pytest.mark.django_db
def test_durations_exactly_at_bucket_borders_stay_in_order():
    borders = rollup.BUCKET_FLOORS[28:40] + rollup.BUCKET_FLOORS[200:203]
    for border in borders:
        for days in (border, border, border - 1e-9, border + 1e-9):
            _add(JAN, days)
    assert [rollup.duration_bucket(b) for b in rollup.BUCKET_FLOORS[:5]] == [0, 1, 2, 3, 4]
    assert rollup.duration_bucket(rollup.BUCKET_FLOORS[40] - 1e-9) == 39
    assert rollup.duration_bucket(-2.0) == 0 and rollup.duration_bucket(None) is None
    assert _both(kpi.Period())[0] == _both(kpi.Period())[1]


@pytest.mark.django_db
def test_median_of_the_planned_months_comes_from_their_histogram():
    for planned in (3, 6, 6, 12):
        _add(JAN, 100.0, measure=DurationMeasure.CASE, kind="rav", planned=planned)
    _waiting, durations = kpi._durations_from_rollup(kpi.Period())
    assert durations["rav"]["median_planned_months"] == 6.0
    assert KpiDurationMonthly.objects.filter(measure=DURATION_PLANNED, bucket=6).get().count == 2
    assert _both(kpi.Period())[0] == _both(kpi.Period())[1]


@pytest.mark.django_db
def test_a_duration_recorded_again_is_counted_once():
    row = _add(JAN, 10.0)
    with connection.cursor() as cursor:  # what rollup._record_duration does when the event comes again
        rollup._count_duration(cursor, row, -1)
        rollup._count_duration(cursor, row, 1)
    assert KpiDurationMonthly.objects.get(measure=DurationMeasure.DECISION).count == 1


@pytest.mark.django_db
def test_durations_cost_two_queries_whatever_the_period(django_assert_num_queries):
    for i in range(60):
        _add(JAN + datetime.timedelta(days=i), float(i), measure=MEASURES[i % 3], kind=kpi.KINDS[i % 3], planned=6)
    with django_assert_num_queries(2):  # the histogram, then the values it points at
        kpi._durations_from_rollup(kpi.Period(datetime.date(2024, 1, 5), datetime.date(2024, 2, 20)))


durations = st.one_of(st.none(), st.floats(min_value=-1, max_value=4000, allow_nan=False),
                      st.sampled_from(rollup.BUCKET_FLOORS[:80]))


@pytest.mark.django_db
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(st.integers(0, 120), durations, st.sampled_from(MEASURES),
                               st.sampled_from(["iv", "rav", "social", ""]), st.integers(0, 24)), max_size=60),
       first=st.integers(0, 120), length=st.integers(0, 120))
def test_any_durations_and_any_period_give_the_figures_of_statistics(rows, first, length):
    KpiDuration.objects.all().delete()
    KpiDurationMonthly.objects.all().delete()
    start = datetime.date(2023, 11, 20)
    for offset, days, measure, kind, planned in rows:
        _add(start + datetime.timedelta(days=offset), days, measure=measure, kind=kind, planned=planned)
    period = kpi.Period(start + datetime.timedelta(days=first), start + datetime.timedelta(days=first + length))
    assert _both(period)[0] == _both(period)[1]
    assert _both(kpi.Period())[0] == _both(kpi.Period())[1]


# --- Money per financing institution (issue 11's table) from its rollup ------------------------------------


@pytest.fixture
def approved_measure(make_referral, receiving_worker, signatory):
    from decimal import Decimal

    from referrals import services
    from referrals.models import Status

    referral = make_referral(Status.ACTIVE)
    today = datetime.date.today()
    measure = services.measure_create(referral=referral, actor=receiving_worker, title="Job coaching",
                                      provider="Coaching AG", amount_chf=Decimal("1800.00"), starts_on=today,
                                      ends_on=today + datetime.timedelta(days=90))
    approval = services.cost_approval_request(referral=referral, actor=receiving_worker, justification="x",
                                              covered_measure=measure)
    services.cost_approval_approve(cost_approval=approval, actor=signatory)
    return measure


def test_money_per_financing_institution_from_the_rollup_equals_the_events(approved_measure, receiving_worker):
    from django.core.management import call_command

    from tests.test_invoices import record

    record(approved_measure, receiving_worker, amount="1000.00")
    record(approved_measure, receiving_worker, amount="300.50", number="R-2026-18")
    today = datetime.date.today()
    periods = (kpi.Period(), kpi.Period(today.replace(day=1), None),
               kpi.Period(None, today - datetime.timedelta(days=400)))
    expected = [kpi._money_by_institution(period) for period in periods]
    assert expected[0] and expected[0][0]["approved"] == "1800.00" and expected[0][0]["invoiced"] == "1300.50"
    assert expected[2] == []
    assert [kpi._money_from_rollup(period) for period in periods] == expected
    call_command("rebuild_kpi_rollup", verbosity=0)
    assert [kpi._money_from_rollup(period) for period in periods] == expected
