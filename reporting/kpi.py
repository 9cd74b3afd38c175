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
import logging
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

from .models import (
    DURATION_PLANNED,
    DurationMeasure,
    KpiCounts,
    KpiDaily,
    KpiDuration,
    KpiDurationMonthly,
    KpiMoneyDaily,
    KpiMoneyMonthly,
    KpiMonthly,
)

logger = logging.getLogger(__name__)
NO_DURATION = -1  # KpiDurationMonthly.bucket of the rows without a duration (rollup.NO_DURATION)

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
    # COUNT(*), not COUNT(id): PostgreSQL then answers from the status index alone (an index-only scan, ~10 ms
    # for 54k open referrals) instead of reading every open referral's row (~0.2 s).
    rows = Referral.objects.filter(status__in=OPEN_STATUSES).values("status").annotate(n=Count("*")).order_by()
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
    return {"waiting": _oldest_waiting(limit=10)}


# The oldest referrals per waiting status, each piece read from the (status, status_changed_at) index, as one
# query. ``status IN (...) ORDER BY status_changed_at`` made PostgreSQL walk the index of every referral from
# the oldest change on, filtering out a million decided ones (2.5 s at 1 M referrals); a piece per status
# reads ten index entries.
WAITING_PIECE_SQL = """SELECT * FROM (
    SELECT r.id, r.reference, r.status, r.status_changed_at, ri.name AS referrer, rc.name AS receiver
    FROM {referral} r
    LEFT JOIN {institution} ri ON ri.id = r.referring_institution_id
    LEFT JOIN {institution} rc ON rc.id = r.receiving_institution_id
    WHERE r.status = %s ORDER BY r.status_changed_at, r.id LIMIT {limit}) AS w{index}"""


def _oldest_waiting(limit):
    from institutions.models import Institution

    sql = " UNION ALL ".join(
        WAITING_PIECE_SQL.format(referral=_q(Referral._meta.db_table), institution=_q(Institution._meta.db_table),
                                 limit=int(limit), index=index) for index in range(len(WAITING_STATUSES)))
    with connection.cursor() as cursor:
        cursor.execute(sql, [str(status) for status in WAITING_STATUSES])
        rows = cursor.fetchall()
    field = Referral._meta.get_field("status_changed_at")
    converters = connection.ops.get_db_converters(field.get_col(Referral._meta.db_table))
    waiting = []
    for pk, reference, status, changed_at, referrer, receiver in rows:
        for converter in converters:  # SQLite gives text or naive UTC: the ORM's own conversion makes it aware
            changed_at = converter(changed_at, field.get_col(Referral._meta.db_table), connection)
        waiting.append({"pk": pk, "reference": reference, "status": status, "status_changed_at": changed_at,
                        "referring_institution__name": referrer, "receiving_institution__name": receiver})
    return sorted(waiting, key=lambda w: (w["status_changed_at"], w["pk"]))[:limit]


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


# --- Durations from the rollup: exact medians and 90th percentiles reading a few rows ------------------------
# Phase 1 counts the durations of the period per bucket (``KpiDurationMonthly`` for the whole months,
# ``KpiDuration`` grouped for the edge days): the counts say which bucket holds the n-th smallest duration and
# at which offset. Phase 2 reads just those values, in one query of small ``ORDER BY days LIMIT .. OFFSET ..``
# pieces over the bucket indexes. The result is the formula of ``_summary`` on the values it needs, so it
# equals the computation over every duration (no approximation). Plain SQL: the same code on SQLite and
# PostgreSQL.

DURATION_GROUPS = ("all", *KINDS)


def _q(name):
    return connection.ops.quote_name(name)


def _days_sql(period, column="day"):
    """(SQL condition, params) for the days of the period on a date column."""
    parts, params = [], []
    if period.date_from is not None:
        parts.append(f"{_q(column)} >= %s")
        params.append(period.date_from)
    if period.date_to is not None:
        parts.append(f"{_q(column)} <= %s")
        params.append(period.date_to)
    return " AND ".join(parts) or "1 = 1", params


