"""Reads of referrals, always scoped to what the user may see."""

import functools
import operator
from decimal import Decimal

from django.core.exceptions import FieldDoesNotExist
from django.db import connection, models
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet, Sum
from django.db.models.sql.where import AND
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from audit.models import Action as AuditAction
from audit.models import AuditRecord, Outcome
from institutions.models import Membership, Role
from institutions.selectors import user_has_role, user_institution_ids, user_memberships, user_sees_everything

from . import permissions
from .models import (
    OPEN_STATUSES,
    CostApproval,
    CostApprovalStatus,
    EventKind,
    Invoice,
    InvoiceStatus,
    Meeting,
    Referral,
    ReferralEvent,
    Status,
)
from .next_step import ACTION_ANCHORS, ACTION_LABELS, TASK_PREFETCH, TASK_RELATED, Action, due_working_days, open_tasks

# What a list row shows: the client and the two institutions. Lists do not join the two case workers: with them
# PostgreSQL weighed the order of six joined tables for 3-8 ms a list at 1 M referrals, several times what reading
# the 51 rows took (issue 14, seventh pass). The case page joins them (``referral_for_user``); the API list
# loads them by one more query each (``CASE_WORKERS`` with prefetch_related).
LIST_RELATED = ("client", "referring_institution", "receiving_institution")
CASE_WORKERS = ("referring_case_worker", "assigned_case_worker")


def _sent_and_received(institution_ids):
    """The two sides of "sent by or received by these institutions" (a draft only on the sending side)."""
    institution_ids = sorted(institution_ids)  # equal sets give equal filters (see _without_filter)
    return [Q(referring_institution_id__in=institution_ids),
            Q(receiving_institution_id__in=institution_ids) & ~Q(status=Status.DRAFT)]


def _party_q(user):
    """Referrals the user is a party of (see permissions.is_party), as a query."""
    sent, received = _sent_and_received(permissions.party_institution_ids(user))
    return sent | received


def visible_referrals(user):
    """Referrals whose institutions include the user's as a party; drafts only for the referring side.

    The coordinator and administrators see all - pseudonymised where they are no party (see
    ``with_identity_flags``)."""
    queryset = Referral.objects.select_related(*LIST_RELATED)
    if user_sees_everything(user):
        return queryset
    return queryset.filter(_party_q(user))


def with_identity_flags(user, referrals):
    """Mark each referral with ``identity_visible`` (need to know); returns the list."""
    referrals = list(referrals)
    for referral in referrals:
        referral.identity_visible = permissions.can_see_client_identity(user, referral)
        # A party's receiving side after a consent withdrawal: the row says why it shows no name.
        referral.identity_hidden = permissions.consent_withdrawal_hides_identity(user, referral)
    return referrals


def referral_for_user(user, pk):
    """The referral if the user may see it, else None (the view answers 404)."""
    referral = visible_referrals(user).select_related(*CASE_WORKERS).filter(pk=pk).first()
    return referral if referral is not None and permissions.can_view(user, referral) else None


def _identity_hidden_q(user):
    """Referrals whose client this user's institutions no longer see: consent withdrawn, and the user is only
    on the receiving side (permissions.consent_withdrawal_hides_identity, as a query)."""
    institution_ids = permissions.party_institution_ids(user)
    return (Q(consent_withdrawn_on__isnull=False, receiving_institution_id__in=institution_ids)
            & ~Q(referring_institution_id__in=institution_ids))


def search_referrals(user, query):
    queryset = visible_referrals(user)
    query = (query or "").strip()
    if query:
        names = Q(client__last_name__icontains=query) | Q(client__first_name__icontains=query)
        parts = query.split()
        if len(parts) == 2:
            names |= Q(client__first_name__icontains=parts[0], client__last_name__icontains=parts[1])
        # A name finds only cases whose client the user may know (a party, consent not withdrawn):
        # no looking people up through the search.
        queryset = queryset.filter(Q(reference__icontains=query) | (names & _party_q(user) & ~_identity_hidden_q(user)))
    return queryset


