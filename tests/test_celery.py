"""Background e-mail: eager in the embedded shape, through a real worker in the production shape."""

import os
import shlex
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import kombu.pools
import pytest
import yaml
from django.conf import settings as django_settings
from django.core import mail
from django.db import transaction

from institutions.tasks import enqueue_email, ping_task, send_email_task
from optima.celery import app

REPO_ROOT = Path(__file__).resolve().parent.parent

# The commands docker-compose.yml runs; the worker test starts exactly this command (plus test-only flags).
WORKER_COMMAND = "celery -A optima worker --loglevel=info"
BEAT_COMMAND = "celery -A optima beat --loglevel=info"

TEST_REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/15"


@contextmanager
def celery_conf(**overrides):
    """Change the Celery app's configuration (CELERY_* keys, as read from settings) and restore it.

    The app caches its broker connection pool, routing (amqp) and result backend; they are dropped on
    the way in and out so that the changed configuration takes effect and does not leak into other tests.
    """

    def drop_caches():
        if app._pool is not None:
            app._pool.force_close_all()
        app._pool = None
        app.__dict__.pop("amqp", None)
        app._backend_cache = None
        app._local.__dict__.pop("backend", None)
        # The closed pools stay registered in kombu; later tasks would fail with "Acquire on closed pool".
        kombu.pools.reset()

    changes = app.conf.changes
    saved = {key: changes[key] for key in overrides if key in changes}
    drop_caches()
    changes.update(overrides)
    try:
        yield
    finally:
        for key in overrides:
            changes.pop(key, None)
        changes.update(saved)
        drop_caches()


def redis_unreachable_reason(url):
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except Exception as exc:  # connection refused, timeout, bad URL, ...
        return f"Redis not reachable at {url}: {exc}"
    return None


# --- embedded shape: eager ---------------------------------------------------------------------------


def test_enqueue_email_eager_sends_after_commit(db, django_capture_on_commit_callbacks):
    with celery_conf(CELERY_TASK_ALWAYS_EAGER=True):
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            with transaction.atomic():
                transaction.on_commit(
                    lambda: enqueue_email(subject="Neue Zuweisung", body="Link", recipients=["a@example.ch"])
                )
                assert mail.outbox == []  # nothing leaves before the commit
    assert len(callbacks) == 1
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.subject == "Neue Zuweisung"
    assert message.body == "Link"
    assert message.to == ["a@example.ch"]
    assert message.from_email == django_settings.DEFAULT_FROM_EMAIL


# Port 1 on localhost: connection refused at once, like a Redis that is down.
REDIS_DOWN = {
    "CELERY_TASK_ALWAYS_EAGER": False,
    "CELERY_BROKER_URL": "redis://127.0.0.1:1/0",
    "CELERY_RESULT_BACKEND": "redis://127.0.0.1:1/0",
}


def test_enqueue_email_falls_back_to_synchronous_sending_when_broker_is_down(caplog):
    started = time.monotonic()
    with celery_conf(**REDIS_DOWN):
        enqueue_email(subject="Rückfrage", body="Text", recipients=("b@example.ch",))
    assert time.monotonic() - started < 10  # the request is not held up for long (about 1 s)
    assert [m.to for m in mail.outbox] == [["b@example.ch"]]
    assert "sending it synchronously instead" in caplog.text


def test_enqueue_email_never_raises_when_sending_fails_too(caplog, settings):
    settings.EMAIL_BACKEND = "tests.test_celery.BrokenBackend"
    with celery_conf(**REDIS_DOWN):
        enqueue_email(subject="Verloren", body="Text", recipients=["c@example.ch"])
    assert "it is lost" in caplog.text


def test_enqueue_email_never_raises_in_eager_mode(caplog, settings):
    settings.EMAIL_BACKEND = "tests.test_celery.BrokenBackend"
    with celery_conf(CELERY_TASK_ALWAYS_EAGER=True):
        enqueue_email(subject="Kaputt", body="Text", recipients=["d@example.ch"])
    assert "Sending e-mail 'Kaputt'" in caplog.text


