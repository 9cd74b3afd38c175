"""Case-fee statements (Fallpauschalen, model A): the worked example of issue 11 and the rules around it.

Three social services -> IV cases over a rate change from 227 to 300 CHF; one has a running IV procedure and is
not billed (model A's condition for the IV). Dates are in last year so every month has ended.
"""

import datetime
from decimal import Decimal

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.utils import timezone

from billing import services as billing
from billing.models import FeeRate, FeeStatement
from billing.tasks import first_working_day, monthly_fee_statements_task
from referrals import services
from referrals.models import MeetingDecision, Status

YEAR = timezone.localdate().year - 1


def d(month, day):
    return datetime.date(YEAR, month, day)


def run_case(make_referral, worker, *, start, end=None, **situation):
    """A case social services -> IV, active from `start` (handover agreed) to `end` (closing meeting).

    Recorded as on the last day of that year: meeting notes are plausible only within a year back (issue 10)."""
    with time_machine.travel(datetime.datetime(YEAR, 12, 31, 12, tzinfo=datetime.UTC), tick=False):
        return _run_case(make_referral, worker, start=start, end=end, **situation)


def _run_case(make_referral, worker, *, start, end=None, **situation):
    if situation.get("iv_procedure_running"):
        situation.setdefault("justification", "IV procedure runs, but OPTIMA coaching is agreed with the IV.")
    referral = make_referral(Status.ACCEPTED, **situation)
    services.handover_record(referral=referral, actor=worker, held_on=start, case_work_starts_on=start,
                             strategy="Coaching", first_status_meeting_on=start + datetime.timedelta(days=30),
                             client_able_and_willing=True, all_agreed=True)
    if end is not None:
        referral.refresh_from_db()
        services.status_meeting_record(referral=referral, actor=worker, held_on=end, progress="Placed",
                                       decision=MeetingDecision.CLOSE, outcome="successful", ground="goal_reached")
    referral.refresh_from_db()
    return referral


@pytest.fixture
def fee_config(administrator):
    billing.fee_model_rule_create(actor=administrator, referrer_kind="social", leader_kind="iv", model="A",
                                  valid_from=d(1, 1))
    billing.fee_rate_create(actor=administrator, leader_kind="iv", monthly_rate_chf=Decimal("227.00"),
                            valid_from=d(1, 1))
    # From April on the IV bills 300 CHF: the open-ended 227 rate ends on 31 March by itself.
    billing.fee_rate_create(actor=administrator, leader_kind="iv", monthly_rate_chf=Decimal("300.00"),
                            valid_from=d(4, 1))


@pytest.fixture
def three_cases(fee_config, make_referral, receiving_worker):
    return {
        "closed": run_case(make_referral, receiving_worker, start=d(2, 10), end=d(5, 3)),
        "late_start": run_case(make_referral, receiving_worker, start=d(3, 31)),
        "iv_running": run_case(make_referral, receiving_worker, start=d(2, 1), iv_procedure_running=True),
    }


def lines_of(statement):
    return [(line.reference, line.months, line.rate_chf, line.amount_chf) for line in statement.lines.all()]


def test_worked_example_bills_the_right_months_at_the_rate_of_each_month(three_cases, directory):
    closed, late = three_cases["closed"].reference, three_cases["late_start"].reference
    expected = {
        1: [],
        2: [(closed, 1, Decimal("227.00"), Decimal("227.00"))],
        3: sorted([(closed, 1, Decimal("227.00"), Decimal("227.00")), (late, 1, Decimal("227.00"),
                                                                       Decimal("227.00"))]),
        4: sorted([(closed, 1, Decimal("300.00"), Decimal("300.00")), (late, 1, Decimal("300.00"),
                                                                       Decimal("300.00"))]),
        5: sorted([(closed, 1, Decimal("300.00"), Decimal("300.00")), (late, 1, Decimal("300.00"),
                                                                       Decimal("300.00"))]),
        6: [(late, 1, Decimal("300.00"), Decimal("300.00"))],
    }
    totals = {}
    for month, lines in expected.items():
        previews = billing.statements_build(month=d(month, 1))
        if not lines:
            assert previews == []
            continue
        [preview] = previews
        statement = preview.statement
        assert (statement.billing_institution, statement.billed_institution) == (directory["iv"],
                                                                                  directory["social"])
        assert sorted(lines_of(statement)) == lines
        totals[month] = statement.total_chf
    assert totals == {2: Decimal("227.00"), 3: Decimal("454.00"), 4: Decimal("600.00"), 5: Decimal("600.00"),
                      6: Decimal("300.00")}
    # The case with a running IV procedure appears on no statement.
    assert not FeeStatement.objects.filter(lines__reference=three_cases["iv_running"].reference).exists()


def test_rebuilding_a_month_issues_nothing_new_and_keeps_the_same_statement(three_cases):
    first = billing.statements_build(month=d(4, 1))[0].statement
    again = billing.statements_build(month=d(4, 1))

    assert [p.outcome for p in again] == ["unchanged"]
    assert again[0].statement == first
    assert FeeStatement.objects.count() == 1