# The list's status filter also takes "open": every status that is not final (the start page links to it).
OPEN = "open"


def with_status(referrals, status):
    """`referrals` in one status, in any open one ("open"), or all of them (an empty or unknown value)."""
    if status in Status.values:
        return referrals.filter(status=status)
    if status == OPEN:
        return referrals.filter(status__in=OPEN_STATUSES)
    return referrals


def known_person_referrals(user, ahv_digest):
    """'Diese Person ist bereits erfasst': the referrals the user's institutions (those where the user is a party)
    sent or received for this AHV number, newest first, each with `other_institution` (the one that is not the
    user's)."""
    if not ahv_digest:
        return []
    institution_ids = permissions.party_institution_ids(user)  # no need to know where the user is no party
    referrals = list(Referral.objects.select_related(*LIST_RELATED)
                     .filter(Q(referring_institution_id__in=institution_ids)
                             | (Q(receiving_institution_id__in=institution_ids) & ~Q(status=Status.DRAFT)),
                             client__ahv_digest=ahv_digest)
                     .exclude(_identity_hidden_q(user)).order_by("-created_at", "-pk"))
    for referral in referrals:
        mine = referral.referring_institution_id in institution_ids
        referral.other_institution = referral.receiving_institution if mine else referral.referring_institution
    return referrals


def decision_inbox(user):
    """Referrals waiting for this contact person's institution to decide, oldest first."""
    institution_ids = [i for i in user_institution_ids(user)
                       if user_has_role(user, Role.CONTACT_PERSON, _Pk(i))]
    return (Referral.objects.select_related(*LIST_RELATED)
            .filter(status=Status.SUBMITTED, receiving_institution_id__in=institution_ids)
            .order_by("status_changed_at"))


class _Pk:
    """Lets user_has_role check an institution by id without loading it."""

    def __init__(self, pk):
        self.pk = pk


def my_open_cases(user):
    """Open referrals my institutions send or receive (as a party), newest change first."""
    return visible_referrals(user).filter(
        _party_q(user), status__in=[Status.DRAFT, Status.SUBMITTED, Status.ACCEPTED, Status.ACTIVE],
    ).order_by("-status_changed_at")


def cost_approvals_to_sign(user):
    institution_ids = [i for i in user_institution_ids(user) if user_has_role(user, Role.SIGNATORY, _Pk(i))]
    return (CostApproval.objects.select_related("referral", "referral__client", "requesting_institution")
            .filter(status=CostApprovalStatus.REQUESTED, financing_institution_id__in=institution_ids)
            .order_by("requested_at"))


def invoices_to_forward(user):
    """Invoices recorded by the user's institution (leading the case) that still go to the financing institution."""
    institution_ids = [i for i in user_institution_ids(user)
                       if user_has_role(user, Role.CASE_WORKER, _Pk(i)) or user_has_role(user, Role.CONTACT_PERSON,
                                                                                          _Pk(i))]
    return (Invoice.objects.select_related("referral", "measure", "financing_institution")
            .filter(status=InvoiceStatus.RECORDED, referral__receiving_institution_id__in=institution_ids)
            .order_by("recorded_at", "id"))


def invoices_to_confirm(user):
    """Forwarded invoices whose receipt a signatory of the user's institution confirms."""
    institution_ids = [i for i in user_institution_ids(user) if user_has_role(user, Role.SIGNATORY, _Pk(i))]
    return (Invoice.objects.select_related("referral", "measure", "financing_institution")
            .filter(status=InvoiceStatus.FORWARDED, financing_institution_id__in=institution_ids)
            .order_by("forwarded_at", "id"))


class CaseMoney:
    """Approved vs invoiced vs remaining on one case, in CHF."""

    def __init__(self, approved, invoiced):
        self.approved, self.invoiced = approved, invoiced
        self.remaining = approved - invoiced
        self.over = self.remaining < 0

    @classmethod
    def of(cls, cost_approvals, invoices):
        """From rows already loaded (the case page)."""
        zero = Decimal("0.00")
        return cls(sum((a.amount_chf for a in cost_approvals if a.is_approved), zero),
                   sum((i.amount_chf for i in invoices), zero))


