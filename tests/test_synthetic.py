"""generate_synthetic (issue 14): a domain-consistent history, loaded in bulk, never in production."""

import datetime
import importlib

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Count
from django.test import override_settings

from referrals.models import (
    Client,
    CostApproval,
    EventKind,
    Meeting,
    Referral,
    ReferralEvent,
    Status,
)
from referrals.services import TRANSITIONS
from reporting import kpi
from scale import synthetic

case_active_span = importlib.import_module("referrals.migrations.0008_fill_case_active_span")


def _without_timestamp(figures):
    return {key: value for key, value in figures.items() if key != "generated_at"}


@pytest.fixture
def generated(directory, referrer, contact_person, receiving_worker, signatory):
    return synthetic.generate(referrals=400, seed=7, years=4)


def test_generates_the_referrals_with_clients_and_events_between_the_directorys_institutions(generated, directory):
    assert Referral.objects.count() == 400 == Client.objects.count()
    assert generated["referrals.Referral"] == 400
    assert ReferralEvent.objects.count() > 400 * 4
    used = set(Referral.objects.values_list("referring_institution", flat=True)) | set(
        Referral.objects.values_list("receiving_institution", flat=True))
    assert used <= {i.pk for i in directory.values() if hasattr(i, "kind")}
    assert not Referral.objects.filter(referring_institution=None).exists()
    assert not Referral.objects.exclude(referring_institution__kind="social").filter(
        receiving_institution__kind="social", receiving_institution__integral_case_management=False).exists()
    statuses = set(Referral.objects.values_list("status", flat=True))
    assert {Status.CLOSED, Status.REJECTED, Status.ACTIVE} <= statuses
    assert Meeting.objects.exists() and CostApproval.objects.exists()


def test_every_history_follows_the_lifecycle_and_ends_in_the_referrals_status(generated):
    histories = {}
    for referral_id, from_status, to_status in (ReferralEvent.objects.filter(kind=EventKind.STATUS)
                                                .order_by("referral", "created_at", "id")
                                                .values_list("referral", "from_status", "to_status")):
        histories.setdefault(referral_id, []).append((from_status, to_status))
    for referral in Referral.objects.only("pk", "status"):
        steps = histories[referral.pk]
        assert steps[0] == ("", Status.DRAFT)
        for (_previous_from, previous_to), (step_from, step_to) in zip(steps, steps[1:], strict=False):
            assert step_from == previous_to and step_to in TRANSITIONS[Status(step_from)]
        assert steps[-1][1] == referral.status
    assert not ReferralEvent.objects.filter(created_at__gt=datetime.datetime.now(datetime.UTC)).exists()


def test_every_case_is_active_from_its_agreed_handover_to_its_closing_meeting(generated):
    written = {pk: (start, end) for pk, start, end in Referral.objects.values_list("pk", "active_from", "active_until")}
    Referral.objects.update(active_from=None, active_until=None)
    case_active_span.fill_active_spans(apps, None)  # the spans as the meetings define them

    assert Referral.objects.filter(active_from__isnull=False, active_until__isnull=False).exists()
    assert {pk: (start, end) for pk, start, end in Referral.objects.values_list("pk", "active_from", "active_until")} \
        == written


def test_history_is_cut_at_now_so_recent_referrals_are_still_open(directory, referrer, contact_person):
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    synthetic.generate(referrals=80, seed=3, years=2, now=now)
    assert Referral.objects.count() == 80
    assert not ReferralEvent.objects.filter(created_at__gt=now).exists()
    assert Referral.objects.filter(status__in=[Status.SUBMITTED, Status.ACCEPTED, Status.ACTIVE]).exists()
    assert Referral.objects.values("status").annotate(n=Count("id")).count() > 3


def test_kpis_from_the_rollup_equal_the_kpis_from_the_events_on_a_generated_dataset(directory, referrer,
                                                                                   contact_person):
    call_command("generate_synthetic", referrals=400, seed=11, years=4, force=True, verbosity=0)
    today = datetime.date.today()
    for period in (kpi.Period(), kpi.Period(today.replace(month=1, day=1), None),
                   kpi.Period(today - datetime.timedelta(days=700), today - datetime.timedelta(days=200))):
        from_rollup = _without_timestamp(kpi.compute(period))
        assert from_rollup == _without_timestamp(kpi.compute_from_events(period))
    assert kpi.compute()["sheet"]["applications"] > 300


@pytest.mark.django_db
@override_settings(DEBUG=False)
def test_refuses_to_run_in_production_unless_forced():
    with pytest.raises(CommandError, match="DJANGO_DEBUG is off"):
        call_command("generate_synthetic", referrals=10)


@pytest.mark.django_db
def test_needs_institutions_to_refer_between():
    with pytest.raises(CommandError, match="two institutions"):
        call_command("generate_synthetic", referrals=10, force=True)


@pytest.mark.django_db
def test_creates_institutions_with_people_when_asked():
    call_command("generate_synthetic", referrals=30, institutions=6, seed=1, force=True, verbosity=0)
    assert Referral.objects.count() == 30


def _catalog():
    """The secondary indexes and foreign keys of the bulk tables, as PostgreSQL describes them (a partial index's
    predicate without its text: PostgreSQL deparses the same condition with the casts in other places)."""
    tables = [m._meta.db_table for m in synthetic.BULK_MODELS]
    with connection.cursor() as cursor:
        cursor.execute(synthetic._SECONDARY_INDEXES_SQL, [tables])
        indexes = [(name, definition.partition(" WHERE ")[0], " WHERE " in definition)
                   for name, definition in cursor.fetchall()]
        cursor.execute(synthetic._FOREIGN_KEYS_SQL, [tables])
        return indexes, cursor.fetchall()


postgres_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="index DDL is PostgreSQL's")


@postgres_only
@pytest.mark.django_db
def test_a_bulk_load_drops_the_indexes_and_foreign_keys_and_builds_them_again_afterwards():
    before = _catalog()
    assert len(before[0]) > 20 and len(before[1]) > 10
    with synthetic.deferred_indexes():
        assert _catalog() == ([], [])
    assert _catalog() == before


@postgres_only
@pytest.mark.django_db
def test_the_indexes_come_back_when_the_load_fails():
    before = _catalog()
    with pytest.raises(RuntimeError), synthetic.deferred_indexes():
        raise RuntimeError("the load broke")
    assert _catalog() == before


@pytest.mark.django_db
def test_indexes_are_kept_for_a_load_inside_a_transaction():
    assert not synthetic.worth_deferring_indexes(10)  # every test runs inside one
