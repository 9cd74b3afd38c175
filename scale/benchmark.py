"""The benchmark table of issue 14, item 4: KPI queries vs hand-written SQL, pages vs the login page, query
counts, the report task's time and peak memory, and the time of model C's balance (loaded with the KPI page). Run
it with ``manage.py benchmark`` on a generated dataset.

Server time of a page is measured in-process with Django's test client (no network, no gunicorn): the time from
request to response, the same for every page, so the ratio to the login page is what counts. Beside it, the
page's own statements replayed as they are through a bare cursor ("its SQL alone"): what the database costs the
page with no Django around it, i.e. a floor that no change to the Python side can go under. The load scenario
with concurrent clients against gunicorn is scripts/locustfile.py (see docs/PERFORMANCE.md).
"""

import datetime
import random
import statistics
import time
import tracemalloc

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import DatabaseError, connection, transaction
from django.db.models import Count
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.services import SESSION_MFA_STATE
from billing import selectors as billing_selectors
from institutions.models import Membership
from referrals.models import Referral, ReferralEvent
from reporting import kpi, services
from reporting.models import ReportSnapshot

# The sheet as one hand-written GROUP BY over the events (what a DBA would write for the pilot's layout).
SHEET_SQL = """
SELECT e.kind, e.to_status, e.reason, ri.kind, rc.kind, ci.kind, count(*), sum(ca.amount_chf)
FROM referrals_referralevent e
JOIN referrals_referral r ON r.id = e.referral_id
JOIN institutions_institution ri ON ri.id = r.referring_institution_id
LEFT JOIN institutions_institution rc ON rc.id = r.receiving_institution_id
LEFT JOIN referrals_costapproval ca ON ca.id = e.cost_approval_id
LEFT JOIN institutions_institution ci ON ci.id = ca.requesting_institution_id
WHERE ((e.kind = 'status' AND e.to_status IN ('submitted', 'accepted', 'rejected', 'closed'))
       OR (e.kind = 'cost_approval' AND e.to_status IN ('requested', 'approved', 'refused')))
  AND (%(start)s::timestamptz IS NULL OR e.created_at >= %(start)s)
  AND (%(end)s::timestamptz IS NULL OR e.created_at < %(end)s)
GROUP BY 1, 2, 3, 4, 5, 6
"""
# Every KPI table: the sheet's groups plus flows/groups/grounds, the monthly trend and the three durations
# (window functions instead of a subquery per event).
ALL_SQL = [
    SHEET_SQL,
    """SELECT ri.kind, rc.kind, r.target_group, e.payload->>'ground', count(*)
       FROM referrals_referralevent e JOIN referrals_referral r ON r.id = e.referral_id
       JOIN institutions_institution ri ON ri.id = r.referring_institution_id
       LEFT JOIN institutions_institution rc ON rc.id = r.receiving_institution_id
       WHERE e.kind = 'status' AND e.to_status IN ('submitted', 'closed')
         AND (%(start)s::timestamptz IS NULL OR e.created_at >= %(start)s)
         AND (%(end)s::timestamptz IS NULL OR e.created_at < %(end)s)
       GROUP BY 1, 2, 3, 4""",
    """SELECT date_trunc('month', e.created_at AT TIME ZONE 'Europe/Zurich'), e.to_status, count(*)
       FROM referrals_referralevent e WHERE e.kind = 'status' AND e.to_status IN ('submitted', 'closed')
         AND (%(start)s::timestamptz IS NULL OR e.created_at >= %(start)s)
         AND (%(end)s::timestamptz IS NULL OR e.created_at < %(end)s)
       GROUP BY 1, 2""",
    """WITH s AS (
         SELECT e.referral_id, e.to_status, e.created_at,
                max(e.created_at) FILTER (WHERE e.to_status = 'submitted') OVER w AS submitted_at,
                max(e.created_at) FILTER (WHERE e.to_status = 'accepted') OVER w AS accepted_at,
                max(e.created_at) FILTER (WHERE e.to_status = 'active') OVER w AS active_at
         FROM referrals_referralevent e WHERE e.kind = 'status'
         WINDOW w AS (PARTITION BY e.referral_id))
       SELECT rc.kind,
         percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM s.created_at - s.submitted_at))
           FILTER (WHERE s.to_status IN ('accepted', 'rejected')),
         percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM s.created_at - s.accepted_at))
           FILTER (WHERE s.to_status IN ('active', 'not_started')),
         percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM s.created_at - s.active_at))
           FILTER (WHERE s.to_status = 'closed')
       FROM s JOIN referrals_referral r ON r.id = s.referral_id
       LEFT JOIN institutions_institution rc ON rc.id = r.receiving_institution_id
       WHERE (%(start)s::timestamptz IS NULL OR s.created_at >= %(start)s)
         AND (%(end)s::timestamptz IS NULL OR s.created_at < %(end)s)
       GROUP BY 1""",
]


def _timed(func, repeat):
    """Median wall time in seconds of `repeat` runs (after one warm-up run) and the last result."""
    result = func()
    times = []
    for _n in range(repeat):
        began = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - began)
    return statistics.median(times), result