def case_money(referral):
    zero = Decimal("0.00")
    approved = (CostApproval.objects.filter(referral=referral, status=CostApprovalStatus.APPROVED)
                .aggregate(total=Sum("amount_chf"))["total"] or zero)
    invoiced = Invoice.objects.filter(referral=referral).aggregate(total=Sum("amount_chf"))["total"] or zero
    return CaseMoney(approved, invoiced)


def measures_of(referral):
    """The case's measures with their approvals and invoices, for the case page and the API."""
    return referral.measures.prefetch_related("cost_approvals", "invoices").select_related("started_by")


def cases_active_between(first_day, last_day):
    """Cases active (handover agreed -> closure) on at least one day of [first_day, last_day], for billing.

    Each referral carries `active_from` (the day of the agreed handover meeting) and `active_until` (the day of
    the closing meeting, or of the withdrawal of consent that ended the case; None while active), written by the
    services that start and end the case. Institutions are loaded; the client is not (no client data).
    """
    return (Referral.objects.filter(status__in=[Status.ACTIVE, Status.CLOSED])
            .select_related("referring_institution", "receiving_institution")
            .filter(active_from__isnull=False, active_from__lte=last_day)
            .filter(Q(active_until__isnull=True) | Q(active_until__gte=first_day))
            .order_by("reference"))


def upcoming_meetings(user, days=30):
    now = timezone.now()
    institution_ids = permissions.party_institution_ids(user)
    return (Meeting.objects.select_related("referral", "referral__client")
            .filter(recorded_at__isnull=True, scheduled_at__isnull=False,
                    scheduled_at__lte=now + timezone.timedelta(days=days),
                    referral__status__in=[Status.ACCEPTED, Status.ACTIVE])
            .filter(Q(referral__referring_institution_id__in=institution_ids)
                    | Q(referral__receiving_institution_id__in=institution_ids))
            .order_by("scheduled_at"))


def days_since(moment):
    return (timezone.localdate() - timezone.localtime(moment).date()).days


def status_in_words(referral):
    """'Wartet auf Entscheid (seit 3 Tagen)': the status and how long it has been so."""
    days = days_since(referral.status_changed_at)
    since = ngettext("since %(days)s day", "since %(days)s days", days) % {"days": days} if days else _("since today")
    return f"{referral.get_status_display()} ({since})"


def referral_timeline(referral):
    return referral.events.select_related("actor").order_by("created_at", "id")


class NextStep:
    """What the case banner and the API say: the step, who is on turn, and what the viewer must do."""

    def __init__(self, text, my_turn, anchor="", task=None, who_name="", who_institution=None, who_phone="",
                 also_mine=()):
        self.text, self.my_turn, self.anchor, self.task = text, my_turn, anchor, task
        self.who_name, self.who_institution, self.who_phone = who_name, who_institution, who_phone
        self.also_mine = list(also_mine)

    @property
    def action(self):
        return self.task.action if self.task else Action.NONE

    @property
    def due_on(self):
        return self.task.due_on if self.task else None

    @property
    def finished(self):
        return bool(self.task and self.task.is_final)


def _who(task):
    """(name, institution, phone) of the party on turn, for "X von Y ist am Zug"."""
    referral = task.referral
    if task.user is not None:
        institution = (referral.referring_institution if task.user.pk == referral.referring_case_worker_id
                       else referral.receiving_institution)
        return task.user.get_full_name() or task.user.username, institution, task.user.phone or (
            institution.phone if institution else "")
    role_names = {Role.CONTACT_PERSON: _("the OPTIMA contact persons"), Role.SIGNATORY: _("the signatories")}
    return role_names.get(task.role, task.role), task.institution, task.institution.phone if task.institution else ""


