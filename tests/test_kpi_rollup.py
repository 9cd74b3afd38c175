"""The KPI rollup (issue 14): figures from the maintained aggregates equal the figures from the events."""

import datetime

import pytest
from django.core.management import call_command
from django.db import transaction

from reporting import kpi
from reporting.models import KpiDaily, KpiDuration, KpiDurationMonthly, KpiMoneyDaily, KpiMoneyMonthly, KpiMonthly
from tests.test_reporting_pilot_data import PILOT_SHEET, build_pilot

PERIODS = [
    kpi.Period(),
    kpi.Period(datetime.date(2020, 1, 1), datetime.date(2020, 12, 31)),
    kpi.Period(datetime.date(2019, 3, 4), datetime.date(2019, 3, 4)),  # a single day
    kpi.Period(None, datetime.date(2021, 6, 30)),
    kpi.Period(datetime.date(2021, 7, 1), None),
    kpi.Period(datetime.date(2030, 1, 1), datetime.date(2030, 12, 31)),  # nothing happened
    kpi.Period(datetime.date(2019, 3, 15), datetime.date(2021, 2, 10)),  # edge days on both sides
    kpi.Period(datetime.date(2020, 2, 10), datetime.date(2020, 3, 5)),  # two partial months, no whole one
    kpi.Period(datetime.date(2020, 1, 20), datetime.date(2020, 3, 31)),  # partial start, whole end
    kpi.Period(datetime.date(2019, 5, 1), datetime.date(2019, 5, 31)),  # exactly one month
]
TODAY = datetime.date(2023, 1, 15)


def _without_timestamp(figures):
    return {key: value for key, value in figures.items() if key != "generated_at"}


@pytest.fixture(scope="module")
def pilot_once(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        with transaction.atomic():
            yield build_pilot()
            transaction.set_rollback(True)


@pytest.fixture
def pilot(pilot_once, db):
    return pilot_once


@pytest.mark.parametrize("period", PERIODS, ids=str)
def test_rollup_kept_by_the_services_gives_the_figures_of_the_events_on_the_pilot(pilot, period):
    assert _without_timestamp(kpi.compute(period, today=TODAY)) == \
        _without_timestamp(kpi.compute_from_events(period, today=TODAY))


def test_sheet_from_the_rollup_is_the_pilot_sheet(pilot):
    assert kpi.sheet() == PILOT_SHEET == kpi.sheet_from_events()


def test_rebuild_gives_back_the_rollup_the_services_wrote(pilot):
    maintained = sorted(KpiDaily.objects.values_list(*KpiDaily.DIMENSIONS, "count", "amount_chf"))
    monthly = sorted(KpiMonthly.objects.values_list(*KpiMonthly.DIMENSIONS, "count", "amount_chf"))
    durations = sorted(KpiDuration.objects.values_list("event_id", "measure", "receiver_kind", "days",
                                                       "planned_months"))
    tables = {model: sorted(model.objects.values_list(*_columns(model)))
              for model in (KpiDurationMonthly, KpiMoneyDaily, KpiMoneyMonthly)}
    assert maintained and durations and tables[KpiDurationMonthly] and tables[KpiMoneyMonthly]
    call_command("rebuild_kpi_rollup", verbosity=0)
    assert sorted(KpiDaily.objects.values_list(*KpiDaily.DIMENSIONS, "count", "amount_chf")) == maintained
    assert sorted(KpiMonthly.objects.values_list(*KpiMonthly.DIMENSIONS, "count", "amount_chf")) == monthly
    rebuilt = sorted(KpiDuration.objects.values_list("event_id", "measure", "receiver_kind", "days",
                                                     "planned_months"))
    assert [r[:3] for r in rebuilt] == [r[:3] for r in durations]
    assert all(a[3] == pytest.approx(b[3]) for a, b in zip(rebuilt, durations, strict=True) if a[3] is not None)
    for model in (KpiDurationMonthly, KpiMoneyDaily, KpiMoneyMonthly):
        assert sorted(model.objects.values_list(*_columns(model))) == tables[model], model


def _columns(model):
    return [f.attname for f in model._meta.concrete_fields if f.name != "id"]


def test_kpi_page_figures_cost_a_fixed_number_of_queries(pilot, django_assert_num_queries):
    # totals, trend, durations (2: the histogram, then the few values it points at), the money per institution
    # (issue 11) and the open referrals: the same six for any period and any number of events
    with django_assert_num_queries(6):
        kpi.compute(kpi.Period())


def test_pdf_names_the_largest_financing_institutions_and_sums_up_the_others():
    from reporting.layout import PRINT_MONEY_ROWS, Cell, Row, money_rows_for_print

    rows = [Row(f"Institution {i:03d}", [Cell(f"{i}.00", kind="chf"), Cell("1.00", kind="chf"),
                                         Cell(f"{i - 1}.00", kind="chf")]) for i in range(100)]
    total = Row("Total", [Cell("4950.00", kind="chf"), Cell("100.00", kind="chf"), Cell("4850.00", kind="chf")])
    printed = money_rows_for_print([*rows, total])
    assert len(printed) == PRINT_MONEY_ROWS + 2 and printed[-1] is total
    assert [r.label for r in printed[:PRINT_MONEY_ROWS]] == [f"Institution {i:03d}" for i in range(75, 100)]
    others = printed[PRINT_MONEY_ROWS]
    assert others.label.endswith("(75)")
    assert [c.value for c in others.cells] == [str(sum(range(75))) + ".00", "75.00", str(sum(range(-1, 74))) + ".00"]
    short = [*rows[:PRINT_MONEY_ROWS + 1], total]
    assert money_rows_for_print(short) == short


def test_oldest_waiting_referrals_are_the_ones_the_plain_query_gives(pilot):
    from referrals.models import Referral

    plain = list(Referral.objects.filter(status__in=kpi.WAITING_STATUSES)
                 .values("pk", "reference", "status", "status_changed_at", "referring_institution__name",
                         "receiving_institution__name").order_by("status_changed_at", "pk")[:10])
    assert plain and kpi.page_details()["waiting"] == plain
    assert kpi._oldest_waiting(limit=1) == plain[:1]
