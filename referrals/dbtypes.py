"""Rows the database holds but Python cannot represent must not take pages down.

PostgreSQL stores timestamps from 4713 BC; Python's datetime starts at year 1. A meeting once scheduled for
"0001-01-01T00:00" Zurich time was stored as 31.12.0000 (UTC), and from then on every query loading it failed
("timestamp too small"): the case page, the API, the start page and rescheduling answered 500. Input is now
checked (referrals.validators); for rows written before, this loader reads such a value as ``None`` (shown
as "–") so the page renders and the meeting can be rescheduled. Connected in ``ReferralsConfig.ready``.
"""

import logging

from psycopg import DataError
from psycopg.adapt import Loader
from psycopg.pq import Format

logger = logging.getLogger(__name__)


def _lenient(base):
    """A loader that delegates to ``base`` and reads values Python cannot represent as ``None``."""

    class LenientLoader(Loader):
        lenient = True
        # Django compares this to decide whether the cursor needs a loader of its own (postgresql/base.py).
        timezone = getattr(base, "timezone", None)

        def __init__(self, oid, context=None):
            super().__init__(oid, context)
            self.inner = base(oid, context)

        def load(self, data):
            try:
                return self.inner.load(data)
            except DataError:
                logger.warning("A timestamp outside Python's range was read as empty: %r", bytes(data))
                return None

    LenientLoader.format = base.format
    return LenientLoader


def install_lenient_timestamp_loader(sender, connection, **kwargs):
    """``connection_created`` receiver: wrap the connection's timestamptz loaders (psycopg 3 only)."""
    if connection.vendor != "postgresql":
        return
    adapters = getattr(connection.connection, "adapters", None)
    if adapters is None:  # psycopg2
        return
    oid = adapters.types["timestamptz"].oid
    for fmt in (Format.TEXT, Format.BINARY):
        base = adapters.get_loader(oid, fmt)
        if base is not None and not getattr(base, "lenient", False):
            adapters.register_loader(oid, _lenient(base))
