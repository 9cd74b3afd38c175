"""Rows the database holds but Python cannot represent must not take pages down.

PostgreSQL stores timestamps from 4713 BC; Python's datetime starts at year 1. A meeting once scheduled for
"0001-01-01T00:00" Zurich time was stored as 31.12.0000 (UTC), and from then on every query loading it failed
("timestamp too small"): the case page, the API, the start page and rescheduling answered 500. Input is now
checked (referrals.validators); for rows written before, this loader reads such a value as ``None`` (shown
as "–") so the page renders and the meeting can be rescheduled. Connected in ``ReferralsConfig.ready``.
"""

import logging

from psycopg import DataError
from psycopg.pq import Format

logger = logging.getLogger(__name__)


def install_lenient_timestamp_loader(sender, connection, **kwargs):
    """``connection_created`` receiver: wrap the connection's timestamptz loader (psycopg 3 only)."""
    if connection.vendor != "postgresql":
        return
    adapters = getattr(connection.connection, "adapters", None)
    if adapters is None:  # psycopg2
        return
    oid = adapters.types["timestamptz"].oid
    for fmt in (Format.TEXT, Format.BINARY):
        base = adapters.get_loader(oid, fmt)
        if base is None or getattr(base, "lenient", False):
            continue

        class LenientLoader(base):
            lenient = True

            def load(self, data):
                try:
                    return super().load(data)
                except DataError:
                    logger.warning("A timestamp outside Python's range was read as empty: %r", bytes(data))
                    return None

        adapters.register_loader(oid, LenientLoader)