def _months_and_edges(period):
    """(SQL condition over whole months, over edge days; params of each) - as ``_split`` does for counts."""
    start, end = period.date_from, period.date_to
    first_full = start if start is None or start.day == 1 else _next_month(start)
    after_last_full = None if end is None else (
        _next_month(end) if _next_month(end) - datetime.timedelta(days=1) == end else end.replace(day=1))
    if first_full is not None and after_last_full is not None and first_full >= after_last_full:
        days_sql, days_params = _days_sql(period)
        return None, [], days_sql, days_params  # no whole month inside: days only
    month, day = _q("month"), _q("day")
    months, month_params = ["1 = 1"], []
    if first_full is not None:
        months.append(f"{month} >= %s")
        month_params.append(first_full)
    if after_last_full is not None:
        months.append(f"{month} < %s")
        month_params.append(after_last_full)
    edges, edge_params = ["1 = 0"], []
    if start is not None and start != first_full:
        edges.append(f"({day} >= %s AND {day} < %s)")
        edge_params += [start, first_full]
    if end is not None and after_last_full <= end:
        edges.append(f"({day} >= %s AND {day} <= %s)")
        edge_params += [after_last_full, end]
    return " AND ".join(months), month_params, " OR ".join(edges), edge_params


def _duration_histogram(period):
    """Phase 1, one query: {(measure, receiver kind): {bucket: [count, within plan]}} over the period."""
    months, month_params, edges, edge_params = _months_and_edges(period)
    duration, monthly = _q(KpiDuration._meta.db_table), _q(KpiDurationMonthly._meta.db_table)
    measure, kind, bucket, planned = _q("measure"), _q("receiver_kind"), _q("bucket"), _q("planned_months")
    parts = [
        f"SELECT {measure}, {kind}, COALESCE({bucket}, {NO_DURATION}), COUNT(*), "
        f"SUM(CASE WHEN {_q('within_plan')} THEN 1 ELSE 0 END) FROM {duration} WHERE {edges} "
        f"GROUP BY {measure}, {kind}, COALESCE({bucket}, {NO_DURATION})",
        f"SELECT %s, {kind}, {planned}, COUNT(*), 0 FROM {duration} "
        f"WHERE {measure} = %s AND {planned} > 0 AND ({edges}) GROUP BY {kind}, {planned}",
    ]
    params = [*edge_params, DURATION_PLANNED, DurationMeasure.CASE, *edge_params]
    if months is not None:
        parts.append(f"SELECT {measure}, {kind}, {bucket}, SUM({_q('count')}), SUM({_q('within_plan')}) "
                     f"FROM {monthly} WHERE {months} GROUP BY {measure}, {kind}, {bucket}")
        params += month_params
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        rows = cursor.fetchall()
    histogram = {}
    for row_measure, row_kind, row_bucket, n, within in rows:
        for group in ("all", row_kind):
            if group == "all" or group in KINDS:
                slot = histogram.setdefault((row_measure, group), {}).setdefault(row_bucket, [0, 0])
                slot[0] += n
                slot[1] += within or 0
    return histogram


def _ranks_needed(n, with_p90=True):
    """The 0-based ranks of the sorted values the median (and the 90th percentile) need."""
    if n == 0:
        return set()
    ranks = {(n - 1) // 2, n // 2}
    if with_p90 and n > 1:
        j = 9 * (n - 1) // 10
        ranks |= {j, j + 1}
    return ranks


def _locate(buckets, ranks):
    """{rank: (bucket, offset in the bucket)} from the counts per bucket (durations only, no -1)."""
    located, seen = {}, 0
    wanted = sorted(ranks)
    for bucket in sorted(b for b in buckets if b != NO_DURATION):
        n = buckets[bucket][0]
        while wanted and wanted[0] < seen + n:
            rank = wanted.pop(0)
            located[rank] = (bucket, rank - seen)
        seen += n
    return located


def _duration_values(period, wanted):
    """Phase 2, one query: the values at the given (measure, group, bucket, offset, how many) places."""
    days_sql, days_params = _days_sql(period)
    duration = _q(KpiDuration._meta.db_table)
    # Nothing wanted (no duration in the period): an empty read all the same, so the page costs the same
    # number of queries whatever the data (the tests pin it).
    pieces, params = [f"SELECT -1 AS piece, {_q('days')} FROM {duration} WHERE 1 = 0"], []
    for index, (measure, group, bucket, offset, limit) in enumerate(wanted):
        kind_sql = "" if group == "all" else f" AND {_q('receiver_kind')} = %s"
        pieces.append(f"SELECT * FROM (SELECT {index} AS piece, {_q('days')} FROM {duration} "
                      f"WHERE {_q('measure')} = %s{kind_sql} AND {_q('bucket')} = %s AND {days_sql} "
                      f"ORDER BY {_q('days')} LIMIT {int(limit)} OFFSET {int(offset)}) AS p{index}")
        params += [measure, *([] if group == "all" else [group]), bucket, *days_params]
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(pieces), params)
        rows = cursor.fetchall()
    found = {}
    for piece, days in rows:
        found.setdefault(piece, []).append(days)
    values = {}
    for index, (measure, group, bucket, offset, _limit) in enumerate(wanted):
        for i, days in enumerate(sorted(found.get(index, []))):
            values[(measure, group, bucket, offset + i)] = days
    return values


class RollupOutOfStep(Exception):
    """The histogram promised a value that KpiDuration does not have: rebuild the rollup."""


def _order_statistics(period, histogram, needs):
    """{(measure, group): {rank: value}} for the ranks in `needs` {(measure, group): ranks}: one query."""
    located = {key: _locate(histogram.get(key, {}), ranks) for key, ranks in needs.items()}
    wanted = []  # adjacent ranks in one bucket are one piece (LIMIT 2)
    for (measure, group), places in located.items():
        by_bucket = {}
        for bucket, offset in places.values():
            by_bucket.setdefault(bucket, set()).add(offset)
        for bucket, offsets in by_bucket.items():
            first = min(offsets)
            wanted.append((measure, group, bucket, first, max(offsets) - first + 1))
    values = _duration_values(period, wanted)
    result = {}
    for key, places in located.items():
        try:
            result[key] = {rank: values[(*key, bucket, offset)] for rank, (bucket, offset) in places.items()}
        except KeyError as missing:
            raise RollupOutOfStep(missing) from None
        if len(places) != len(needs[key]):
            raise RollupOutOfStep(key)
    return result