def next_step_for(user, referral):
    """The one next step of this referral, phrased for `user`: their turn, or who else is on turn."""
    tasks = open_tasks(referral)
    step = tasks[0]
    if step.is_final:
        if referral.status == Status.REJECTED:
            text = _("Rejected by %(institution)s: %(reason)s.") % {
                "institution": referral.receiving_institution.name,
                "reason": referral.get_rejection_reason_display()}
            if referral.rejection_text:
                text = f"{text} {referral.rejection_text}"
            return NextStep(text, False, task=step)
        return NextStep(_("Nothing more to do: this referral is finished (%(status)s).")
                        % {"status": referral.get_status_display()}, False, task=step)
    mine = [t for t in tasks if t.is_for(user)]
    name, institution, phone = _who(step)
    if step.is_for(user):
        return NextStep(step.label, True, step.anchor, task=step, who_name=name, who_institution=institution,
                        also_mine=mine[1:])
    return NextStep(step.label, False, step.anchor, task=step, who_name=name, who_institution=institution,
                    who_phone=phone, also_mine=mine)


# --- What waits: the start page and the reminders -------------------------------------------------------

def _with_tasks(queryset):
    return queryset.select_related(*TASK_RELATED).prefetch_related(
        *TASK_PREFETCH, Prefetch("events", queryset=ReferralEvent.objects.filter(kind=EventKind.REMINDER),
                                 to_attr="reminder_events"))


def referrals_with_open_tasks():
    """Every referral that can wait for someone (the reminder job; not scoped to a user)."""
    return _with_tasks(Referral.objects.filter(status__in=[Status.SUBMITTED, Status.ACCEPTED, Status.ACTIVE])
                       .order_by("pk"))


def reminder_recorded(referral, *, key, threshold):
    events = getattr(referral, "reminder_events", None)
    if events is not None:
        return any(e.payload.get("key") == key and e.reason == str(threshold) for e in events)
    return referral.events.filter(kind=EventKind.REMINDER, reason=str(threshold), payload__key=key).exists()


class WaitingItem:
    """One line of "Wartet auf Sie": a task (or a finished referral to read), its age and due date."""

    def __init__(self, referral, action, since, due_on=None, reminded_on=None, note="", label=None, anchor=None):
        self.referral, self.action, self.since, self.due_on = referral, action, since, due_on
        self.label = label or ACTION_LABELS.get(action, action)
        self.anchor = anchor if anchor is not None else ACTION_ANCHORS.get(action, "meetings")
        self.reminded_on, self.note = reminded_on, note
        self.amount_chf = None
        # Today once per item: sorting and the page ask for its age and overdue state several times each.
        self.today = timezone.localdate()

    @property
    def age_days(self):
        return (self.today - self.since).days

    @property
    def overdue(self):
        return self.due_on is not None and self.due_on < self.today


def _last_reminder(referral, key):
    dates = [timezone.localtime(e.created_at).date() for e in getattr(referral, "reminder_events", [])
             if e.payload.get("key") == key]
    return max(dates) if dates else None


def _my_open_referrals_q(user):
    """Open referrals the user is a party of: a membership without a party role (coordinator, administrator, data
    protection) is no need to know the institution's cases (see permissions.is_party)."""
    return _party_q(user) & Q(status__in=OPEN_STATUSES)


def _my_open_referrals(user):
    """Open referrals my institutions send or receive, with what next_step needs, newest change first (no client:
    what waits names the reference and the institutions, on the page and in reminder e-mails alike)."""
    return _with_tasks(Referral.objects.filter(_my_open_referrals_q(user)).order_by("-status_changed_at", "-pk"))


def _institutions_where(user, role):
    field = Membership.ROLE_FIELDS[role]
    return [m.institution_id for m in user_memberships(user) if getattr(m, field)]


def _possibly_mine_q(user):
    """Of my open referrals, those where a task can be for `user` (a superset of what ``open_tasks`` gives
    them): their own referrals and cases, the decisions of institutions where they are contact person, the
    signatures of those where they sign. So the start page reads the user's own work, not every open case of a
    large institution (issue 14)."""
    mine = Q(referring_case_worker=user) | Q(assigned_case_worker=user)
    contact_at = _institutions_where(user, Role.CONTACT_PERSON)
    if contact_at:
        mine |= Q(status=Status.SUBMITTED, receiving_institution_id__in=contact_at)
    sign_at = _institutions_where(user, Role.SIGNATORY)
    if sign_at:
        mine |= Q(status=Status.ACTIVE) & Exists(CostApproval.objects.filter(
            referral=OuterRef("pk"), status=CostApprovalStatus.REQUESTED, financing_institution_id__in=sign_at))
    return mine