class BrokenBackend:
    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise ConnectionRefusedError("SMTP server down")


# --- production shape: a real worker -------------------------------------------------------------------


def test_compose_runs_the_documented_commands():
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert services["worker"]["command"] == WORKER_COMMAND
    assert services["beat"]["command"] == BEAT_COMMAND


def worker_env(mail_dir):
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "OPTIMA_", "CELERY_")) and key not in {"DATABASE_URL", "REDIS_URL"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="optima.settings",
        REDIS_URL=TEST_REDIS_URL,
        CELERY_TASK_ALWAYS_EAGER="false",
        # Four slashes: django-environ drops the first slash of the path ("filemail:///x" is relative).
        EMAIL_URL=f"filemail:///{mail_dir}",
        PYTHONUNBUFFERED="1",
    )
    return env


@pytest.mark.redis
def test_real_worker_runs_tasks_and_sends_mail(tmp_path):
    reason = redis_unreachable_reason(TEST_REDIS_URL)
    if reason:
        pytest.skip(reason)

    # A queue of its own, so that a concurrent test run (or a leftover message) cannot interfere.
    queue = f"optima-test-{uuid.uuid4().hex}"
    mail_dir = tmp_path / "mail"
    log_path = tmp_path / "worker.log"
    command = [
        sys.executable,
        "-m",
        *shlex.split(WORKER_COMMAND),
        "--pool=solo",
        "-Q",
        queue,
        "--without-heartbeat",
        "--without-gossip",
        "--without-mingle",
    ]
    with open(log_path, "wb") as log:
        worker = subprocess.Popen(
            command, cwd=REPO_ROOT, env=worker_env(mail_dir), stdout=log, stderr=subprocess.STDOUT
        )
    try:
        with celery_conf(
            CELERY_TASK_ALWAYS_EAGER=False,
            CELERY_BROKER_URL=TEST_REDIS_URL,
            CELERY_RESULT_BACKEND=TEST_REDIS_URL,
            CELERY_TASK_DEFAULT_QUEUE=queue,
        ):
            try:
                assert ping_task.delay().get(timeout=30) == "pong"
                # The task ignores its result; this call asks for it, to wait for the worker.
                sent = send_email_task.apply_async(
                    ("Neue Zuweisung", "Bitte prüfen.", ["e@example.ch"]), ignore_result=False
                )
                assert sent.get(timeout=30) == 1
                # The helper the app uses, on the production path: queued, sent by the worker.
                enqueue_email(subject="Rückmeldung", body="Erledigt.", recipients=["f@example.ch"])
                assert wait_for(lambda: len(list(mail_dir.glob("*.log"))) == 2, timeout=30)
            except Exception:
                pytest.fail(f"worker did not answer; its log:\n{log_path.read_text(errors='replace')}")
    finally:
        worker.terminate()  # SIGTERM: warm shutdown
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        _delete_queue(queue)

    messages = [path.read_text() for path in mail_dir.iterdir()]
    assert len(messages) == 2
    assert any("Subject: Neue Zuweisung" in text and "To: e@example.ch" in text for text in messages)
    assert any("To: f@example.ch" in text and "Erledigt." in text for text in messages)
    log = log_path.read_text()
    assert "ready." in log
    assert "institutions.tasks.send_email_task" in log


def wait_for(condition, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def _delete_queue(queue):
    import redis

    client = redis.Redis.from_url(TEST_REDIS_URL)
    client.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
    client.close()


# --- beat ----------------------------------------------------------------------------------------------


def test_beat_schedule_references_registered_tasks():
    schedule = getattr(django_settings, "CELERY_BEAT_SCHEDULE", None)
    if not schedule:
        pytest.skip("no CELERY_BEAT_SCHEDULE in settings")
    app.autodiscover_tasks(force=True)
    unknown = {name: entry["task"] for name, entry in schedule.items() if entry["task"] not in app.tasks}
    assert not unknown, f"beat schedule names tasks no app defines: {unknown}"
