"""Signals referrals sends to the floors above it, which it must not import (ARCHITECTURE.md).

``event_recorded`` is sent by ``referrals.services._record_event`` right after a ``ReferralEvent`` row is written,
inside the same transaction, with ``event=<ReferralEvent>``. Receivers must be cheap and must not write
referrals: ``reporting`` uses it to keep its KPI rollup up to date (``reporting.rollup.on_event_recorded``).
"""

from django.dispatch import Signal

event_recorded = Signal()