def _task_items(user, referrals):
    days = due_working_days()
    for referral in referrals:
        for task in open_tasks(referral, days=days):
            if task.is_for(user):
                item = WaitingItem(referral, task.action, task.since, task.due_on, _last_reminder(referral, task.key))
                item.amount_chf = task.detail.get("amount_chf")
                yield item


def _tasks_waiting(user, referrals=None):
    return _task_items(user, referrals if referrals is not None else _my_open_referrals(user))


def _finished_unread(user):
    """Rejections of my referrals and withdrawals of referrals sent to me, until I open them (last 90 days)."""
    since = timezone.now() - timezone.timedelta(days=90)
    opened = AuditRecord.objects.filter(actor=user, referral=OuterRef("pk"), action=AuditAction.VIEW,
                                        outcome=Outcome.OK, at__gte=OuterRef("status_changed_at"))
    contact_at = [i for i in user_institution_ids(user) if user_has_role(user, Role.CONTACT_PERSON, _Pk(i))]
    # Exists, not a join over the events: the join made PostgreSQL read every event (issue 14).
    withdrawn_after_sending = ReferralEvent.objects.filter(
        referral=OuterRef("pk"), kind=EventKind.STATUS, from_status=Status.SUBMITTED, to_status=Status.WITHDRAWN)
    referrals = (Referral.objects.select_related("referring_institution", "receiving_institution")
                 .filter(status_changed_at__gte=since)
                 .filter(Q(status=Status.REJECTED, referring_case_worker=user)
                         | (Q(status=Status.WITHDRAWN, receiving_institution_id__in=contact_at)
                            & Exists(withdrawn_after_sending)))
                 .exclude(Exists(opened)))
    for referral in referrals:
        changed = timezone.localtime(referral.status_changed_at).date()
        if referral.status == Status.REJECTED:
            note = referral.get_rejection_reason_display()
            yield WaitingItem(referral, Action.READ_REJECTION, changed, note=note, anchor="")
        else:
            yield WaitingItem(referral, Action.READ_WITHDRAWAL, changed, anchor="")


# What "Wartet auf Sie" lists besides the referrals' own tasks: each source is a function user -> WaitingItems
# with a fixed number of queries. Another capability adds its own with one line (e.g. billing's invoices).
WAITING_SOURCES = [_finished_unread]


def _sorted_waiting(items):
    far = timezone.localdate() + timezone.timedelta(days=36500)
    return sorted(items, key=lambda i: (not i.overdue, i.due_on or far, i.since, i.referral.pk))


def waiting_for(user, referrals=None):
    """Everything waiting for this user, the overdue first, then by due date, then the oldest."""
    items = list(_tasks_waiting(user, referrals))
    items += [item for source in WAITING_SOURCES for item in source(user)]
    return _sorted_waiting(items)


class StartPage:
    """The start page's lists: what waits for me, my meetings, my institution's open cases.

    Each is read with its own bounded query (issue 14): the tasks from the referrals where something can be
    mine, the open cases as the newest `open_cases_limit`, the meetings as the next `meetings_limit`."""

    def __init__(self, user, open_cases_limit=50, meeting_days=30, meetings_limit=10):
        candidates = list(_my_open_referrals(user).filter(_possibly_mine_q(user)))
        self.waiting = waiting_for(user, candidates)
        self.open_cases, more = keyset_page(
            Referral.objects.filter(_my_open_referrals_q(user)).select_related(*LIST_RELATED), size=open_cases_limit,
            sides=_sent_and_received(permissions.party_institution_ids(user)))
        self.more_open_cases = more is not None
        horizon = timezone.now() + timezone.timedelta(days=meeting_days)
        self.meetings = list(Meeting.objects.select_related("referral")
                             .filter(recorded_at__isnull=True, scheduled_at__isnull=False, scheduled_at__lte=horizon,
                                     referral__in=Referral.objects.filter(_my_open_referrals_q(user)).filter(
                                         status__in=[Status.ACCEPTED, Status.ACTIVE]))
                             .order_by("scheduled_at", "pk")[:meetings_limit])


