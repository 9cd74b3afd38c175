"""Who is on turn: the one answer for the case banner, the start page, the API and the reminders.

``open_tasks(referral)`` lists everything a referral waits for, each task with exactly one party on
turn (a person, or the holders of a role at an institution, e.g. its OPTIMA contact persons), an action
code, the date it has been waiting since and its due date in Lucerne working days. ``next_step`` is the
first of them: the step the case is at. Reading it needs the referral's meetings, cost approvals and
comments (with their authors' memberships) - ``TASK_PREFETCH`` loads them for many referrals at once.

Due dates count working days from ``due_working_days()``; the reminders app (a floor above) registers
the administrator's configured values through ``register_due_days_provider`` at start-up.
"""

from dataclasses import dataclass, field
from datetime import date

from django.db.models import Prefetch
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from institutions.models import Institution, Role
from institutions.selectors import user_has_role

from .models import Comment, CostApproval, Meeting, MeetingKind, Referral, Status
from .workdays import add_working_days


class Action:
    COMPLETE_DRAFT = "complete_draft"
    ANSWER_QUESTION = "answer_question"
    DECIDE = "decide"
    SCHEDULE_HANDOVER = "schedule_handover"
    HOLD_HANDOVER = "hold_handover"
    RECORD_HANDOVER = "record_handover"
    SIGN_COST_APPROVAL = "sign_cost_approval"
    SCHEDULE_STATUS_MEETING = "schedule_status_meeting"
    HOLD_STATUS_MEETING = "hold_status_meeting"
    RECORD_STATUS_MEETING = "record_status_meeting"
    FORWARD_INVOICE = "forward_invoice"
    READ_REJECTION = "read_rejection"
    READ_WITHDRAWAL = "read_withdrawal"
    NONE = "none"


ACTION_LABELS = {
    Action.COMPLETE_DRAFT: _("Complete the application and send it"),
    Action.ANSWER_QUESTION: _("Answer the question (Rückfrage) of the receiving institution"),
    Action.DECIDE: _("Decide: accept and assign a case worker, or reject with a reason"),
    Action.SCHEDULE_HANDOVER: _("Organise the handover meeting and enter its date"),
    Action.HOLD_HANDOVER: _("Hold the handover meeting; record its note afterwards"),
    Action.RECORD_HANDOVER: _("Record the note of the handover meeting"),
    Action.SIGN_COST_APPROVAL: _("Sign or refuse the cost approval"),
    Action.SCHEDULE_STATUS_MEETING: _("Schedule the next status meeting (date, time, place)"),
    Action.HOLD_STATUS_MEETING: _("Hold the status meeting; record its note afterwards"),
    Action.RECORD_STATUS_MEETING: _("Record the note of the status meeting"),
    Action.FORWARD_INVOICE: _("Forward the provider's invoice to the financing institution"),
    Action.READ_REJECTION: _("Read why your referral was rejected"),
    Action.READ_WITHDRAWAL: _("Note that the referral was withdrawn"),
    Action.NONE: _("Nothing more to do"),
}

# Where on the case page the action is done.
ACTION_ANCHORS = {
    Action.COMPLETE_DRAFT: "edit", Action.ANSWER_QUESTION: "comments", Action.DECIDE: "decide",
    Action.SIGN_COST_APPROVAL: "cost-approvals", Action.FORWARD_INVOICE: "cost-approvals",
}

# Working days from "waiting since" to "due" (the first reminder goes out on the due date).
DEFAULT_DUE_WORKING_DAYS = {
    Action.DECIDE: 5,
    Action.SCHEDULE_HANDOVER: 10,
    Action.RECORD_HANDOVER: 3,
    Action.RECORD_STATUS_MEETING: 3,
    Action.SIGN_COST_APPROVAL: 5,
    Action.SCHEDULE_STATUS_MEETING: 10,
    Action.ANSWER_QUESTION: 3,
    Action.FORWARD_INVOICE: 10,
}

_due_days_provider = None


def register_due_days_provider(provider):
    """The reminders app hands in a callable returning {action: working days} from its configuration."""
    global _due_days_provider
    _due_days_provider = provider


def due_working_days():
    """One read per page: {action: working days}, the configured values over the defaults."""
    days = dict(DEFAULT_DUE_WORKING_DAYS)
    if _due_days_provider is not None:
        days.update(_due_days_provider())
    return days


@dataclass
class Task:
    referral: Referral
    action: str
    since: date
    due_on: date | None = None
    user: object = None  # the person on turn ...
    institution: Institution | None = None  # ... or the holders of `role` at this institution
    role: str = ""
    key: str = ""  # stable per referral: one reminder per task and threshold
    detail: dict = field(default_factory=dict)

    @property
    def label(self):
        return ACTION_LABELS[self.action]

    @property
    def anchor(self):
        return ACTION_ANCHORS.get(self.action, "meetings")

    @property
    def is_final(self):
        return self.action == Action.NONE

    def is_for(self, user):
        """Is `user` the one on turn?"""
        if self.user is not None:
            return self.user.pk == user.pk
        return bool(self.role) and user_has_role(user, self.role, self.institution)

    def overdue(self, today=None):
        return self.due_on is not None and self.due_on < (today or timezone.localdate())

    def age_days(self, today=None):
        return ((today or timezone.localdate()) - self.since).days


