"""The KPI rollup: aggregates of the event log maintained as events happen (issue 14).

How it stays right
- ``on_event_recorded`` is connected (reporting/apps.py) to ``referrals.signals.event_recorded``, which
  ``referrals.services._record_event`` sends inside the transaction that writes the event. It adds one to
  the event's ``KpiDaily`` and ``KpiMonthly`` rows (an upsert: ``INSERT ... ON CONFLICT DO UPDATE``, safe
  under concurrency) and, for an event that ends a measured duration, writes its ``KpiDuration`` row.
  Event and rollup commit together.
- ``rebuild()`` (``manage.py rebuild_kpi_rollup``) recomputes the tables from the events (grouped statements
  plus one pass over the duration-ending events): after a bulk load, a restore or a change of rules.
- Periods are whole days in Zurich time (``kpi.Period``) and the rollup is keyed by the Zurich day of the
  event, so a period never has partial days. Its whole months are read from ``KpiMonthly``, the days at its
  edges (a partial first or last month) from ``KpiDaily``: the sum is exact and "all time" stays small.

How a new KPI adds itself
- A figure that counts events (a new event kind such as issue 11's invoices, a new status or reason code)
  needs no change here: every event is counted by kind, status, reason, ground, the kinds of the two
  institutions, the requesting institution's kind and the target group. Read it with ``kpi.rollup_totals``.
- A figure over a new dimension: add a column to ``KpiDaily`` (and to ``DIMENSIONS``), fill it in
  ``_dimensions`` and ``_rebuild_daily``, migrate, run ``rebuild_kpi_rollup``.
- A new duration: add a ``DurationMeasure`` and its (end status, start status) to ``DURATION_ENDS``.
- An amount: the amount of the event's cost approval is summed in ``amount_chf``; for another amount (e.g.
  invoices) extend ``_dimensions`` and ``_rebuild_daily`` the same way.
"""

from decimal import Decimal

from django.db import connection, transaction
from django.db.models import CharField, Count, DecimalField, F, OuterRef, Subquery, Sum, Value
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Coalesce, TruncDate, TruncMonth
from django.utils import timezone

from institutions.models import Institution
from referrals.models import EventKind, ReferralEvent, Status

from .models import DurationMeasure, KpiCounts, KpiDaily, KpiDuration, KpiMonthly

# The status that ends a duration -> (measure, the status whose last moment starts it).
DURATION_ENDS = {
    Status.ACCEPTED: (DurationMeasure.DECISION, Status.SUBMITTED),
    Status.REJECTED: (DurationMeasure.DECISION, Status.SUBMITTED),
    Status.ACTIVE: (DurationMeasure.HANDOVER, Status.ACCEPTED),
    Status.NOT_STARTED: (DurationMeasure.HANDOVER, Status.ACCEPTED),
    Status.CLOSED: (DurationMeasure.CASE, Status.ACTIVE),
}


def _related_kind(obj, field_name):
    """The kind of the institution `obj.<field_name>` points to, without a query when it is loaded already."""
    field = obj._meta.get_field(field_name)
    if field.is_cached(obj):
        institution = getattr(obj, field_name)
        return institution.kind if institution is not None else ""
    pk = getattr(obj, field.attname)
    if pk is None:
        return ""
    return Institution.objects.filter(pk=pk).values_list("kind", flat=True).first() or ""


def _day(moment):
    return timezone.localtime(moment, timezone.get_current_timezone()).date()


def _dimensions(event):
    referral = event.referral
    requester_kind, amount = "", Decimal(0)
    if event.cost_approval_id is not None:
        approval = event.cost_approval
        requester_kind = _related_kind(approval, "requesting_institution")
        amount = approval.amount_chf or Decimal(0)
    ground = event.payload.get("ground", "") if isinstance(event.payload, dict) else ""
    return {
        "day": _day(event.created_at), "kind": event.kind, "to_status": event.to_status or "",
        "reason": event.reason or "", "ground": str(ground or "")[:40],
        "referrer_kind": _related_kind(referral, "referring_institution"),
        "receiver_kind": _related_kind(referral, "receiving_institution"),
        "requester_kind": requester_kind, "target_group": referral.target_group or "",
    }, amount


def _upsert_sql(model):
    table = model._meta.db_table
    q = connection.ops.quote_name
    dims = ", ".join(q(d) for d in model.DIMENSIONS)
    marks = ", ".join(["%s"] * (len(model.DIMENSIONS) + 2))
    return (f"INSERT INTO {q(table)} ({dims}, {q('count')}, {q('amount_chf')}) VALUES ({marks}) "
            f"ON CONFLICT ({dims}) DO UPDATE SET {q('count')} = {q(table)}.{q('count')} + EXCLUDED.{q('count')}, "
            f"{q('amount_chf')} = {q(table)}.{q('amount_chf')} + EXCLUDED.{q('amount_chf')}")


