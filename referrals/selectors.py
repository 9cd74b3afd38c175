"""Reads of referrals, always scoped to what the user may see."""

from decimal import Decimal

from django.db.models import Max, Min, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from institutions.models import Role
from institutions.selectors import user_has_role, user_institution_ids, user_sees_everything

from . import permissions
from .models import (
    CostApproval,
    CostApprovalStatus,
    Invoice,
    InvoiceStatus,
    Meeting,
    MeetingKind,
    Referral,
    Status,
)

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
        return cls(sum((a.amount_chf for a in cost_approvals if a.status == CostApprovalStatus.APPROVED), zero),
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
    the closing meeting, None while active). Institutions are loaded; the client is not (no client data).
    """
    return (Referral.objects.filter(status__in=[Status.ACTIVE, Status.CLOSED])
            .select_related("referring_institution", "receiving_institution")
            .annotate(active_from=Min("meetings__held_on", filter=Q(meetings__kind=MeetingKind.HANDOVER,
                                                                    meetings__all_agreed=True)),
                      active_until=Max("meetings__held_on", filter=Q(meetings__kind=MeetingKind.STATUS,
                                                                     meetings__decision="close")))
            .filter(active_from__isnull=False, active_from__lte=last_day)
            .filter(Q(active_until__isnull=True) | Q(active_until__gte=first_day))
            .order_by("reference"))


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