# Loaded into lists (``to_attr``), not into the related managers' caches: Django builds a queryset per
# referral for the latter, which was most of the start page's time with hundreds of referrals (issue 14).
TASK_PREFETCH = (
    # Only the meetings not yet recorded count for what is open; a long case has dozens of recorded ones.
    Prefetch("meetings", queryset=Meeting.objects.filter(recorded_at__isnull=True), to_attr="task_meetings"),
    Prefetch("cost_approvals", queryset=CostApproval.objects.select_related("financing_institution"),
             to_attr="task_cost_approvals"),
    # Comments only matter while a referral waits for its decision (an open question, ``_open_question``); the
    # comments of active cases were most of the rows loaded for a busy start page (issue 14).
    Prefetch("comments", queryset=Comment.objects.filter(referral__status=Status.SUBMITTED).select_related("author")
             .prefetch_related("author__memberships"), to_attr="task_comments"),
)


def _loaded(referral, attr, related_name):
    """The rows TASK_PREFETCH loaded, or (one referral, e.g. the case page) the related manager's."""
    rows = getattr(referral, attr, None)
    return rows if rows is not None else list(getattr(referral, related_name).all())


TASK_RELATED = ("referring_institution", "receiving_institution", "referring_case_worker", "assigned_case_worker")


def _local_date(moment):
    try:
        return timezone.localtime(moment).date()
    except OverflowError:  # a stored moment at the end of time (bad old row): its UTC date will do
        return moment.date()


def _due(since, action, days):
    span = days.get(action)
    return add_working_days(since, span) if span else None


def _open_question(referral):
    """The receiving side asked the referrer something, and nobody of the referrer has answered yet."""
    comments = _loaded(referral, "task_comments", "comments")
    if not comments:
        return None
    last = comments[-1]
    author_at_referrer = any(m.institution_id == referral.referring_institution_id
                             for m in last.author.memberships.all())
    return None if author_at_referrer else last


def open_tasks(referral, *, days=None, today=None):
    """Everything this referral waits for, the step it is at first. Needs TASK_PREFETCH for lists."""
    days = days if days is not None else due_working_days()
    today = today or timezone.localdate()
    status = referral.status
    referrer, receiver = referral.referring_case_worker, referral.assigned_case_worker
    ref = referral

    def task(action, since, *, due_on=None, key=None, **who):
        return Task(referral=ref, action=action, since=since, due_on=due_on or _due(since, action, days),
                    key=key or action, **who)

    changed = _local_date(referral.status_changed_at)
    if status == Status.DRAFT:
        return [task(Action.COMPLETE_DRAFT, changed, user=referrer)]
    if status == Status.SUBMITTED:
        question = _open_question(referral)
        if question is not None:
            # The receiver waits for the answer; the decision (and its reminders) resume after it.
            return [task(Action.ANSWER_QUESTION, _local_date(question.created_at), user=referrer,
                         key=f"{Action.ANSWER_QUESTION}:{question.pk}")]
        return [task(Action.DECIDE, changed, institution=referral.receiving_institution, role=Role.CONTACT_PERSON)]
    meetings = _loaded(referral, "task_meetings", "meetings")
    if status == Status.ACCEPTED:
        handover = next((m for m in meetings if m.kind == MeetingKind.HANDOVER and not m.is_recorded), None)
        if handover is None or handover.scheduled_at is None:
            return [task(Action.SCHEDULE_HANDOVER, changed, user=referrer)]
        when = _local_date(handover.scheduled_at)
        if when > today or handover.scheduled_at > timezone.now():
            return [task(Action.HOLD_HANDOVER, when, due_on=when, user=referrer, key=f"hold_handover:{handover.pk}")]
        return [task(Action.RECORD_HANDOVER, when, user=referrer, key=f"record_handover:{handover.pk}")]
    if status == Status.ACTIVE:
        tasks = [task(Action.SIGN_COST_APPROVAL, _local_date(a.requested_at), institution=a.financing_institution,
                      role=Role.SIGNATORY, key=f"{Action.SIGN_COST_APPROVAL}:{a.pk}",
                      detail={"cost_approval": a.pk, "amount_chf": a.amount_chf})
                 for a in _loaded(referral, "task_cost_approvals", "cost_approvals") if a.awaits_signature]
        meeting = next((m for m in meetings if m.kind == MeetingKind.STATUS and not m.is_recorded), None)
        if meeting is None or meeting.scheduled_at is None:
            tasks.append(task(Action.SCHEDULE_STATUS_MEETING, changed, user=receiver))
        else:
            when = _local_date(meeting.scheduled_at)
            if meeting.scheduled_at <= timezone.now() and when <= today:
                tasks.append(task(Action.RECORD_STATUS_MEETING, when, user=receiver,
                                  key=f"record_status_meeting:{meeting.pk}"))
            elif meeting.planned_on is not None:
                # The last note planned it; nobody has fixed the time and place yet.
                tasks.append(task(Action.SCHEDULE_STATUS_MEETING, meeting.planned_on, user=receiver,
                                  key=f"schedule_status_meeting:{meeting.pk}"))
            else:
                tasks.append(task(Action.HOLD_STATUS_MEETING, when, due_on=when, user=receiver,
                                  key=f"hold_status_meeting:{meeting.pk}"))
        tasks += [task(Action.FORWARD_INVOICE, a.invoice_received_on, user=receiver,
                       key=f"{Action.FORWARD_INVOICE}:{a.pk}", detail={"cost_approval": a.pk})
                  for a in _loaded(referral, "task_cost_approvals", "cost_approvals")
                  if a.is_approved and a.invoice_received_on and not a.invoice_forwarded_on]
        return tasks
    return [task(Action.NONE, changed)]


def next_step(referral, *, days=None, today=None):
    """The step the referral is at: exactly one party on turn."""
    return open_tasks(referral, days=days, today=today)[0]
