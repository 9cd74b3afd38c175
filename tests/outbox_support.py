"""E-mail backends for the outbox tests: a mail server that is down N times, one that is slow."""

import os
import time
from pathlib import Path

from django.core.mail.backends.filebased import EmailBackend as FileBackend
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend


class FlakyBackend(LocmemBackend):
    """Refuses the connection `failures` times, then delivers (to django.core.mail.outbox)."""

    failures = 0

    def send_messages(self, messages):
        if FlakyBackend.failures > 0:
            FlakyBackend.failures -= 1
            raise ConnectionRefusedError("SMTP server down")
        return super().send_messages(messages)


class SlowFileBackend(FileBackend):
    """Writes a marker, waits OUTBOX_TEST_SEND_DELAY seconds (the worker is killed meanwhile), then delivers."""

    def send_messages(self, messages):
        delay = float(os.environ.get("OUTBOX_TEST_SEND_DELAY", "0"))
        if delay:
            marker = Path(os.environ["OUTBOX_TEST_MARKER"])
            marker.write_text(",".join(m.extra_headers.get("Message-ID", "") for m in messages))
            time.sleep(delay)
        return super().send_messages(messages)
