"""Report snapshots built by Celery: eagerly in the default setup, by a real worker on Redis in CI;
a failure says why and can be retried; beat builds last month's report and mails the coordinators."""

import datetime
import io
import shlex
import subprocess
import sys
import uuid
from contextlib import contextmanager
from pathlib import Path

import openpyxl
import pytest
import time_machine
from celery.schedules import crontab
from django.conf import settings as django_settings
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone
from test_celery import TEST_REDIS_URL, WORKER_COMMAND, celery_conf, redis_unreachable_reason, worker_env
from test_reporting_pilot_data import ahv_number, fresh_celery_pools, make_user, pilot_directory

from optima.celery import app
from referrals import services as referral_services
from reporting import exports, layout, services
from reporting.kpi import Period
from reporting.models import ReportSnapshot, SnapshotStatus, SnapshotTrigger
from reporting.tasks import build_snapshot_task, monthly_snapshot_task

REPO_ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def celery_settings(**overrides):
    """test_celery.celery_conf, plus forgetting the pools it closed (see fresh_celery_pools)."""
    try:
        with celery_conf(**overrides):
            yield
    finally:
        fresh_celery_pools()


@pytest.fixture(autouse=True)
def celery_pools():
    fresh_celery_pools()  # in case a test elsewhere left closed pools behind


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def client(client):
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    client.cookies["django_language"] = "en"  # the language switch (issue 12), not the browser alone
    return client


@pytest.fixture
def fast_pdf(monkeypatch):
    """WeasyPrint takes seconds; tests about the task's flow use a stand-in PDF."""
    monkeypatch.setattr(exports, "to_pdf", lambda figures: b"%PDF-1.7 stand-in")


@pytest.fixture
def small(db):
    directory = pilot_directory()
    directory["coordinator"] = make_user("koordination.iiz", directory["rav"], ["coordinator"],
                                         email="iiz@example.ch")
    return directory


def submit(directory, moment, serial):
    staff = directory["sd_staff"]
    data = {"receiving_institution": directory["iv"], "mandate": "Coaching", "planned_duration_months": 6,
            "consent_given_on": moment.date() - datetime.timedelta(days=1), "consent_form": "written",
            "in_social_counselling": True}
    client_data = {"first_name": "Vorname", "last_name": "Klientenname", "date_of_birth": datetime.date(1980, 1, 1),
                   "ahv_number": ahv_number(300000000 + serial), "municipality": directory["luzern"]}
    with time_machine.travel(moment, tick=False):
        referral = referral_services.referral_create_draft(actor=staff, client_data=client_data, data=data)
        referral_services.referral_submit(referral=referral, actor=staff)
    return referral


def at_zurich(*args):
    return timezone.make_aware(datetime.datetime(*args))


# --- eager (the default, embedded setup) -----------------------------------------------------------------


def test_requesting_a_report_builds_it_with_all_files(client, small, django_capture_on_commit_callbacks):
    submit(small, at_zurich(2022, 11, 10, 10), 1)
    client.force_login(small["coordinator"])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("reporting:snapshot_create"), {"from": "2022-11-01", "to": "2022-11-30"})
    assert response.status_code == 302 and response["Location"].endswith("#reports")
    snapshot = ReportSnapshot.objects.get()
    assert snapshot.status == SnapshotStatus.DONE, snapshot.error
    assert (snapshot.requested_by, snapshot.trigger) == (small["coordinator"], SnapshotTrigger.MANUAL)
    assert (snapshot.period_from, snapshot.period_to) == (datetime.date(2022, 11, 1), datetime.date(2022, 11, 30))
    assert snapshot.progress == 100 and snapshot.attempts == 1 and snapshot.finished_at is not None
    assert snapshot.figures["sheet"]["applications"] == 1
    assert snapshot.figures["period"] == {"from": "2022-11-01", "to": "2022-11-30"}
    csv_text = snapshot.csv_file.read().decode("utf-8-sig")
    assert "Anzahl Anmeldungen;1" in csv_text
    workbook = openpyxl.load_workbook(io.BytesIO(snapshot.xlsx_file.read()))
    assert workbook.sheetnames[0] == "Kennzahlen"
    assert snapshot.pdf_file.read().startswith(b"%PDF")
    # The page lists it with its downloads; the stored sheet has its own page (the e-mails link to it).
    page = client.get(reverse("reporting:dashboard")).content.decode()
    assert reverse("reporting:snapshot_download", args=[snapshot.pk, "pdf"]) in page
    detail = client.get(reverse("reporting:snapshot", args=[snapshot.pk]))
    assert detail.status_code == 200 and 'data-kpi="applications">1<' in detail.content.decode()


def test_strings_never_become_formulas_in_the_xlsx_or_the_csv(monkeypatch):
    figures = {"period": {"from": None, "to": None}, "generated_at": "2024-01-01T10:00:00+01:00"}
    sections = [layout.Section("x", "=HYPERLINK(\"http://evil\")", ["+cmd", "@x"],
                               [layout.Row("-2+3", [layout.Cell("=1+1", kind="text"), layout.Cell(4)])])]
    monkeypatch.setattr(exports, "all_sections", lambda _figures: sections)
    workbook = openpyxl.load_workbook(io.BytesIO(exports.to_xlsx(figures)))
    csv_text = exports.to_csv(figures).decode("utf-8-sig")
    cells = [c for ws in workbook for row in ws.iter_rows() for c in row if c.value is not None]
    assert not [c for c in cells if c.data_type == "f"]
    assert any(c.value == "=1+1" and c.data_type == "s" for c in cells)
    assert "'=HYPERLINK" in csv_text and "'-2+3" in csv_text and "'=1+1" in csv_text


def test_a_failed_build_says_why_and_can_be_retried(client, small, monkeypatch, django_capture_on_commit_callbacks):
    client.force_login(small["coordinator"])

    def broken(figures):
        raise OSError("no fonts installed")

    monkeypatch.setattr(exports, "to_pdf", broken)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("reporting:snapshot_create"), {"from": "", "to": ""})
    snapshot = ReportSnapshot.objects.get()
    assert snapshot.status == SnapshotStatus.FAILED
    assert "PDF" in snapshot.error and "no fonts installed" in snapshot.error
    assert snapshot.csv_file and snapshot.xlsx_file and not snapshot.pdf_file
    page = client.get(reverse("reporting:dashboard")).content.decode()
    assert "no fonts installed" in page and reverse("reporting:snapshot_retry", args=[snapshot.pk]) in page
    assert client.get(reverse("reporting:snapshot_download", args=[snapshot.pk, "csv"])).status_code == 404

    monkeypatch.setattr(exports, "to_pdf", lambda figures: b"%PDF-1.7 stand-in")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("reporting:snapshot_retry", args=[snapshot.pk]))
    assert response.status_code == 302
    snapshot.refresh_from_db()
    assert snapshot.status == SnapshotStatus.DONE and snapshot.error == "" and snapshot.attempts == 2
    assert client.get(reverse("reporting:snapshot_download", args=[snapshot.pk, "pdf"])).status_code == 200
    # Only a failed report can be retried.
    with pytest.raises(ValidationError):
        services.snapshot_retry(actor=small["coordinator"], snapshot=snapshot)


def test_progress_is_polled_while_a_report_is_being_built(client, small, fast_pdf):
    client.force_login(small["coordinator"])
    snapshot = ReportSnapshot.objects.create(requested_by=small["coordinator"], status=SnapshotStatus.RUNNING,
                                             progress=50)
    fragment = client.get(reverse("reporting:snapshots")).content.decode()
    assert 'hx-trigger="every 2s"' in fragment and 'aria-valuenow="50"' in fragment
    services.snapshot_build(snapshot.pk)  # the build finishes it
    assert "hx-trigger" not in client.get(reverse("reporting:snapshots")).content.decode()


def test_only_coordinators_request_and_download_reports(client, small, fast_pdf):
    snapshot = ReportSnapshot.objects.create()
    services.snapshot_build(snapshot.pk)
    caseworker = small["sd_staff"]
    with pytest.raises(PermissionDenied):
        services.snapshot_request(actor=caseworker, period=Period())
    client.force_login(caseworker)
    for url in (reverse("reporting:snapshot", args=[snapshot.pk]),
                reverse("reporting:snapshot_download", args=[snapshot.pk, "pdf"])):
        assert client.get(url).status_code == 403
    assert client.post(reverse("reporting:snapshot_retry", args=[snapshot.pk])).status_code == 403


def test_broker_down_builds_the_report_in_process(small, fast_pdf, caplog):
    snapshot = ReportSnapshot.objects.create(requested_by=small["coordinator"])
    # Port 1 on localhost: connection refused at once, like a Redis that is down.
    with celery_settings(CELERY_TASK_ALWAYS_EAGER=False, CELERY_BROKER_URL="redis://127.0.0.1:1/0"):
        services.enqueue_build(snapshot.pk)
    snapshot.refresh_from_db()
    assert snapshot.status == SnapshotStatus.DONE
    assert "building it in this process" in caplog.text


# --- beat --------------------------------------------------------------------------------------------------