# The coordinator's start page reads this many referrals at most: those longest in an open status. Its cost
# stays the same with 50 or 500,000 open referrals in the country (issue 14).
LONGEST_WAITING_SAMPLE = 100


def waiting_longest_by_institution(limit=5, sample=LONGEST_WAITING_SAMPLE, institutions=20):
    """For the coordinator: per institution on turn, what waits longest (references only, no client data).

    Reads the `sample` referrals that have been longest in an open status (an index scan, see the partial
    index ``referral_open_changed``) and groups their next steps by the institution on turn; the count is of
    those. Returns [(institution name, the `limit` oldest items, count)] for the `institutions` institutions
    where something waits longest."""
    days = due_working_days()
    groups = {}
    for referral in referrals_with_open_tasks().order_by("status_changed_at", "pk")[:sample]:
        step = open_tasks(referral, days=days)[0]
        name, institution, _phone = _who(step)
        key = institution.name if institution else ""
        groups.setdefault(key, []).append(WaitingItem(referral, step.action, step.since, step.due_on))
    longest_first = sorted(groups.items(), key=lambda g: min(i.since for i in g[1]))[:institutions]
    return [(name, sorted(items, key=lambda i: i.since)[:limit], len(items)) for name, items in longest_first]


# --- Keyset pages for long lists (issue 14) -----------------------------------------------------------------

def _parse_cursor(cursor):
    """'<ISO moment>_<id>' -> (moment, id), or None for a missing or malformed cursor (then: the first page)."""
    moment, _sep, pk = (cursor or "").rpartition("_")
    parsed = parse_datetime(moment) if moment else None
    if parsed is None or not pk.isdigit():
        return None
    return parsed, int(pk)


def party_sides(user):
    """The two sides of "sent by OR received by my institutions" (``_party_q``), for ``keyset_page``; none for
    the coordinator and administrators, who see every referral."""
    if user_sees_everything(user):
        return []
    return _sent_and_received(permissions.party_institution_ids(user))


def _order_keys(queryset):
    """The fields of `queryset`'s ordering as (field, descending) pairs, e.g. [("status_changed_at", True), ...];
    None unless Python can sort the rows as the database does: an explicit ordering in the standard direction by
    local fields that are never null and are no relations or texts (collations differ)."""
    query = queryset.query
    if not query.order_by or not query.standard_ordering:
        return None
    keys = []
    for name in query.order_by:
        if not isinstance(name, str):
            return None
        field_name = name.lstrip("-")
        try:
            field = queryset.model._meta.pk if field_name == "pk" else queryset.model._meta.get_field(field_name)
        except FieldDoesNotExist:
            return None
        if field.null or field.is_relation or isinstance(field, (models.CharField, models.TextField)):
            return None
        keys.append((field_name, name.startswith("-")))
    return keys


def _first_ids(queryset, sides, limit):
    """The ids of the first `limit` rows of `queryset` in its order, each side read with its own index scan.

    Each side's first `limit` rows are read with their ordering values and merged here: the same first `limit`
    rows as one scan filtering the OR of the sides."""
    keys = _order_keys(queryset)  # not None: checked by _first_rows
    fields = [field for field, _descending in keys]
    if connection.features.supports_slicing_ordering_in_compound:
        base = _without_filter(queryset, functools.reduce(operator.or_, sides))
        pages = [base.filter(side).values_list(*fields, "pk")[:limit] for side in sides]
        candidates = set(pages[0].union(*pages[1:], all=True))  # a set: a referral can be on both sides
    else:  # SQLite: one scan (small databases); the same number of queries, so the pinned counts hold for both
        candidates = queryset.values_list(*fields, "pk")[:limit]
    ordered = list(candidates)
    for position, (_field, descending) in reversed(list(enumerate(keys))):  # stable sorts, last key first
        ordered.sort(key=operator.itemgetter(position), reverse=descending)
    return [row[-1] for row in ordered[:limit]]