def record_event(event):
    """Count one event in the rollup (and its duration). Runs in the caller's transaction."""
    dims, amount = _dimensions(event)
    keys = [dims[d] for d in KpiCounts.KEYS]
    with connection.cursor() as cursor:
        cursor.execute(_upsert_sql(KpiDaily), [dims["day"], *keys, 1, str(amount)])
        cursor.execute(_upsert_sql(KpiMonthly), [dims["day"].replace(day=1), *keys, 1, str(amount)])
    if event.kind == EventKind.STATUS and event.to_status in DURATION_ENDS:
        measure, start_status = DURATION_ENDS[event.to_status]
        began = (ReferralEvent.objects.filter(referral_id=event.referral_id, kind=EventKind.STATUS,
                                              to_status=start_status)
                 .order_by("-created_at", "-id").values_list("created_at", flat=True).first())
        days = (event.created_at - began).total_seconds() / 86400 if began is not None else None
        KpiDuration.objects.update_or_create(event_id=event.pk, defaults={
            "day": dims["day"], "measure": measure, "receiver_kind": dims["receiver_kind"], "days": days,
            "planned_months": event.referral.planned_duration_months if measure == DurationMeasure.CASE else None})


def on_event_recorded(sender, event, **kwargs):
    record_event(event)


# --- Rebuild -------------------------------------------------------------------------------------------------

def _kind_or_blank(path):
    return Coalesce(F(path), Value(""), output_field=CharField())


def _rebuild_daily():
    zurich = timezone.get_current_timezone()
    rows = (ReferralEvent.objects.order_by()
            .values(day=TruncDate("created_at", tzinfo=zurich), event_kind=F("kind"), status=F("to_status"),
                    code=F("reason"),
                    closure_ground=Coalesce(KeyTextTransform("ground", "payload"), Value(""), output_field=CharField()),
                    referrer=_kind_or_blank("referral__referring_institution__kind"),
                    receiver=_kind_or_blank("referral__receiving_institution__kind"),
                    requester=_kind_or_blank("cost_approval__requesting_institution__kind"),
                    group=F("referral__target_group"))
            .annotate(n=Count("id"), amount=Coalesce(Sum("cost_approval__amount_chf"), Value(0),
                                                     output_field=DecimalField(max_digits=14, decimal_places=2))))
    batch, total = [], 0
    for row in rows.iterator(chunk_size=5000):
        batch.append(KpiDaily(day=row["day"], kind=row["event_kind"], to_status=row["status"] or "",
                              reason=row["code"] or "", ground=str(row["closure_ground"] or "")[:40],
                              referrer_kind=row["referrer"], receiver_kind=row["receiver"],
                              requester_kind=row["requester"], target_group=row["group"] or "",
                              count=row["n"], amount_chf=row["amount"] or 0))
        if len(batch) >= 5000:
            KpiDaily.objects.bulk_create(batch)
            total, batch = total + len(batch), []
    KpiDaily.objects.bulk_create(batch)
    return total + len(batch)


def _rebuild_monthly():
    """The monthly table from the daily one (already rebuilt): one grouped query."""
    rows = (KpiDaily.objects.order_by().values(*KpiCounts.KEYS, first_day=TruncMonth("day"))
            .annotate(n=Sum("count"), amount=Sum("amount_chf")))
    batch = [KpiMonthly(month=row["first_day"], count=row["n"], amount_chf=row["amount"] or 0,
                        **{key: row[key] for key in KpiCounts.KEYS}) for row in rows.iterator(chunk_size=5000)]
    KpiMonthly.objects.bulk_create(batch, batch_size=5000)
    return len(batch)


def _rebuild_durations():
    zurich = timezone.get_current_timezone()
    total = 0
    for end_status, (measure, start_status) in DURATION_ENDS.items():
        began = Subquery(ReferralEvent.objects.filter(referral=OuterRef("referral"), kind=EventKind.STATUS,
                                                      to_status=start_status)
                         .order_by("-created_at", "-id").values("created_at")[:1])
        rows = (ReferralEvent.objects.filter(kind=EventKind.STATUS, to_status=end_status).order_by()
                .annotate(began=began)
                .values_list("pk", "created_at", "began", "referral__receiving_institution__kind",
                             "referral__planned_duration_months"))
        batch = []
        for pk, at, start, receiver_kind, planned in rows.iterator(chunk_size=5000):
            batch.append(KpiDuration(
                event_id=pk, day=timezone.localtime(at, zurich).date(), measure=measure,
                receiver_kind=receiver_kind or "", days=(at - start).total_seconds() / 86400 if start else None,
                planned_months=planned if measure == DurationMeasure.CASE else None))
            if len(batch) >= 5000:
                KpiDuration.objects.bulk_create(batch)
                total, batch = total + len(batch), []
        KpiDuration.objects.bulk_create(batch)
        total += len(batch)
    return total


def rebuild():
    """Recompute the rollup from the event log (locks out concurrent event writes meanwhile). Returns rows."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                # New events wait until the rebuild is committed, so none is counted twice or missed.
                cursor.execute(f"LOCK TABLE {connection.ops.quote_name(ReferralEvent._meta.db_table)} "
                               "IN SHARE MODE")
        KpiDaily.objects.all().delete()
        KpiMonthly.objects.all().delete()
        KpiDuration.objects.all().delete()
        return _rebuild_daily() + _rebuild_monthly() + _rebuild_durations()