def _raw(statements, period):
    params = {"start": period.start, "end": period.end}

    def run():
        with connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql, params)
                cursor.fetchall()
    return run


def _same(figures, reference):
    """The rollup's figures equal the events' (the generation time aside)."""
    return {k: v for k, v in figures.items() if k != "generated_at"} == \
        {k: v for k, v in reference.items() if k != "generated_at"}


def _personas():
    """A coordinator and the contact person of the busiest receiving institution (both must exist)."""
    coordinator = Membership.objects.filter(is_coordinator=True).select_related("user").first()
    busiest = (Referral.objects.order_by().values("receiving_institution").annotate(n=Count("id"))
               .order_by("-n").first())
    contact = None
    if busiest:
        contact = (Membership.objects.filter(institution_id=busiest["receiving_institution"], is_contact_person=True)
                   .select_related("user").first())
    return (coordinator.user if coordinator else None), (contact.user if contact else None)


def logged_in_client(user):
    """A test client logged in as `user` with the second factor counted as done (pages, not log-in, are measured)."""
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    session = client.session
    session.pop(SESSION_MFA_STATE, None)
    session.save()
    return client


def sessions_for(usernames=(), sample=0, seed=0):
    """Session ids of logged-in users for the load scenario: the named ones, `sample` case workers and contact
    persons drawn at random (with the coordinator), or the two personas (the heaviest: the coordinator and the
    contact person of the busiest institution)."""
    User = get_user_model()
    if sample:
        people = list(User.objects.filter(is_active=True, memberships__is_case_worker=True).distinct()
                      .order_by("pk").values_list("pk", flat=True))
        chosen = random.Random(seed).sample(people, min(sample - 1, len(people)))
        coordinator = _personas()[0]
        users = [*([coordinator] if coordinator else []), *User.objects.filter(pk__in=chosen)]
    elif usernames:
        users = list(User.objects.filter(username__in=usernames))
        missing = set(usernames) - {u.username for u in users}
        if missing:
            raise ValueError(f"No such users: {', '.join(sorted(missing))}")
    else:
        users = [u for u in _personas() if u is not None]
    return [logged_in_client(user).cookies[settings.SESSION_COOKIE_NAME].value for user in users]


class _QueryCounter:
    """Counts the statements a request runs and keeps them (works with DEBUG off too, unlike the debug query
    log)."""

    def __init__(self):
        self.statements = []

    @property
    def count(self):
        return len(self.statements)

    def __call__(self, execute, sql, params, many, context):
        self.statements.append((sql, params, many))
        return execute(sql, params, many, context)


def _replay(statements):
    """Run `statements` again as they are, with no Django around them: what the database alone costs a page.

    Writes included: a list's audit INSERT adds its records again, as another view of the page would (the
    benchmark runs on a measurement database only, see docs/PERFORMANCE.md)."""
    with connection.cursor() as cursor:
        for sql, params, many in statements:
            if many:
                cursor.executemany(sql, params)
            else:
                cursor.execute(sql, params)
            if cursor.description is not None:
                cursor.fetchall()


def _sql_alone(statements, repeat):
    """Median seconds of replaying a page's statements, or None if one of them cannot run twice (checked once
    in a savepoint, so a failure leaves the surrounding transaction of a test usable)."""
    try:
        with transaction.atomic():
            _replay(statements)
    except DatabaseError:
        return None
    seconds, _result = _timed(lambda: _replay(statements), repeat)
    return seconds


def _page(client, url, repeat):
    counter = _QueryCounter()
    with connection.execute_wrapper(counter):
        response = client.get(url)
    status, size = response.status_code, len(response.content)

    def run():
        client.get(url)
    seconds, _result = _timed(run, repeat)
    return {"seconds": seconds, "queries": counter.count, "status": status, "bytes": size,
            "sql_seconds": _sql_alone(counter.statements, repeat)}