def test_beat_runs_the_monthly_report_on_the_first():
    entry = django_settings.CELERY_BEAT_SCHEDULE["monthly-kpi-report"]
    assert entry["task"] == monthly_snapshot_task.name
    app.autodiscover_tasks(force=True)
    assert entry["task"] in app.tasks
    schedule = entry["schedule"]
    assert isinstance(schedule, crontab) and schedule.day_of_month == {1}


def test_beat_task_builds_last_months_report_and_mails_the_coordinators(small, fast_pdf,
                                                                       django_capture_on_commit_callbacks):
    submit(small, at_zurich(2022, 10, 31, 23, 30), 1)  # October
    submit(small, at_zurich(2022, 11, 30, 23, 30), 2)  # November, late on the last day
    submit(small, at_zurich(2022, 12, 1, 0, 30), 3)  # December
    # The mail is written to the outbox with the snapshot and sent once that commits (issue 13).
    with time_machine.travel(at_zurich(2022, 12, 1, 6, 0), tick=False), \
            django_capture_on_commit_callbacks(execute=True):
        pk = monthly_snapshot_task.delay().get()
    snapshot = ReportSnapshot.objects.get(pk=pk)
    assert snapshot.trigger == SnapshotTrigger.SCHEDULED and snapshot.requested_by is None
    assert (snapshot.period_from, snapshot.period_to) == (datetime.date(2022, 11, 1), datetime.date(2022, 11, 30))
    assert snapshot.status == SnapshotStatus.DONE
    assert snapshot.figures["sheet"]["applications"] == 1
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["iiz@example.ch"]
    assert "11.2022" in message.subject
    link = django_settings.SITE_URL.rstrip("/") + reverse("reporting:snapshot", args=[snapshot.pk])
    assert link in message.body
    assert "Klientenname" not in message.body
    # Beat firing twice (or a redelivered task) neither builds nor mails again.
    with time_machine.travel(at_zurich(2022, 12, 1, 6, 5), tick=False), \
            django_capture_on_commit_callbacks(execute=True):
        assert monthly_snapshot_task.delay().get() == pk
    assert ReportSnapshot.objects.count() == 1 and len(mail.outbox) == 1


def test_last_month_across_the_year():
    assert services.last_month(datetime.date(2023, 1, 1)) == Period(datetime.date(2022, 12, 1),
                                                                     datetime.date(2022, 12, 31))
    assert services.last_month(datetime.date(2024, 3, 1)) == Period(datetime.date(2024, 2, 1),
                                                                     datetime.date(2024, 2, 29))


# --- a real worker on Redis (CI) ---------------------------------------------------------------------------


def _manage(env, *args):
    return subprocess.run([sys.executable, "manage.py", *args], cwd=REPO_ROOT, env=env, check=True,
                          capture_output=True, text=True, timeout=180)


@pytest.mark.redis
def test_real_worker_builds_a_report(tmp_path):
    reason = redis_unreachable_reason(TEST_REDIS_URL)
    if reason:
        pytest.skip(reason)
    # The worker is another process: it cannot see the test database, so both use a SQLite file.
    env = worker_env(tmp_path / "mail")
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'worker.sqlite3'}",  # four slashes: an absolute path
               DJANGO_MEDIA_ROOT=str(tmp_path / "media"))
    _manage(env, "migrate", "--noinput")
    pk = int(_manage(env, "shell", "-c", "from reporting.models import ReportSnapshot as R; "
                                         "print(R.objects.create().pk)").stdout.strip().splitlines()[-1])
    queue = f"optima-test-{uuid.uuid4().hex}"
    log_path = tmp_path / "worker.log"
    command = [sys.executable, "-m", *shlex.split(WORKER_COMMAND), "--pool=solo", "-Q", queue,
               "--without-heartbeat", "--without-gossip", "--without-mingle"]
    with open(log_path, "wb") as log:
        worker = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        with celery_settings(CELERY_TASK_ALWAYS_EAGER=False, CELERY_BROKER_URL=TEST_REDIS_URL,
                         CELERY_RESULT_BACKEND=TEST_REDIS_URL, CELERY_TASK_DEFAULT_QUEUE=queue):
            try:
                assert build_snapshot_task.delay(pk).get(timeout=120) == "done"
            except Exception:
                pytest.fail(f"worker did not build the report; its log:\n{log_path.read_text(errors='replace')}")
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        _delete_queue(queue)
    files = sorted(p.suffix for p in (tmp_path / "media" / "reports" / str(pk)).iterdir())
    assert files == [".csv", ".pdf", ".xlsx"]


def _delete_queue(queue):
    import redis

    client = redis.Redis.from_url(TEST_REDIS_URL)
    client.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
    client.close()

