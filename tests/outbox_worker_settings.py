"""Settings of the Celery workers the outbox resilience tests start (production shape plus test backends)."""

import os

from optima.settings import *  # noqa: F403

EMAIL_BACKEND = "tests.outbox_support.SlowFileBackend"
EMAIL_FILE_PATH = os.environ["OUTBOX_TEST_MAIL_DIR"]
# Redis hands an unacknowledged task (its worker died) to another worker after this many seconds.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": float(os.environ.get("OUTBOX_TEST_VISIBILITY", "3600"))}