def run(*, repeat=3, periods=None, include_events=True):
    """Measure and return the rows of the table (a list of dicts)."""
    today = timezone.localdate()
    periods = periods or [("one year", kpi.Period(today - datetime.timedelta(days=364), today)),
                          ("all time", kpi.Period())]
    rows = []
    for label, period in periods:
        hand, _r = _timed(_raw([SHEET_SQL], period), repeat) if connection.vendor == "postgresql" else (None, None)
        ours, _r = _timed(lambda p=period: kpi.sheet(p), repeat)
        events, _r = _timed(lambda p=period: kpi.sheet_from_events(p), repeat) if include_events else (None, None)
        rows.append({"section": "kpi", "what": f"KPI sheet, {label}", "seconds": ours, "baseline": hand,
                     "ratio": ours / hand if hand else None, "from_events": events})
        hand, _r = _timed(_raw(ALL_SQL, period), repeat) if connection.vendor == "postgresql" else (None, None)
        ours, figures = _timed(lambda p=period: kpi.compute(p, today=today), repeat)
        events, reference = _timed(lambda p=period: kpi.compute_from_events(p, today=today), 1) \
            if include_events else (None, None)
        equal = None if reference is None else _same(figures, reference)
        rows.append({"section": "kpi", "what": f"all KPI tables, {label}", "seconds": ours, "baseline": hand,
                     "ratio": ours / hand if hand else None, "from_events": events, "equal": equal})

    coordinator, contact = _personas()
    anonymous = Client(HTTP_HOST="localhost")
    login = _page(anonymous, reverse("login"), repeat)
    rows.append({"section": "page", "what": "login page", **login, "ratio": 1.0})
    referral = Referral.objects.filter(receiving_institution__memberships__user=contact).order_by("-pk").first() \
        if contact else None
    for who, user in (("coordinator", coordinator), ("contact person", contact)):
        if user is None:
            continue
        client = logged_in_client(user)
        pages = [("start page", reverse("home")), ("referral list", reverse("referrals:list")),
                 ("API list", "/api/v1/referrals/"), ("directory", reverse("directory"))]
        if referral is not None:
            pages.append(("case page", reverse("referrals:detail", args=[referral.pk])))
        if who == "contact person":
            # The cheapest logged-in page (a form, no case data): what a page costs for session, user, roles.
            pages.insert(0, ("logged-in floor: password form", reverse("accounts:password-change")))
        if who == "coordinator":
            pages += [("KPI page, all time", reverse("reporting:dashboard")),
                      ("KPI API, all time", "/api/v1/reports/kpi/")]
        else:
            pages.append(("new-referral form", reverse("referrals:create")))
        for name, url in pages:
            measured = _page(client, url, repeat)
            rows.append({"section": "page", "what": f"{name} ({who})", **measured,
                         "ratio": measured["seconds"] / login["seconds"] if login["seconds"] else None})

    # Timed without tracemalloc (it slows Python down several times), then built again to trace its peak memory.
    seconds, status, _peak = _build_report(trace=False)
    _seconds, _status, peak = _build_report(trace=True)
    rows.append({"section": "task", "what": f"report task, all time ({status})", "seconds": seconds,
                 "peak_mb": peak / 1048576})
    # Model C (issue 11), loaded with the KPI page: the largest balances per year, as the page shows them.
    for label, years, runs in (("one year", [today.year], repeat), ("all time", None, 1)):
        seconds, _result = _timed(lambda y=years: billing_selectors.model_c_largest(y), runs)
        rows.append({"section": "task", "what": f"model C balance, {label}", "seconds": seconds, "peak_mb": None})
    return rows


def _build_report(trace):
    """(seconds, status, peak bytes of the Python heap or None) of building an all-time report snapshot."""
    snapshot = ReportSnapshot.objects.create(requested_by=None)
    if trace:
        tracemalloc.start()
    began = time.perf_counter()
    services.snapshot_build(snapshot.pk)
    seconds, peak = time.perf_counter() - began, None
    if trace:
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    snapshot.refresh_from_db()
    status = snapshot.status
    snapshot.delete()
    return seconds, status, peak


def dataset_size():
    return {"referrals": Referral.objects.count(), "events": ReferralEvent.objects.count()}


def _ms(seconds):
    return "" if seconds is None else f"{seconds * 1000:,.1f}"


def as_markdown(rows, size):
    lines = [f"Dataset: {size['referrals']:,} referrals, {size['events']:,} events; database {connection.vendor}.",
             "", "| KPI | ours (ms) | hand-written SQL (ms) | ratio | from the events, before (ms) | "
             "same figures |", "|---|---:|---:|---:|---:|---|"]
    for row in (r for r in rows if r["section"] == "kpi"):
        ratio = "" if row["ratio"] is None else f"{row['ratio']:.2f}"
        equal = {None: "", True: "yes", False: "NO"}[row.get("equal")]
        lines.append(f"| {row['what']} | {_ms(row['seconds'])} | {_ms(row['baseline'])} | {ratio} | "
                     f"{_ms(row['from_events'])} | {equal} |")
    pages = [r for r in rows if r["section"] == "page"]
    login = pages[0]["seconds"] if pages else None
    lines += ["", "| page | server time (ms) | x login | queries | its SQL alone (ms) | SQL alone x login | HTTP "
              "| KB |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for row in pages:
        ratio = "" if row["ratio"] is None else f"{row['ratio']:.1f}"
        sql = row.get("sql_seconds")
        sql_ratio = f"{sql / login:.1f}" if sql is not None and row["queries"] and login else ""
        lines.append(f"| {row['what']} | {_ms(row['seconds'])} | {ratio} | {row['queries']} | "
                     f"{_ms(sql) if row['queries'] else ''} | {sql_ratio} | {row['status']} | "
                     f"{row['bytes'] / 1024:,.0f} |")
    lines += ["", "| task | time (s) | peak memory (MB, Python heap) |", "|---|---:|---:|"]
    for row in (r for r in rows if r["section"] == "task"):
        peak = "" if row["peak_mb"] is None else f"{row['peak_mb']:.1f}"
        lines.append(f"| {row['what']} | {row['seconds']:.2f} | {peak} |")
    return "\n".join(lines)

