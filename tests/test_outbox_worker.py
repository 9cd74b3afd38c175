"""The outbox on the real stack (PostgreSQL row locks, Redis, a real Celery worker process).

- a worker killed with SIGKILL while it holds a message, and the task redelivered: the mail goes out once;
- Redis down while filing: the mail goes out once after Redis is back.
Skipped with a reason without PostgreSQL (set DATABASE_URL) or Redis; CI has both.
"""

import signal
import subprocess
import sys
import time
import uuid

import pytest
from django.db import connection, transaction

from outbox.models import Message, MessageStatus
from outbox.services import message_enqueue, message_send
from outbox.tasks import send_due_messages_task
from referrals.models import Status
from tests.test_celery import (
    REDIS_DOWN,
    REPO_ROOT,
    TEST_REDIS_URL,
    _delete_queue,
    celery_conf,
    redis_unreachable_reason,
    wait_for,
    worker_env,
)

pytestmark = [pytest.mark.redis, pytest.mark.postgres]


@pytest.fixture
def real_stack(transactional_db):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (row locks between processes): run with DATABASE_URL=postgres://...")
    reason = redis_unreachable_reason(TEST_REDIS_URL)
    if reason:
        pytest.skip(reason)
    queue = f"optima-outbox-test-{uuid.uuid4().hex}"
    yield queue
    _delete_queue(queue)


def _database_url():
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def start_worker(tmp_path, queue, name, **extra_env):
    env = worker_env(tmp_path / "mail")
    env.update(DJANGO_SETTINGS_MODULE="tests.outbox_worker_settings", DATABASE_URL=_database_url(),
               OUTBOX_TEST_MAIL_DIR=str(tmp_path / "mail"), OUTBOX_TEST_MARKER=str(tmp_path / f"{name}.marker"),
               **extra_env)
    log = open(tmp_path / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
    command = [sys.executable, "-m", "celery", "-A", "optima", "worker", "--loglevel=info", "--pool=solo",
               "-Q", queue, "-n", f"{name}-{queue}@%h", "--without-heartbeat", "--without-gossip",
               "--without-mingle"]
    process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    process.log_path = tmp_path / f"{name}.log"
    return process


def stop(process):
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def mails(tmp_path):
    folder = tmp_path / "mail"
    return [p.read_text() for p in folder.glob("*.log")] if folder.exists() else []


def test_worker_killed_while_holding_a_message_then_the_task_redelivered_sends_it_once(real_stack, tmp_path):
    queue = real_stack
    first = start_worker(tmp_path, queue, "first", OUTBOX_TEST_SEND_DELAY="120", OUTBOX_TEST_VISIBILITY="3")
    second = None
    try:
        with celery_conf(CELERY_TASK_ALWAYS_EAGER=False, CELERY_BROKER_URL=TEST_REDIS_URL,
                         CELERY_RESULT_BACKEND=TEST_REDIS_URL, CELERY_TASK_DEFAULT_QUEUE=queue):
            message = message_enqueue(subject="Neue Zuweisung OPT-1", body="Link", recipients=["k@example.ch"])
        marker = tmp_path / "first.marker"
        assert wait_for(marker.exists, timeout=60), first.log_path.read_text(errors="replace")
        assert marker.read_text() == message.message_id

        # While the first worker is in the middle of the SMTP dialogue, the row is locked: another sender
        # (e.g. the sweep, or the task delivered a second time) leaves it alone.
        with transaction.atomic():
            assert not Message.objects.select_for_update(skip_locked=True).filter(pk=message.pk).exists()
        assert message_send(message_id=message.pk) == "skipped"

        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        assert mails(tmp_path) == []
        message.refresh_from_db()
        assert message.status == MessageStatus.PENDING  # the claim died with the worker's connection

        # The task was never acknowledged: Redis hands it to the next worker after the visibility timeout (3 s).
        # A worker restores such tasks when it starts, so it starts once the timeout has passed.
        time.sleep(4)
        second = start_worker(tmp_path, queue, "second", OUTBOX_TEST_VISIBILITY="3")
        assert wait_for(lambda: len(mails(tmp_path)) >= 1, timeout=90), second.log_path.read_text(errors="replace")
        time.sleep(3)  # a second copy would have arrived by now
    finally:
        stop(first)
        if second is not None:
            stop(second)

    sent = mails(tmp_path)
    assert len(sent) == 1
    assert f"Message-ID: {message.message_id}" in sent[0]
    message.refresh_from_db()
    assert (message.status, message.attempts) == (MessageStatus.SENT, 1)


def test_redis_down_while_filing_then_back_the_worker_sends_the_mail_once(
        real_stack, tmp_path, make_referral, contact_person):
    queue = real_stack
    with celery_conf(**REDIS_DOWN):
        referral = make_referral(Status.SUBMITTED)  # committed; queuing the send fails quietly
    message = Message.objects.get(recipients=[contact_person.email])
    assert message.status == MessageStatus.PENDING

    worker = start_worker(tmp_path, queue, "worker")
    try:
        with celery_conf(CELERY_TASK_ALWAYS_EAGER=False, CELERY_BROKER_URL=TEST_REDIS_URL,
                         CELERY_RESULT_BACKEND=TEST_REDIS_URL, CELERY_TASK_DEFAULT_QUEUE=queue):
            # Redis is back: beat's minutely sweep reaches the worker (twice, as beat would).
            send_due_messages_task.delay()
            send_due_messages_task.delay()
            assert wait_for(lambda: len(mails(tmp_path)) >= 1, timeout=60), worker.log_path.read_text()
            time.sleep(2)
    finally:
        stop(worker)
    sent = [m for m in mails(tmp_path) if contact_person.email in m]
    assert len(sent) == 1 and referral.reference in sent[0]
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT
