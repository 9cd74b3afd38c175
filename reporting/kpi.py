"""The OPTIMA KPI sheet and the figures beyond it, computed in the database from the event log.

Counting rule (DOMAIN.md, "The KPI sheet"): each figure counts the events that happened in the period -
a referral submitted in the period, accepted in the period, closed in the period... - so the sheet of all
time equals the pilot's cumulative sheet. A referral withdrawn as a draft was never submitted and never
counts.

Every function here runs a fixed number of queries, whatever the number of referrals: the sheet is one
aggregate query over ``ReferralEvent``; each further figure is one grouped query. Medians and percentiles
are computed in Python over the durations one ``values_list`` query returns (still one query; SQLite has
no percentile aggregate). No client data is read.
"""

import datetime
import statistics
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection
from django.db.models import Count, F, OuterRef, Q, Subquery, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from referrals.models import (
    ClosureGround,
    ClosureOutcome,
    CostApprovalStatus,
    EventKind,
    Referral,
    ReferralEvent,
    RejectionReason,
    Status,
)

from .models import DurationMeasure, KpiCounts, KpiDaily, KpiDuration, KpiMonthly

KINDS = ("iv", "rav", "social")
REJECTION_REASONS = (
    RejectionReason.IV_REJECTION_RECENT, RejectionReason.NO_INTACT_WORK_OFFER, RejectionReason.NO_CAPACITY,
    RejectionReason.GOAL_NOT_FEASIBLE, RejectionReason.OTHER,
)
OUTCOMES = (ClosureOutcome.SUCCESSFUL, ClosureOutcome.PARTIAL, ClosureOutcome.NOT_ACHIEVED, ClosureOutcome.OTHER)
COST_STATES = (CostApprovalStatus.REQUESTED, CostApprovalStatus.APPROVED, CostApprovalStatus.REFUSED)
TARGET_GROUPS = tuple("ABCDEFGHI")
WAITING_STATUSES = (Status.SUBMITTED, Status.ACCEPTED)
OPEN_STATUSES = (Status.SUBMITTED, Status.ACCEPTED, Status.ACTIVE)
DAYS_PER_MONTH = 365.25 / 12

REFERRER_KIND = "referral__referring_institution__kind"
RECEIVER_KIND = "referral__receiving_institution__kind"
REQUESTER_KIND = "cost_approval__requesting_institution__kind"


@dataclass(frozen=True)
class Period:
    """Calendar days from ``date_from`` to ``date_to``, both included, in the site's time zone (Zurich).

    None on either side means open: no start (since the beginning) or no end (until now).
    """

    date_from: datetime.date | None = None
    date_to: datetime.date | None = None

    @property
    def start(self):
        if self.date_from is None:
            return None
        return timezone.make_aware(datetime.datetime.combine(self.date_from, datetime.time.min))

    @property
    def end(self):
        """The first moment after the period (midnight after the last day, Zurich time)."""
        if self.date_to is None:
            return None
        next_day = self.date_to + datetime.timedelta(days=1)
        return timezone.make_aware(datetime.datetime.combine(next_day, datetime.time.min))

    def q(self, field="created_at"):
        condition = Q()
        if self.start is not None:
            condition &= Q(**{f"{field}__gte": self.start})
        if self.end is not None:
            condition &= Q(**{f"{field}__lt": self.end})
        return condition

    def as_json(self):
        return {"from": self.date_from.isoformat() if self.date_from else None,
                "to": self.date_to.isoformat() if self.date_to else None}

    @classmethod
    def from_json(cls, data):
        data = data or {}
        parse = datetime.date.fromisoformat
        return cls(parse(data["from"]) if data.get("from") else None, parse(data["to"]) if data.get("to") else None)


def _status(to_status):
    return Q(kind=EventKind.STATUS, to_status=to_status)


def _cost(to_status):
    return Q(kind=EventKind.COST_APPROVAL, to_status=to_status)


