"""The audit trail: one way in (audit_record), append-only, PROTECT on referrals, retention purge."""

import datetime

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.db.models import ProtectedError
from django.utils import timezone

from audit.models import AuditRecord
from audit.services import audit_purge, audit_record, audit_record_many
from referrals.models import Referral, Status

NOW = timezone.now()
YEAR = datetime.timedelta(days=365)


def test_a_record_names_who_what_which_and_the_outcome(make_referral, coordinator):
    referral = make_referral(Status.SUBMITTED)

    record = audit_record(actor=coordinator, action="view", target=referral, outcome="ok")

    record.refresh_from_db()
    assert (record.actor, record.action, record.outcome) == (coordinator, "view", "ok")
    assert (record.target_type, record.target_id, record.referral_id) == ("referrals.referral", str(referral.pk),
                                                                          referral.pk)
    assert abs(record.at - timezone.now()) < datetime.timedelta(seconds=5)


def test_any_model_can_be_a_target_and_is_not_tied_to_a_referral(coordinator, directory):
    record = audit_record(actor=coordinator, action="view", target=directory["iv"], outcome="ok")
    assert (record.target_type, record.target_id, record.referral_id) == (
        "institutions.institution", str(directory["iv"].pk), None)


def test_a_denied_attempt_on_a_missing_row_is_recorded_without_a_tie(outsider):
    record = audit_record(actor=outsider, action="access", target=("referrals.Referral", 999999), outcome="denied")
    assert (record.target_type, record.target_id, record.referral_id, record.outcome) == (
        "referrals.referral", "999999", None, "denied")


def test_a_list_is_recorded_in_one_insert(make_referral, referrer, django_assert_num_queries):
    referrals = [make_referral(Status.SUBMITTED) for _ in range(3)]
    with django_assert_num_queries(1):
        assert audit_record_many(actor=referrer, action="list", targets=referrals) == 3
    assert set(AuditRecord.objects.values_list("referral_id", flat=True)) == {r.pk for r in referrals}
    with django_assert_num_queries(0):
        assert audit_record_many(actor=referrer, action="list", targets=[]) == 0


def test_a_referral_with_audit_records_cannot_be_deleted(make_referral, referrer):
    referral = make_referral(Status.DRAFT)
    audit_record(actor=referrer, action="view", target=referral, outcome="ok")
    referral.events.all().delete()
    with pytest.raises((ProtectedError, IntegrityError)):
        with transaction.atomic():
            Referral.objects.filter(pk=referral.pk).delete()
    assert Referral.objects.filter(pk=referral.pk).exists()


def test_purge_deletes_records_of_targets_anonymised_more_than_12_months_ago(make_referral, referrer):
    old, recent, untouched = (make_referral(Status.SUBMITTED) for _ in range(3))
    for referral in (old, recent, untouched):
        audit_record(actor=referrer, action="view", target=referral, outcome="ok")
    audit_record(actor=referrer, action="access", target=("referrals.Referral", old.pk), outcome="denied")

    deleted = audit_purge(anonymised=[(old, NOW - YEAR - datetime.timedelta(days=1)),
                                      (recent, NOW - YEAR + datetime.timedelta(days=1))], now=NOW)

    assert deleted >= 2
    assert not AuditRecord.objects.filter(target_id=str(old.pk)).exists()
    assert AuditRecord.objects.filter(referral=recent).count() == 1
    assert AuditRecord.objects.filter(referral=untouched).count() == 1


def test_purge_with_nothing_old_enough_deletes_nothing(make_referral, referrer, django_assert_num_queries):
    referral = make_referral(Status.SUBMITTED)
    audit_record(actor=referrer, action="view", target=referral, outcome="ok")
    with django_assert_num_queries(0):
        assert audit_purge(anonymised=[(referral, NOW), (referral, None)], now=NOW) == 0


@pytest.mark.django_db(transaction=True)
def test_the_old_access_log_rows_are_moved_into_the_audit_trail():
    executor = MigrationExecutor(connection)
    before = [("referrals", "0001_initial"), ("audit", "0001_audit_record"),
              ("institutions", "0002_data_protection_role")]
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    user = old.get_model("institutions", "User").objects.create(username="alt")
    institution = old.get_model("institutions", "Institution").objects.create(key="k", name="K", kind="iv")
    client = old.get_model("referrals", "Client").objects.create(first_name="A", last_name="B")
    referral = old.get_model("referrals", "Referral").objects.create(
        reference="OPT-1", client=client, referring_institution=institution, referring_case_worker=user)
    at = timezone.now() - datetime.timedelta(days=30)
    old.get_model("referrals", "AccessLog").objects.create(user=user, referral=referral, action="view", at=at)

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    record = AuditRecord.objects.get()
    assert (record.actor_id, record.action, record.outcome, record.at) == (user.pk, "view", "ok", at)
    assert (record.target_type, record.target_id, record.referral_id) == ("referrals.referral", str(referral.pk),
                                                                          referral.pk)


# --- PostgreSQL: the trigger ---------------------------------------------------------------------------------

postgres = pytest.mark.skipif(connection.vendor != "postgresql", reason="triggers exist on PostgreSQL only")


@postgres
@pytest.mark.postgres
def test_update_and_delete_are_refused_by_the_database(make_referral, referrer):
    referral = make_referral(Status.SUBMITTED)
    record = audit_record(actor=referrer, action="view", target=referral, outcome="ok")
    for statement in ("UPDATE audit_auditrecord SET action = 'x' WHERE id = %s",
                      "DELETE FROM audit_auditrecord WHERE id = %s"):
        with pytest.raises(Exception, match="protect"):
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(statement, [record.pk])
    with pytest.raises(Exception, match="protect"):
        with transaction.atomic():
            AuditRecord.objects.filter(pk=record.pk).delete()
    assert AuditRecord.objects.get(pk=record.pk).action == "view"


@postgres
@pytest.mark.postgres
def test_purge_passes_the_trigger(make_referral, referrer):
    referral = make_referral(Status.SUBMITTED)
    audit_record(actor=referrer, action="view", target=referral, outcome="ok")
    assert audit_purge(anonymised=[(referral, NOW - 2 * YEAR)], now=NOW) >= 1
    assert not AuditRecord.objects.filter(referral=referral).exists()


def test_a_successful_read_given_as_label_and_id_is_tied_to_the_referral(make_referral, coordinator,
                                                                         django_assert_num_queries):
    referral = make_referral(Status.SUBMITTED)
    with django_assert_num_queries(1):
        audit_record_many(actor=coordinator, action="kpi_texts", targets=[("referrals.Referral", referral.pk)],
                          also=[("kpi_view", None)])
    assert set(AuditRecord.objects.values_list("action", "referral_id")) == {("kpi_texts", referral.pk),
                                                                           ("kpi_view", None)}