def test_a_later_rate_change_never_changes_an_issued_statement_but_a_rebuild_corrects_it(
        three_cases, administrator):
    issued = billing.statements_build(month=d(5, 1))[0].statement
    before = lines_of(issued)
    billing.fee_rate_create(actor=administrator, leader_kind="iv", monthly_rate_chf=Decimal("320.00"),
                            valid_from=d(6, 1))
    issued.refresh_from_db()
    assert lines_of(issued) == before  # the May statement keeps 300

    june = billing.statements_build(month=d(6, 1))[0].statement
    assert [line[2] for line in lines_of(june)] == [Decimal("320.00")]


def test_a_rebuild_after_a_changed_case_issues_a_correction_referring_to_the_statement(three_cases,
                                                                                       make_referral,
                                                                                       receiving_worker):
    original = billing.statements_build(month=d(6, 1))[0].statement
    run_case(make_referral, receiving_worker, start=d(6, 20))  # recorded late

    [preview] = billing.statements_build(month=d(6, 1))

    assert preview.outcome == "correction"
    assert preview.statement.corrects == original
    assert preview.statement.number != original.number
    assert preview.statement.total_chf == Decimal("600.00")
    assert original.total_chf == Decimal("300.00")


def withdraw_consent(referral, actor, on):
    with time_machine.travel(datetime.datetime(YEAR, 12, 31, 12, tzinfo=datetime.UTC), tick=False):
        services.referral_withdraw_consent(referral=referral, actor=actor, withdrawn_on=on,
                                           channel="client_verbally")


def test_a_case_ended_by_a_consent_withdrawal_is_billed_up_to_the_withdrawal_and_not_after(
        fee_config, make_referral, receiving_worker, referrer):
    # No closing meeting: the case ends on the day consent was withdrawn (it was billed forever before).
    referral = run_case(make_referral, receiving_worker, start=d(2, 10), consent_given_on=d(1, 5))
    withdraw_consent(referral, referrer, d(5, 20))

    billed = {month: [line.reference for preview in billing.statement_previews(month=d(month, 1))
                      for line in preview.lines] for month in (4, 5, 6, 12)}

    assert billed == {4: [referral.reference], 5: [referral.reference], 6: [], 12: []}


def test_statements_are_numbered_and_mailed_as_a_link_to_the_billed_signatories(three_cases, signatory,
                                                                                django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        billing.statements_build(month=d(3, 1))

    statement = FeeStatement.objects.get()
    assert statement.number == f"FP-{timezone.localdate().year}-0001"
    [message] = [m for m in mail.outbox if "FP-" in m.subject]
    assert message.to == [signatory.email]
    assert f"/fallpauschalen/{statement.pk}/" in message.body
    for reference in (three_cases["closed"].reference, "Beispiel", "Mara"):
        assert reference not in message.body


def test_a_statement_for_a_month_that_has_not_ended_is_refused(db):
    this_month = timezone.localdate().replace(day=1)
    with pytest.raises(ValidationError) as error:
        billing.statements_build(month=this_month)
    assert "month" in error.value.message_dict


def test_only_administrators_and_the_coordinator_build_by_hand(three_cases, referrer):
    with pytest.raises(PermissionDenied):
        billing.statements_build(month=d(3, 1), actor=referrer)


def test_dry_run_previews_without_issuing(three_cases):
    previews = billing.statements_build(month=d(4, 1), dry_run=True)

    assert [(p.outcome, p.total_chf) for p in previews] == [("preview", Decimal("600.00"))]
    assert FeeStatement.objects.count() == 0


def test_command_prints_one_line_per_statement(three_cases, capsys):
    call_command("build_fee_statements", "--month", f"{YEAR}-04", "--dry-run")
    out = capsys.readouterr().out

    assert out.strip() == "WAS IV Luzern -> Sozialdienste Stadt Luzern: 2 cases, CHF 600.00 [preview -]"
    assert FeeStatement.objects.count() == 0

    call_command("build_fee_statements", "--month", f"{YEAR}-04")
    assert "[new FP-" in capsys.readouterr().out


def test_first_working_day_skips_weekends_and_lucerne_holidays():
    assert first_working_day(datetime.date(2026, 1, 1)) == datetime.date(2026, 1, 5)  # 1.+2.1. holidays, weekend
    assert first_working_day(datetime.date(2026, 6, 1)) == datetime.date(2026, 6, 1)
    assert first_working_day(datetime.date(2025, 11, 1)) == datetime.date(2025, 11, 3)  # Saturday + Sunday


def test_beat_task_builds_last_month_only_on_the_first_working_day(three_cases, settings):
    assert monthly_fee_statements_task(today=f"{YEAR}-07-02") == 0  # not the first working day of July
    first = first_working_day(datetime.date(YEAR, 7, 1))
    assert monthly_fee_statements_task(today=first.isoformat()) == 1
    assert FeeStatement.objects.get().month == d(6, 1)


def test_load_fee_defaults_loads_the_concept_rates_once(administrator, capsys):
    call_command("load_fee_defaults")
    call_command("load_fee_defaults")
    assert sorted(FeeRate.objects.values_list("leader_kind", "monthly_rate_chf", "valid_until")) == [
        ("iv", Decimal("227.00"), datetime.date(2024, 12, 31)), ("iv", Decimal("300.00"), None),
        ("rav", Decimal("125.00"), None), ("social", Decimal("125.00"), None)]
    assert "nothing loaded" in capsys.readouterr().out