def _event_aggregates(period):
    """One query: every count of the sheet plus the cost approval amounts, as a flat dict."""
    submitted, accepted = _status(Status.SUBMITTED), _status(Status.ACCEPTED)
    rejected, closed = _status(Status.REJECTED), _status(Status.CLOSED)
    a = {"applications": Count("id", filter=submitted), "accepted": Count("id", filter=accepted),
         "rejected": Count("id", filter=rejected), "closed": Count("id", filter=closed)}
    for kind in KINDS:
        a[f"referrers_{kind}"] = Count("id", filter=submitted & Q(**{REFERRER_KIND: kind}))
        a[f"receivers_{kind}"] = Count("id", filter=submitted & Q(**{RECEIVER_KIND: kind}))
        # Closed cases count for the leading institution, i.e. the receiver.
        a[f"closed_{kind}"] = Count("id", filter=closed & Q(**{RECEIVER_KIND: kind}))
        for outcome in OUTCOMES:
            a[f"outcome_{outcome}_{kind}"] = Count("id", filter=closed & Q(reason=outcome, **{RECEIVER_KIND: kind}))
        for state in COST_STATES:
            in_kind = _cost(state) & Q(**{REQUESTER_KIND: kind})
            a[f"cost_{state}_{kind}"] = Count("id", filter=in_kind)
            a[f"amount_{state}_{kind}"] = Sum("cost_approval__amount_chf", filter=in_kind)
    for reason in REJECTION_REASONS:
        a[f"rejected_{reason}"] = Count("id", filter=rejected & Q(reason=reason))
    relevant = (Q(kind=EventKind.STATUS, to_status__in=[Status.SUBMITTED, Status.ACCEPTED, Status.REJECTED,
                                                         Status.CLOSED])
                | Q(kind=EventKind.COST_APPROVAL, to_status__in=list(COST_STATES)))
    return ReferralEvent.objects.filter(relevant, period.q()).aggregate(**a)


def _per_kind(values, prefix, with_total=True):
    result = {"total": sum(values[f"{prefix}_{kind}"] or 0 for kind in KINDS)} if with_total else {}
    result.update({kind: values[f"{prefix}_{kind}"] or 0 for kind in KINDS})
    return result


def _sheet_from(values, period):
    """The API's shape, exactly (issue 5): keys are the codes of DOMAIN.md, kinds iv/rav/social."""
    return {
        "period": period.as_json(),
        "referrers": _per_kind(values, "referrers", with_total=False),
        "receivers": _per_kind(values, "receivers", with_total=False),
        "applications": values["applications"],
        "accepted": values["accepted"],
        "rejected": {"total": values["rejected"],
                     **{str(reason): values[f"rejected_{reason}"] for reason in REJECTION_REASONS}},
        "cost_approvals": {str(state): _per_kind(values, f"cost_{state}") for state in COST_STATES},
        "closed": _per_kind(values, "closed"),
        "closure_outcomes": {str(outcome): _per_kind(values, f"outcome_{outcome}") for outcome in OUTCOMES},
    }


def sheet_from_events(period=None):
    """The pilot's sheet for `period` straight from the event log (one query; the reference for the rollup)."""
    period = period or Period()
    return _sheet_from(_event_aggregates(period), period)


# --- Beyond the pilot's sheet ----------------------------------------------------------------------------


def _summary(values):
    """Count, median and 90th percentile (days, one decimal) of durations already loaded by one query."""
    values = sorted(v for v in values if v is not None)
    if not values:
        return {"count": 0, "median": None, "p90": None}
    p90 = values[0] if len(values) == 1 else statistics.quantiles(values, n=10, method="inclusive")[8]
    return {"count": len(values), "median": round(statistics.median(values), 1), "p90": round(p90, 1)}


def _days(later, earlier):
    if later is None or earlier is None:
        return None
    return (later - earlier).total_seconds() / 86400


def _moment_of(to_status):
    """Subquery: when the event's referral last reached `to_status` (the start of a waiting time)."""
    return Subquery(
        ReferralEvent.objects.filter(referral=OuterRef("referral"), kind=EventKind.STATUS, to_status=to_status)
        .order_by("-created_at", "-id").values("created_at")[:1]
    )


def _flows(period):
    """Submissions by referrer kind, receiver kind and target group (one grouped query)."""
    rows = (ReferralEvent.objects.filter(_status(Status.SUBMITTED), period.q())
            .values(source=F(REFERRER_KIND), target=F(RECEIVER_KIND), group=F("referral__target_group"))
            .annotate(n=Count("id")).order_by())
    flows = {source: dict.fromkeys(KINDS, 0) for source in KINDS}
    groups = dict.fromkeys((*TARGET_GROUPS, "none"), 0)
    for row in rows:
        if row["source"] in flows and row["target"] in KINDS:
            flows[row["source"]][row["target"]] += row["n"]
        groups[row["group"] if row["group"] in TARGET_GROUPS else "none"] += row["n"]
    return flows, groups