def _median_of(values, n, scale=None):
    """statistics.median over n sorted values, of which ``values`` {rank: value} has the middle ones."""
    middle = [values[(n - 1) // 2]] if n % 2 else [values[n // 2 - 1], values[n // 2]]
    return statistics.median([v / scale for v in middle] if scale else middle)


def _p90_of(values, n):
    """statistics.quantiles(n=10, method="inclusive")[8] (one value: itself), the same arithmetic."""
    if n == 1:
        return values[0]
    j, delta = divmod(9 * (n - 1), 10)
    return (values[j] * (10 - delta) + values[j + 1] * delta) / 10


def _planned_median(buckets):
    """The median of the planned months (whole numbers) from their histogram, as statistics.median gives it."""
    n = sum(count for count, _within in buckets.values())
    if not n:
        return None
    ranks, values, seen = sorted({(n - 1) // 2, n // 2}), {}, 0
    for months in sorted(buckets):
        count = buckets[months][0]
        for rank in ranks:
            if seen <= rank < seen + count:
                values[rank] = months
        seen += count
    return round(float(_median_of(values, n)), 1)


def _durations_from_rollup(period):
    """Waiting times and case durations from the histogram and the few durations they need: two queries."""
    histogram = _duration_histogram(period)
    counts = {key: sum(c for b, (c, _w) in buckets.items() if b != NO_DURATION) for key, buckets in
              histogram.items()}
    waits = (("decision", DurationMeasure.DECISION), ("handover", DurationMeasure.HANDOVER))
    needs = {(measure, group): _ranks_needed(counts.get((measure, group), 0))
             for _key, measure in waits for group in DURATION_GROUPS}
    needs.update({(DurationMeasure.CASE, group): _ranks_needed(counts.get((DurationMeasure.CASE, group), 0),
                                                               with_p90=False) for group in DURATION_GROUPS})
    try:
        values = _order_statistics(period, histogram, needs)
    except RollupOutOfStep:
        logger.exception("The KPI duration rollup is out of step with its histogram; run rebuild_kpi_rollup.")
        return _durations_from_rows(period)
    waiting = {}
    for key, measure in waits:
        waiting[key] = {}
        for group in DURATION_GROUPS:
            n = counts.get((measure, group), 0)
            found = values[(measure, group)]
            waiting[key][group] = {"count": n, "median": round(_median_of(found, n), 1) if n else None,
                                   "p90": round(_p90_of(found, n), 1) if n else None}
    durations = {}
    for group in DURATION_GROUPS:
        buckets = histogram.get((DurationMeasure.CASE, group), {})
        n = counts.get((DurationMeasure.CASE, group), 0)
        durations[group] = {
            "count": sum(c for c, _w in buckets.values()),
            "median_actual_months": round(_median_of(values[(DurationMeasure.CASE, group)], n, DAYS_PER_MONTH), 1)
            if n else None,
            "median_planned_months": _planned_median(histogram.get((DURATION_PLANNED, group), {})),
            "within_plan": sum(w for _c, w in buckets.values()),
        }
    return waiting, durations


def _durations_from_rows(period):
    """The same figures from every KpiDuration row of the period (the safety net if the histogram is off)."""
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


def _money_from_rollup(period):
    """``_money_by_institution`` from ``KpiMoneyMonthly`` (whole months) and ``KpiMoneyDaily`` (edge days): one
    query. Grouped by the institution's name, as the computation from the events does."""
    months, days = _split(period)
    name = "financing_institution__name"
    sums = {"approved": Sum("approved_chf"), "invoiced": Sum("invoiced_chf")}
    rows = KpiMoneyDaily.objects.filter(days if months is not None else _day_q(period)).order_by() \
        .values(name).annotate(**sums)
    if months is not None:
        rows = rows.union(KpiMoneyMonthly.objects.filter(months).order_by().values(name).annotate(**sums), all=True)
    totals = {}
    for row in rows:
        total = totals.setdefault(row[name], [Decimal("0"), Decimal("0")])
        total[0] += row["approved"] or 0
        total[1] += row["invoiced"] or 0
    return [{"institution": key, "approved": _chf(a), "invoiced": _chf(i), "open": _chf(a - i)}
            for key, (a, i) in sorted(totals.items())]


def sheet(period=None):
    """The pilot's sheet for `period`, from the rollup (one query, whatever the number of events)."""
    period = period or Period()
    values, _flows, _groups, _grounds = _values_from_rollup(rollup_totals(period))
    return _sheet_from(values, period)


def compute(period=None, today=None):
    """The sheet and everything beyond it that can be stored and exported: aggregates, no client data.

    From the rollup, a fixed number of queries whatever the period and the number of events: totals, trend,
    durations (two: histogram, then the few values it points at), money per institution and open referrals.
    Equal to ``compute_from_events``.
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
            "money_by_institution": _money_from_rollup(period),
            "open_now": _open_now(),
            "trend": _trend_from_rollup(period, today),
        },
    }
