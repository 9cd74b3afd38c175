"""The outbox against a real SMTP dialogue (aiosmtpd on a free local port): server down, then up."""

import datetime
import socket

import pytest
from django.utils import timezone

from outbox.models import Message, MessageStatus
from outbox.services import message_enqueue, messages_send_due

aiosmtpd = pytest.importorskip("aiosmtpd", reason="aiosmtpd is not installed (local SMTP sink)")
from aiosmtpd.controller import Controller  # noqa: E402

pytestmark = pytest.mark.django_db


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Sink:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append((envelope.rcpt_tos, envelope.content.decode("utf-8", "replace")))
        return "250 OK"


def test_mail_server_down_then_up_the_message_is_retried_and_accepted_once(settings):
    port = free_port()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 5
    message = message_enqueue(subject="OPTIMA-Zuweisung OPT-2026-0001", body="Link", recipients=["g@example.ch"])
    now = timezone.now()

    assert messages_send_due(now=now) == 0  # nobody listens on the port: connection refused
    message.refresh_from_db()
    assert message.status == MessageStatus.PENDING and message.attempts == 1
    assert "Connection" in message.last_error or "refused" in message.last_error.lower()

    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        later = now + datetime.timedelta(minutes=5)
        assert messages_send_due(now=later) == 1
        assert messages_send_due(now=later + datetime.timedelta(minutes=5)) == 0
    finally:
        controller.stop()

    assert len(sink.messages) == 1
    recipients, content = sink.messages[0]
    assert recipients == ["g@example.ch"]
    assert f"Message-ID: {message.message_id}" in content
    assert Message.objects.get(pk=message.pk).status == MessageStatus.SENT