def _waiting_times(period):
    """Submission to decision, acceptance to handover meeting: median and 90th percentile in days."""
    decisions = (ReferralEvent.objects.filter(period.q(), kind=EventKind.STATUS,
                                              to_status__in=[Status.ACCEPTED, Status.REJECTED])
                 .annotate(began=_moment_of(Status.SUBMITTED)).values_list("created_at", "began", RECEIVER_KIND))
    handovers = (ReferralEvent.objects.filter(period.q(), kind=EventKind.STATUS,
                                              to_status__in=[Status.ACTIVE, Status.NOT_STARTED])
                 .annotate(began=_moment_of(Status.ACCEPTED)).values_list("created_at", "began", RECEIVER_KIND))
    result = {}
    for key, rows in (("decision", list(decisions)), ("handover", list(handovers))):
        result[key] = {"all": _summary(_days(at, began) for at, began, _kind in rows)}
        for kind in KINDS:
            result[key][kind] = _summary(_days(at, began) for at, began, k in rows if k == kind)
    return result


def _case_durations(period):
    """Closed cases: months from the start of case work (handover agreed) to closing, against the plan."""
    rows = list(ReferralEvent.objects.filter(_status(Status.CLOSED), period.q())
                .annotate(began=_moment_of(Status.ACTIVE))
                .values_list("created_at", "began", "referral__planned_duration_months", RECEIVER_KIND))
    result = {}
    for kind in ("all", *KINDS):
        selected = [r for r in rows if kind == "all" or r[3] == kind]
        actual = [_days(at, began) / DAYS_PER_MONTH for at, began, _p, _k in selected if began is not None]
        planned = [p for _a, _b, p, _k in selected if p]
        within = sum(1 for at, began, p, _k in selected
                     if began is not None and p and _days(at, began) / DAYS_PER_MONTH <= p + 0.5)
        result[kind] = {
            "count": len(selected),
            "median_actual_months": round(statistics.median(actual), 1) if actual else None,
            "median_planned_months": round(float(statistics.median(planned)), 1) if planned else None,
            "within_plan": within,
        }
    return result


def _closure_grounds(period):
    rows = (ReferralEvent.objects.filter(_status(Status.CLOSED), period.q())
            .values(ground=F("payload__ground")).annotate(n=Count("id")).order_by())
    grounds = dict.fromkeys(ClosureGround.values, 0)
    for row in rows:
        key = row["ground"] if row["ground"] in grounds else ClosureGround.OTHER
        grounds[key] += row["n"]
    return grounds


def _open_now():
    """Open referrals by status today (not bound to the period: it is the state of things now)."""
    rows = Referral.objects.filter(status__in=OPEN_STATUSES).values("status").annotate(n=Count("id")).order_by()
    counts = dict.fromkeys((str(s) for s in OPEN_STATUSES), 0)
    for row in rows:
        counts[row["status"]] = row["n"]
    return counts


def _trend(period, today):
    """Applications and closures per calendar month (Zurich), every month of the period listed."""
    zurich = timezone.get_current_timezone()
    rows = (ReferralEvent.objects.filter(period.q(), kind=EventKind.STATUS,
                                         to_status__in=[Status.SUBMITTED, Status.CLOSED])
            .annotate(month=TruncMonth("created_at", tzinfo=zurich)).values("month", "to_status")
            .annotate(n=Count("id")).order_by("month"))
    counts = {}
    for row in rows:
        month = timezone.localtime(row["month"], zurich).date() if isinstance(row["month"], datetime.datetime) \
            else row["month"]
        counts.setdefault(month.replace(day=1), {})[row["to_status"]] = row["n"]
    return _months(counts, period, today)


def _months(counts, period, today):
    """Every month of the period with its applications and closures ({month: {status: n}} given)."""
    first = period.date_from or (min(counts) if counts else None)
    last = period.date_to or max([today, *counts])
    if first is None:
        return []
    months, month = [], first.replace(day=1)
    while month <= last and len(months) < 240:
        values = counts.get(month, {})
        months.append({"month": month.strftime("%Y-%m"), "applications": values.get(Status.SUBMITTED, 0),
                       "closed": values.get(Status.CLOSED, 0)})
        month = (month + datetime.timedelta(days=32)).replace(day=1)
    return months


def _chf(value):
    return str(Decimal(value or 0).quantize(Decimal("0.01")))


def _cost_amounts(values):
    """Sums in CHF (as strings, exact) per kind of the requesting institution."""
    result = {}
    for state in COST_STATES:
        per_kind = {kind: values[f"amount_{state}_{kind}"] or 0 for kind in KINDS}
        result[str(state)] = {"total": _chf(sum(per_kind.values())), **{k: _chf(v) for k, v in per_kind.items()}}
    return result


def _money_by_institution(period):
    """Approved, invoiced and open amounts in CHF per financing institution (issue 11). Two queries.

    Approved: cost approvals signed in the period; invoiced: provider invoices recorded in the period; open: the
    difference (negative where more was invoiced than approved in the period)."""
    approved = dict(ReferralEvent.objects.filter(period.q(), kind=EventKind.COST_APPROVAL, to_status="approved")
                    .values_list("cost_approval__financing_institution__name")
                    .annotate(total=Sum("cost_approval__amount_chf")).values_list(
                        "cost_approval__financing_institution__name", "total"))
    invoiced = dict(ReferralEvent.objects.filter(period.q(), kind=EventKind.INVOICE, to_status="recorded")
                    .values_list("invoice__financing_institution__name")
                    .annotate(total=Sum("invoice__amount_chf")).values_list(
                        "invoice__financing_institution__name", "total"))
    rows = []
    for name in sorted(set(approved) | set(invoiced)):
        a, i = approved.get(name) or Decimal("0"), invoiced.get(name) or Decimal("0")
        rows.append({"institution": name, "approved": _chf(a), "invoiced": _chf(i), "open": _chf(a - i)})
    return rows


def compute_from_events(period=None, today=None):
    """The figures straight from the event log: the reference the rollup is checked against (and the
    computation before issue 14). Its cost grows with the number of events; the pages use ``compute``."""
    period = period or Period()
    today = today or timezone.localdate()
    values = _event_aggregates(period)
    flows, groups = _flows(period)
    return {
        "period": period.as_json(),
        "generated_at": timezone.localtime().isoformat(timespec="seconds"),
        "sheet": _sheet_from(values, period),
        "extras": {
            "flows": flows,
            "target_groups": groups,
            "waiting_times": _waiting_times(period),
            "case_durations": _case_durations(period),
            "closure_grounds": _closure_grounds(period),
            "cost_amounts": _cost_amounts(values),
            "money_by_institution": _money_by_institution(period),
            "open_now": _open_now(),
            "trend": _trend(period, today),
        },
    }


def page_details(period=None, limit=100):
    """What the page shows beyond the stored figures: the oldest waiting referrals (references and institutions;
    no client names). One query.

    The free texts written with rejections and closures are not shown here: the coordinator gets codes, not texts
    (need to know, issue 9); the KPI sheet counts the codes."""
    waiting = list(Referral.objects.filter(status__in=WAITING_STATUSES)
                   .values("pk", "reference", "status", "status_changed_at", "referring_institution__name",
                           "receiving_institution__name").order_by("status_changed_at", "pk")[:10])
    return {"waiting": waiting}


# --- From the rollup (issue 14): the same figures at a cost independent of the number of events ---------------
# ``reporting.rollup`` keeps ``KpiDaily`` (counts per day and dimensions) and ``KpiDuration`` (one row per
# measured duration) in step with the events. A period is whole Zurich days, so summing its days is exact.


def _day_q(period):
    condition = Q()
    if period.date_from is not None:
        condition &= Q(day__gte=period.date_from)
    if period.date_to is not None:
        condition &= Q(day__lte=period.date_to)
    return condition


def _next_month(day):
    return (day.replace(day=1) + datetime.timedelta(days=32)).replace(day=1)


def _split(period):
    """(Q over KpiMonthly for the whole months of the period, Q over KpiDaily for its edge days)."""
    start, end = period.date_from, period.date_to
    first_full = start if start is None or start.day == 1 else _next_month(start)
    after_last_full = None if end is None else (
        _next_month(end) if _next_month(end) - datetime.timedelta(days=1) == end else end.replace(day=1))
    if first_full is not None and after_last_full is not None and first_full >= after_last_full:
        return None, _day_q(period)  # no whole month inside: days only
    months = Q()
    if first_full is not None:
        months &= Q(month__gte=first_full)
    if after_last_full is not None:
        months &= Q(month__lt=after_last_full)
    days = Q(pk__in=[])
    if start is not None and start != first_full:
        days |= Q(day__gte=start, day__lt=first_full)
    if end is not None and after_last_full <= end:
        days |= Q(day__gte=after_last_full, day__lte=end)
    return months, days


def _from_rollup(period, fields, filters, **aggregates):
    """Rows grouped by `fields` over the period: whole months from KpiMonthly, edge days from KpiDaily, as one
    UNION ALL query (rows of the two parts are added up by the callers)."""
    months, days = _split(period)
    daily = KpiDaily.objects.filter(days, **filters).order_by().values(*fields).annotate(**aggregates)
    if months is None:
        return list(daily)
    monthly = KpiMonthly.objects.filter(months, **filters).order_by().values(*fields).annotate(**aggregates)
    return list(monthly.union(daily, all=True))


def rollup_totals(period, **filters):
    """Grouped totals of the rollup over the period (one query), rows of the dimensions with ``n`` and
    ``amount`` (a dimension combination may come twice: add up). A new KPI counting events reads it here."""
    return _from_rollup(period, KpiCounts.KEYS, filters, n=Sum("count"), amount=Sum("amount_chf"))


def _values_from_rollup(rows):
    """The flat dict of ``_event_aggregates`` from the rollup's rows, plus flows, groups and grounds."""
    keys = ["applications", "accepted", "rejected", "closed"]
    for kind in KINDS:
        keys += [f"referrers_{kind}", f"receivers_{kind}", f"closed_{kind}"]
        keys += [f"outcome_{outcome}_{kind}" for outcome in OUTCOMES]
        keys += [f"cost_{state}_{kind}" for state in COST_STATES]
    keys += [f"rejected_{reason}" for reason in REJECTION_REASONS]
    values = dict.fromkeys(keys, 0)
    values.update({f"amount_{state}_{kind}": Decimal(0) for state in COST_STATES for kind in KINDS})
    flows = {source: dict.fromkeys(KINDS, 0) for source in KINDS}
    groups = dict.fromkeys((*TARGET_GROUPS, "none"), 0)
    grounds = dict.fromkeys(ClosureGround.values, 0)
    for row in rows:
        n, status = row["n"], row["to_status"]
        if row["kind"] == EventKind.COST_APPROVAL and status in COST_STATES:
            kind = row["requester_kind"]
            if kind in KINDS:
                values[f"cost_{status}_{kind}"] += n
                values[f"amount_{status}_{kind}"] += Decimal(row["amount"] or 0)
            continue
        if row["kind"] != EventKind.STATUS:
            continue
        source, target = row["referrer_kind"], row["receiver_kind"]
        if status == Status.SUBMITTED:
            values["applications"] += n
            if source in KINDS:
                values[f"referrers_{source}"] += n
            if target in KINDS:
                values[f"receivers_{target}"] += n
            if source in flows and target in KINDS:
                flows[source][target] += n
            groups[row["target_group"] if row["target_group"] in TARGET_GROUPS else "none"] += n
        elif status == Status.ACCEPTED:
            values["accepted"] += n
        elif status == Status.REJECTED:
            values["rejected"] += n
            if row["reason"] in REJECTION_REASONS:
                values[f"rejected_{row['reason']}"] += n
        elif status == Status.CLOSED:
            values["closed"] += n
            grounds[row["ground"] if row["ground"] in grounds else ClosureGround.OTHER] += n
            if target in KINDS:
                values[f"closed_{target}"] += n
                if row["reason"] in OUTCOMES:
                    values[f"outcome_{row['reason']}_{target}"] += n
    return values, flows, groups, grounds


def _trend_from_rollup(period, today):
    months, days = _split(period)
    filters = {"kind": EventKind.STATUS, "to_status__in": [Status.SUBMITTED, Status.CLOSED]}
    daily = (KpiDaily.objects.filter(days if months is not None else _day_q(period), **filters).order_by()
             .values("to_status", first=F("day")).annotate(n=Sum("count")))
    rows = daily if months is None else daily.union(
        KpiMonthly.objects.filter(months, **filters).order_by().values("to_status", first=F("month"))
        .annotate(n=Sum("count")), all=True)
    counts = {}
    for row in rows:
        month = counts.setdefault(row["first"].replace(day=1), {})
        month[row["to_status"]] = month.get(row["to_status"], 0) + row["n"]
    return _months(counts, period, today)


DURATIONS_SQL = """
SELECT measure, receiver_kind, GROUPING(receiver_kind), count(*), count(days),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY days), percentile_cont(0.9) WITHIN GROUP (ORDER BY days),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY planned_months) FILTER (WHERE planned_months > 0),
       count(*) FILTER (WHERE days IS NOT NULL AND planned_months > 0 AND days / %(dpm)s <= planned_months + 0.5)
FROM reporting_kpiduration
WHERE (%(start)s::date IS NULL OR day >= %(start)s) AND (%(end)s::date IS NULL OR day <= %(end)s)
GROUP BY GROUPING SETS ((measure, receiver_kind), (measure))
"""


