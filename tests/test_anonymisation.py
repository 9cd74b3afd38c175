"""Issue 10, item 3: retention and anonymisation.

OPTIMA_RETENTION_MONTHS after a referral ended, `anonymise_expired` (daily beat task and management command)
removes the client's identity, free texts and documents and keeps codes, dates, institutions, process,
target group, durations and amounts - so the KPI sheet stays byte-identical.
"""

import datetime
import io
import json
from decimal import Decimal
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from test_reporting_pilot_data import PILOT_SHEET, build_pilot

from audit.models import AuditRecord
from referrals import services
from referrals.models import (
    FINAL_STATUSES,
    OPEN_STATUSES,
    Client,
    Document,
    EventKind,
    Referral,
    ReferralEvent,
    Status,
)
from referrals.tasks import anonymise_expired_task
from reporting import exports, kpi
from tests.conftest import VALID_AHV

LONG_AFTER = timezone.make_aware(datetime.datetime(2031, 6, 15, 12, 0))


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return Path(settings.MEDIA_ROOT)


def upload(referral, actor, name="arbeitsvertrag.pdf"):
    return services.document_upload(referral=referral, actor=actor, kind="employment_contract",
                                    uploaded_file=SimpleUploadedFile(name, b"%PDF-1.4 test",
                                                                     content_type="application/pdf"))


def stored_files(media_root):
    return {p.relative_to(media_root).as_posix() for p in media_root.rglob("*") if p.is_file()}


def kpi_bytes():
    figures = kpi.compute(kpi.Period(), today=timezone.localdate())
    return exports.to_csv(figures), json.dumps(figures, sort_keys=True, default=str).encode()


def database_dump():
    out = io.StringIO()
    call_command("dumpdata", "referrals", stdout=out)
    return out.getvalue()


# --- The pilot's 52 cases ------------------------------------------------------------------------------------

def test_anonymising_the_pilot_keeps_the_kpi_sheet_byte_identical_and_removes_every_identity(
        db, media_root, django_capture_on_commit_callbacks):
    directory = build_pilot()
    ended = list(Referral.objects.filter(status__in=FINAL_STATUSES).select_related("client", "referring_case_worker"))
    running = list(Referral.objects.filter(status__in=OPEN_STATUSES).select_related("client"))
    assert len(ended) == 48 and len(running) == 5  # 35 closed, 12 rejected, the withdrawn draft; 5 open
    for referral in ended[:10] + running[:2]:
        upload(referral, directory["iv_staff"] if referral.receiving_institution.kind == "iv"
               else referral.referring_case_worker)
    ended_files = {d.file.name for d in Document.objects.filter(referral__in=ended)}
    running_files = {d.file.name for d in Document.objects.filter(referral__in=running)}
    identities = [(f'"{r.client.first_name}"', r.client.ahv_ciphertext, r.client.ahv_digest) for r in ended
                  if r.client.ahv_digest]
    running_before = {r.pk: (r.client.first_name, r.client.ahv_number) for r in running}

    with time_machine.travel(LONG_AFTER, tick=False):
        before = kpi_bytes()
        assert kpi.sheet() == PILOT_SHEET
        out = io.StringIO()
        with django_capture_on_commit_callbacks(execute=True):
            call_command("anonymise_expired", stdout=out)
        after = kpi_bytes()

    assert after == before  # the CSV export and every figure, byte for byte
    assert f"Anonymised {len(ended)} referral(s)." in out.getvalue()
    dump = database_dump()
    for name, ciphertext, digest in identities:
        assert name not in dump and ciphertext not in dump and digest not in dump
    assert not Client.objects.filter(referrals__in=ended).exclude(last_name="").exists()
    assert not Document.objects.filter(referral__in=ended).exists()
    assert not (stored_files(media_root) & ended_files)
    assert running_files <= stored_files(media_root)
    for referral in running:  # a still-running referral is never touched
        referral.refresh_from_db()
        referral.client.refresh_from_db()
        assert (referral.client.first_name, referral.client.ahv_number) == running_before[referral.pk]
        assert referral.anonymised_at is None
    assert ReferralEvent.objects.filter(kind=EventKind.ANONYMISED).count() == len(ended)
    assert not Referral.objects.filter(status__in=FINAL_STATUSES, anonymised_at__isnull=True).exists()


# --- What goes and what stays ------------------------------------------------------------------------------------

def ended_long_ago(make_referral, status=Status.CLOSED, months=25, **kwargs):
    with time_machine.travel(timezone.now() - datetime.timedelta(days=months * 31), tick=False):
        return make_referral(status, **kwargs)


def test_an_ended_referral_loses_identity_texts_and_documents_and_keeps_codes_and_amounts(
        make_referral, referrer, receiving_worker, signatory, media_root, django_capture_on_commit_callbacks):
    with time_machine.travel(timezone.now() - datetime.timedelta(days=800), tick=False):
        referral = make_referral(Status.ACTIVE)
        services.comment_add(referral=referral, actor=referrer, text="Wohnt bei der Schwester")
        services.client_change_personal_data(referral=referral, actor=referrer, client_data={"last_name": "Muster"})
        approval = services.cost_approval_request(
            referral=referral, actor=receiving_worker, measure="Coaching Muster", provider="Brändi",
            amount_chf=Decimal("1800.00"), starts_on=timezone.localdate(), ends_on=timezone.localdate(),
            justification="Mara braucht Struktur")
        services.cost_approval_approve(cost_approval=approval, actor=signatory)
        document = upload(referral, referrer)
        services.status_meeting_record(referral=Referral.objects.get(pk=referral.pk), actor=receiving_worker,
                                       held_on=timezone.localdate(), progress="Mara hat eine Stelle", decision="close",
                                       outcome="successful", ground="goal_reached", outcome_text="Festanstellung")
    path = media_root / document.file.name
    assert path.exists()
    with django_capture_on_commit_callbacks(execute=True):
        assert [r.pk for r in services.referrals_anonymise_expired()] == [referral.pk]
    referral = Referral.objects.select_related("client").get(pk=referral.pk)
    client = referral.client
    assert (client.first_name, client.last_name, client.ahv_ciphertext, client.ahv_digest, client.phone,
            client.address, client.email, client.date_of_birth, client.municipality) == (
        "", "", "", "", "", "", "", None, None)
    assert client.birth_year == 1984
    assert (referral.mandate, referral.closure_text) == ("", "")
    assert (referral.status, referral.closure_outcome, referral.closure_ground, referral.process,
            referral.target_group, referral.planned_duration_months) == (
        Status.CLOSED, "successful", "goal_reached", "optima_iv", "E", 6)
    assert referral.anonymised_at is not None
    assert not referral.documents.exists() and not path.exists()
    assert set(referral.comments.values_list("text", flat=True)) == {""}
    assert set(referral.meetings.values_list("progress", flat=True)) == {""}
    approval.refresh_from_db()
    assert (str(approval.amount_chf), approval.measure, approval.justification) == ("1800.00", "", "")
    dump = database_dump()
    for secret in ("Muster", "Beispiel", "Schwester", "Mara", "Festanstellung", "arbeitsvertrag"):
        assert secret not in dump, secret
    event = referral.events.get(kind=EventKind.ANONYMISED)
    assert event.payload == {"retention_months": 24, "documents_deleted": 1}


def test_the_retention_period_counts_from_the_end_of_the_referral(make_referral, settings):
    recent = ended_long_ago(make_referral, months=23)
    old = ended_long_ago(make_referral, Status.REJECTED, months=25)
    assert [r.pk for r in services.referrals_due_for_anonymisation()] == [old.pk]
    settings.OPTIMA_RETENTION_MONTHS = 12
    assert {r.pk for r in services.referrals_due_for_anonymisation()} == {recent.pk, old.pk}


def test_a_person_with_a_still_running_referral_is_never_anonymised(make_referral, directory):
    old = ended_long_ago(make_referral)
    make_referral(Status.ACTIVE)  # the same AHV number, another referral, still running
    assert list(services.referrals_due_for_anonymisation()) == []
    with pytest.raises(ValidationError):
        services.referral_anonymise(referral=old)
    old.client.refresh_from_db()
    assert old.client.ahv_number == VALID_AHV


def test_dry_run_lists_what_it_would_do_and_changes_nothing(make_referral):
    old = ended_long_ago(make_referral)
    out = io.StringIO()
    call_command("anonymise_expired", "--dry-run", stdout=out)
    assert f"Would anonymise {old.reference} (closed" in out.getvalue()
    assert "Would anonymise 1 referral(s)." in out.getvalue()
    old.refresh_from_db()
    assert old.anonymised_at is None and old.client.last_name == "Beispiel"


def test_running_twice_anonymises_once(make_referral):
    ended_long_ago(make_referral)
    assert len(services.referrals_anonymise_expired()) == 1
    assert services.referrals_anonymise_expired() == []
    assert ReferralEvent.objects.filter(kind=EventKind.ANONYMISED).count() == 1


def test_the_daily_beat_task_runs_the_service(make_referral):
    old = ended_long_ago(make_referral)
    assert settings.CELERY_BEAT_SCHEDULE["anonymise-expired-referrals"]["task"] == \
        "referrals.tasks.anonymise_expired_task"
    assert anonymise_expired_task() == [old.pk]


def test_an_anonymised_case_page_still_opens_and_says_what_happened(client, make_referral, referrer, english_pages):
    old = ended_long_ago(make_referral)
    services.referrals_anonymise_expired()
    client.force_login(referrer)
    page = client.get(reverse("referrals:detail", args=[old.pk]))
    assert page.status_code == 200
    assert "Anonymised after the retention period" in page.content.decode()
    listing = client.get(reverse("referrals:list")).content.decode()
    assert old.reference in listing and "(anonymised)" in listing


def test_a_person_who_got_a_running_referral_meanwhile_is_skipped_not_crashed(make_referral, monkeypatch):
    old = ended_long_ago(make_referral)
    monkeypatch.setattr(services, "referrals_due_for_anonymisation", lambda now=None: [old])  # listed before...
    make_referral(Status.SUBMITTED)  # ...the same person got a new referral
    assert services.referrals_anonymise_expired() == []
    old.refresh_from_db()
    assert old.anonymised_at is None


def test_the_audit_trail_of_a_case_goes_twelve_months_after_its_anonymisation(make_referral, referrer):
    """Issue 9: audit records are kept at least 12 months after the case was anonymised, then purged."""
    referral = ended_long_ago(make_referral)
    services.access_log_record(user=referrer, referral=referral, action="view")
    services.referrals_anonymise_expired()
    assert AuditRecord.objects.filter(referral=referral).exists()  # anonymised today: kept
    with time_machine.travel(timezone.now() + datetime.timedelta(days=366), tick=False):
        services.referrals_anonymise_expired()
    assert not AuditRecord.objects.filter(referral=referral).exists()