# How often a page is read again when a row changed between reading its id and reading the row.
_READ_TRIES = 3


def _first_rows(queryset, sides, limit):
    """The first `limit` rows of `queryset` (ordered): with two sides or more, their ids are read first (one index
    scan per side, see ``_first_ids``) and then the rows by that list of ids.

    The ids are given as a list: as a subquery, PostgreSQL guessed it would yield one row (the sides repeat the
    visibility filter) and joined the institutions by scanning them once per row. Two statements can see two
    states: a referral that left the list in between (withdrawn, closed) would make the page one row short, and
    a short page looks like the last one. So the page is read again until its rows are the rows of its ids."""
    if len(sides) < 2 or _order_keys(queryset) is None:
        return list(queryset[:limit])
    for _attempt in range(_READ_TRIES):
        ids = _first_ids(queryset, sides, limit)
        rows = list(queryset.filter(pk__in=ids))
        if len(rows) == len(ids):
            return rows
    return list(queryset[:limit])  # still changing under us: one statement, slower but consistent


def _without_filter(queryset, condition):
    """`queryset` without `condition` among its top-level filters if it has it there, else `queryset` itself.

    A side's page needs no "sent OR received" filter (the side implies it). Repeated there, it kept PostgreSQL
    from walking the side's (institution, -status_changed_at, -id) index for the page's rows: counting its
    selectivity twice, the planner expected one row and read and sorted all of the institution's referrals.
    The rows themselves are still read through the full filter (``_first_rows``)."""
    target = queryset.model._base_manager.filter(condition).query.where.children
    where = queryset.query.where
    if len(target) != 1 or where.connector != AND or where.negated or target[0] not in where.children:
        return queryset
    stripped = queryset._chain()  # a clone of the query and its filters: the original keeps them
    stripped.query.where.children.remove(target[0])
    return stripped


class SidesQuerySet(QuerySet):
    """A queryset whose slices are read side by side (``_first_rows``), for paginators that slice a queryset they
    filter and order themselves (DRF's cursor pagination of the referral API)."""

    sides = ()

    def _clone(self):
        clone = super()._clone()
        clone.sides = self.sides
        return clone

    def __getitem__(self, k):
        if isinstance(k, slice) and k.stop is not None and self.sides and self._result_cache is None:
            plain = self._chain()
            plain.sides = ()  # its slices (the sides' own pages among them) are ordinary ones
            return _first_rows(plain, self.sides, k.stop)[k]
        return super().__getitem__(k)


def read_by_sides(queryset, sides):
    """`queryset` as a SidesQuerySet: its slices read each of `sides` with its own index scan."""
    narrowed = SidesQuerySet(model=queryset.model, query=queryset.query.chain(), using=queryset._db,
                             hints=queryset._hints)
    narrowed._prefetch_related_lookups = queryset._prefetch_related_lookups
    narrowed.sides = list(sides)
    return narrowed


def keyset_page(queryset, cursor=None, size=50, sides=()):
    """One page of `queryset` newest change first, after `cursor`: no OFFSET, no COUNT, whatever the position.

    With `sides` (the alternatives of an OR filter, see ``party_sides``) each side is read with its own index
    scan, limited to the page, and the pages are merged: an OR over two institution columns cannot follow one
    index in date order, and made PostgreSQL read thousands of rows of a large institution (issue 14).

    Returns (rows, next cursor or None)."""
    order = ("-status_changed_at", "-pk")
    queryset = queryset.order_by(*order)
    position = _parse_cursor(cursor)
    if position is not None:
        moment, pk = position
        queryset = queryset.filter(Q(status_changed_at__lt=moment) | Q(status_changed_at=moment, pk__lt=pk))
    rows = _first_rows(queryset, sides, size + 1)
    if len(rows) <= size:
        return rows, None
    last = rows[size - 1]
    return rows[:size], f"{last.status_changed_at.isoformat()}_{last.pk}"
