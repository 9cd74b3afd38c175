"""Reads of referrals, always scoped to what the user may see."""

from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from institutions.models import Role
from institutions.selectors import user_has_role, user_institution_ids, user_sees_everything

from . import permissions
from .models import CostApproval, CostApprovalStatus, Meeting, MeetingKind, Referral, Status

LIST_RELATED = ("client", "referring_institution", "receiving_institution", "referring_case_worker",
                "assigned_case_worker")


def visible_referrals(user):
    """Referrals whose institutions include the user's; drafts only for the referring side."""
    queryset = Referral.objects.select_related(*LIST_RELATED)
    if user_sees_everything(user):
        return queryset
    institution_ids = user_institution_ids(user)
    return queryset.filter(
        Q(referring_institution_id__in=institution_ids)
        | (Q(receiving_institution_id__in=institution_ids) & ~Q(status=Status.DRAFT))
    )


def referral_for_user(user, pk):
    """The referral if the user may see it, else None (the view answers 404)."""
    referral = visible_referrals(user).filter(pk=pk).first()
    return referral if referral is not None and permissions.can_view(user, referral) else None


def search_referrals(user, query):
    queryset = visible_referrals(user)
    query = (query or "").strip()
    if query:
        terms = Q(reference__icontains=query) | Q(client__last_name__icontains=query) | Q(
            client__first_name__icontains=query)
        parts = query.split()
        if len(parts) == 2:
            terms |= Q(client__first_name__icontains=parts[0], client__last_name__icontains=parts[1])
        queryset = queryset.filter(terms)
    return queryset


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
    """Open referrals my institutions send or receive, newest change first."""
    institution_ids = user_institution_ids(user)
    return visible_referrals(user).filter(
        Q(referring_institution_id__in=institution_ids) | Q(receiving_institution_id__in=institution_ids),
        status__in=[Status.DRAFT, Status.SUBMITTED, Status.ACCEPTED, Status.ACTIVE],
    ).order_by("-status_changed_at")


def cost_approvals_to_sign(user):
    institution_ids = [i for i in user_institution_ids(user) if user_has_role(user, Role.SIGNATORY, _Pk(i))]
    return (CostApproval.objects.select_related("referral", "referral__client", "requesting_institution")
            .filter(status=CostApprovalStatus.REQUESTED, financing_institution_id__in=institution_ids)
            .order_by("requested_at"))


def upcoming_meetings(user, days=30):
    now = timezone.now()
    institution_ids = user_institution_ids(user)
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
    def __init__(self, text, my_turn, anchor=""):
        self.text, self.my_turn, self.anchor = text, my_turn, anchor


def next_step_for(user, referral):
    """The one next step for this user on this referral, or what the other side is doing."""
    status = referral.status
    referrer = permissions.is_referrer_member(user, referral)
    receiver = permissions.is_receiver_member(user, referral)
    if status == Status.DRAFT:
        if referrer:
            return NextStep(_("Complete the application and send it to the receiving institution."), True, "edit")
        return NextStep(_("The referring institution is still preparing this application."), False)
    if status == Status.SUBMITTED:
        if permissions.can_decide(user, referral):
            return NextStep(_("Decide: accept the referral and assign a case worker, or reject it with a reason."),
                            True, "decide")
        return NextStep(_("%(institution)s is checking the application and will accept or reject it. "
                          "Questions? Write a comment or call the contact person.")
                        % {"institution": referral.receiving_institution.name}, False)
    if status == Status.ACCEPTED:
        handover_planned = any(m.kind == MeetingKind.HANDOVER and m.scheduled_at for m in referral.meetings.all())
        if referrer and not handover_planned:
            return NextStep(_("Organise the handover meeting with the client and the receiving case worker, "
                              "then enter its date here."), True, "meetings")
        if referrer or receiver:
            return NextStep(_("After the handover meeting, record its note: did all three agree?"), True, "meetings")
        return NextStep(_("The handover meeting is being organised."), False)
    if status == Status.ACTIVE:
        if any(a.awaits_signature and permissions.can_sign_cost_approval(user, a)
               for a in referral.cost_approvals.all()):
            return NextStep(_("Sign or refuse the requested cost approval: the measure can only start once it is "
                              "signed."), True, "cost-approvals")
        if receiver:
            return NextStep(_("You lead the case: hold the status meetings and record each note. "
                              "Request a cost approval before any measure starts."), True, "meetings")
        return NextStep(_("%(institution)s leads the case now. You will be invited to the status meetings; "
                          "sign cost approvals when asked.")
                        % {"institution": referral.receiving_institution.name}, False)
    return NextStep(_("Nothing more to do: this referral is finished (%(status)s).")
                    % {"status": referral.get_status_display()}, False)


# --- Keyset pages for long lists (issue 14) -----------------------------------------------------------------

def _parse_cursor(cursor):
    """'<ISO moment>_<id>' -> (moment, id), or None for a missing or malformed cursor (then: the first page)."""
    moment, _sep, pk = (cursor or "").rpartition("_")
    parsed = parse_datetime(moment) if moment else None
    if parsed is None or not pk.isdigit():
        return None
    return parsed, int(pk)


def keyset_page(queryset, cursor=None, size=50):
    """One page of `queryset` newest change first, after `cursor`: no OFFSET, no COUNT, whatever the position.

    Returns (rows, next cursor or None)."""
    queryset = queryset.order_by("-status_changed_at", "-pk")
    position = _parse_cursor(cursor)
    if position is not None:
        moment, pk = position
        queryset = queryset.filter(Q(status_changed_at__lt=moment) | Q(status_changed_at=moment, pk__lt=pk))
    rows = list(queryset[:size + 1])
    if len(rows) <= size:
        return rows, None
    last = rows[size - 1]
    return rows[:size], f"{last.status_changed_at.isoformat()}_{last.pk}"