def _durations_in_postgres(period):
    """The same figures with PostgreSQL's percentile_cont (linear interpolation, like statistics.quantiles'
    "inclusive" method): a few grouped rows instead of every duration of the period."""
    with connection.cursor() as cursor:
        cursor.execute(DURATIONS_SQL, {"dpm": DAYS_PER_MONTH, "start": period.date_from, "end": period.date_to})
        rows = cursor.fetchall()
    found = {}
    for measure, kind, grouped, n, n_days, median, p90, planned, within in rows:
        found[(measure, "all" if grouped else kind)] = (n, n_days, median, p90, planned, within)
    empty = (0, 0, None, None, None, 0)
    waiting = {}
    for key, measure in (("decision", DurationMeasure.DECISION), ("handover", DurationMeasure.HANDOVER)):
        waiting[key] = {}
        for kind in ("all", *KINDS):
            _n, n_days, median, p90, _p, _w = found.get((measure, kind), empty)
            waiting[key][kind] = {"count": n_days, "median": round(median, 1) if n_days else None,
                                  "p90": round(p90, 1) if n_days else None}
    durations = {}
    for kind in ("all", *KINDS):
        n, n_days, median, _p90, planned, within = found.get((DurationMeasure.CASE, kind), empty)
        durations[kind] = {
            "count": n,
            "median_actual_months": round(median / DAYS_PER_MONTH, 1) if n_days else None,
            "median_planned_months": round(float(planned), 1) if planned is not None else None,
            "within_plan": within,
        }
    return waiting, durations


def _durations_from_rollup(period):
    """Waiting times and case durations from ``KpiDuration``: one narrow query, no subquery per event."""
    if connection.vendor == "postgresql":
        return _durations_in_postgres(period)
    rows = list(KpiDuration.objects.filter(_day_q(period)).order_by()
                .values_list("measure", "receiver_kind", "days", "planned_months"))
    waiting = {}
    for key, measure in (("decision", DurationMeasure.DECISION), ("handover", DurationMeasure.HANDOVER)):
        selected = [(kind, days) for m, kind, days, _p in rows if m == measure]
        waiting[key] = {"all": _summary(days for _k, days in selected)}
        for kind in KINDS:
            waiting[key][kind] = _summary(days for k, days in selected if k == kind)
    closed = [(kind, days, planned) for m, kind, days, planned in rows if m == DurationMeasure.CASE]
    durations = {}
    for kind in ("all", *KINDS):
        selected = [r for r in closed if kind == "all" or r[0] == kind]
        actual = [days / DAYS_PER_MONTH for _k, days, _p in selected if days is not None]
        planned = [p for _k, _d, p in selected if p]
        within = sum(1 for _k, days, p in selected if days is not None and p and days / DAYS_PER_MONTH <= p + 0.5)
        durations[kind] = {
            "count": len(selected),
            "median_actual_months": round(statistics.median(actual), 1) if actual else None,
            "median_planned_months": round(float(statistics.median(planned)), 1) if planned else None,
            "within_plan": within,
        }
    return waiting, durations


def sheet(period=None):
    """The pilot's sheet for `period`, from the rollup (one query, whatever the number of events)."""
    period = period or Period()
    values, _flows, _groups, _grounds = _values_from_rollup(rollup_totals(period))
    return _sheet_from(values, period)


def compute(period=None, today=None):
    """The sheet and everything beyond it that can be stored and exported: aggregates, no client data.

    From the rollup: four queries (totals, trend, durations, open referrals); equal to ``compute_from_events``.
    """
    period = period or Period()
    today = today or timezone.localdate()
    values, flows, groups, grounds = _values_from_rollup(rollup_totals(period))
    waiting, durations = _durations_from_rollup(period)
    return {
        "period": period.as_json(),
        "generated_at": timezone.localtime().isoformat(timespec="seconds"),
        "sheet": _sheet_from(values, period),
        "extras": {
            "flows": flows,
            "target_groups": groups,
            "waiting_times": waiting,
            "case_durations": durations,
            "closure_grounds": grounds,
            "cost_amounts": _cost_amounts(values),
            "money_by_institution": _money_by_institution(period),
            "open_now": _open_now(),
            "trend": _trend_from_rollup(period, today),
        },
    }
