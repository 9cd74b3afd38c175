"""Pages of the referral workflow. Thin: they read through selectors and write through services."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Prefetch, prefetch_related_objects
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from audit.models import Action
from institutions.models import Institution, Role
from institutions.selectors import contact_persons_by_institution, user_primary_membership, user_roles
from institutions.validators import has_control_characters

from . import calendar, forms, permissions, selectors, services
from .ahv import ahv_digest
from .errors import TransitionNotAllowed
from .models import CostApproval, Document, Invoice, Measure, Meeting, MeetingKind, Status
from .rules import Finding, Situation, assess

# Service errors that name something other than a form field land on the field people fix.
FIELD_ALIASES = {"consent": "consent_given_on", "client": "first_name"}


WAITING_SHOWN = 30
# The start page shows the newest changes among the open cases; the list has them all (?status=open).
OPEN_CASES_SHOWN = 10


@login_required
def home(request):
    user = request.user
    roles = user_roles(user)
    sees_everything = Role.COORDINATOR in roles or Role.ADMIN in roles
    start = selectors.StartPage(user, open_cases_limit=OPEN_CASES_SHOWN)
    # The most urgent first; all of them on request (issue 14: the page stays small for a busy contact person).
    shown = start.waiting if request.GET.get("alle") == "1" else start.waiting[:WAITING_SHOWN]
    context = {
        "roles": roles,
        # Everything waiting for me, the overdue first (drafts, Rückfragen, decisions, meetings, signatures ...).
        "waiting": shown, "waiting_total": len(start.waiting), "waiting_hidden": len(start.waiting) - len(shown),
        "waiting_longest_sample": selectors.LONGEST_WAITING_SAMPLE,
        "meetings": start.meetings[:10],
        "open_cases": selectors.with_identity_flags(user, start.open_cases),
        "more_open_cases": start.more_open_cases,
        "waiting_longest": selectors.waiting_longest_by_institution() if sees_everything else None,
        "is_contact_person": Role.CONTACT_PERSON in roles,
        "is_signatory": Role.SIGNATORY in roles,
        "files_referrals": Role.CASE_WORKER in roles or Role.CONTACT_PERSON in roles,
        "sees_everything": sees_everything,
        # Open cases and meetings only where the user works cases (need to know, see selectors.StartPage).
        "is_party": any(role in roles for role in permissions.PARTY_ROLES),
        "reads_audit": Role.DATA_PROTECTION in roles,
    }
    services.access_log_record_many(user=user, referrals=[r for r in context["open_cases"] if r.identity_visible],
                                    action=Action.HOME)
    return render(request, "referrals/home.html", context)


LIST_PAGE_SIZE = 50


@login_required
def referral_list(request):
    query = request.GET.get("q", "")
    status = request.GET.get("status", "")
    query_error = ""
    if has_control_characters(query) or len(query) > SEARCH_MAX_LENGTH:
        # NUL and other control characters are refused (the database cannot search for them); the rest stays.
        query_error = _("Search for a reference or a name of at most %(limit)s characters, without control "
                        "characters.") % {"limit": SEARCH_MAX_LENGTH}
        query = "".join(ch for ch in query if not has_control_characters(ch))[:SEARCH_MAX_LENGTH]
    referrals = selectors.search_referrals(request.user, query)
    referrals = selectors.with_status(referrals, status)
    # Keyset pages of 50 (issue 14): the cost of a page does not grow with the list.
    rows, next_cursor = ([], None) if query_error else selectors.keyset_page(
        referrals, request.GET.get("after"), size=LIST_PAGE_SIZE, sides=selectors.party_sides(request.user))
    rows = selectors.with_identity_flags(request.user, rows)
    services.access_log_record_many(user=request.user, referrals=[r for r in rows if r.identity_visible],
                                    action=Action.SEARCH if query.strip() else Action.LIST)
    return render(request, "referrals/list.html", {
        "referrals": rows, "next_cursor": next_cursor, "is_first_page": not request.GET.get("after"),
        "query": query, "status": status, "statuses": Status.choices,
        "pseudonymised": any(not r.identity_visible for r in rows), "query_error": query_error,
    }, status=400 if query_error else 200)


SEARCH_MAX_LENGTH = 200


def _visible_or_404(user, pk):
    referral = selectors.referral_for_user(user, pk)
    if referral is None:
        services.referral_access_denied(user=user, pk=pk)
        raise Http404
    return referral


# --- Filing ------------------------------------------------------------------------------------------------

@login_required
def referral_create(request):
    membership = user_primary_membership(request.user)
    if membership is None or not (membership.is_case_worker or membership.is_contact_person):
        raise PermissionDenied(_("Only case workers of an institution can file referrals."))
    form = forms.ReferralForm(request.POST or None, referring_institution=membership.institution)
    known_person = []
    if request.method == "POST":
        if form.is_valid():
            continue_with_known = request.POST.get("known_client") == "continue"
            ahv_number = form.cleaned_data.get("ahv_number")
            if not continue_with_known and ahv_number:
                # "Diese Person ist bereits erfasst": before anything is saved, show her referrals.
                known_person = selectors.known_person_referrals(request.user, ahv_digest(ahv_number))
            if not known_person:
                try:
                    referral = services.referral_create_draft(
                        actor=request.user, client_data=form.client_data(), data=form.referral_data(),
                        continue_with_known_client=continue_with_known)
                except ValidationError as error:
                    _apply_errors(form, error)
                else:
                    if continue_with_known:
                        messages.info(request, _("The draft uses the personal data your institution already has "
                                                 "for this person; what you typed only fills gaps. Corrections "
                                                 "here change this draft only."))
                    return _after_save(request, referral, form)
        if not known_person:
            _invalid_post(request, form, membership.institution, saved=False)
    return _render_form(request, form, None, membership.institution, status=400 if form.errors else 200,
                        known_person=known_person)


def _invalid_post(request, form, referring_institution, saved):
    """The form could not be saved: on "send", list everything else that stands in the way too."""
    if "send" in request.POST:
        _add_blocking_errors(form, _live_assessment(form, referring_institution))
    if not saved:
        messages.error(request, _("Nothing was sent or saved yet: please correct the points listed below. "
                                  "Your input is kept."))


def _add_blocking_errors(form, assessment):
    """Each finding that blocks sending, at the field it concerns (once), so the summary lists them all."""
    error = ValidationError({finding.field or "__all__": [str(finding.message)]
                             for finding in reversed(assessment.blocking(_form_value(form, "justification")))})
    _apply_errors(form, error, only_new=True)


@login_required
def referral_edit(request, pk):
    referral = _visible_or_404(request.user, pk)
    if referral.status != Status.DRAFT:
        messages.info(request, _("This referral has been sent and can no longer be edited."))
        return redirect("referrals:detail", pk=pk)
    if not permissions.can_edit_draft(request.user, referral):
        messages.info(request, _("Only the case workers of the referring institution can edit this draft."))
        return redirect("referrals:detail", pk=pk)
    known_person = []
    if request.method == "POST":
        form = forms.ReferralForm(request.POST, referring_institution=referral.referring_institution)
        if form.is_valid():
            continue_with_known = request.POST.get("known_client") == "continue"
            digest = ahv_digest(form.cleaned_data["ahv_number"]) if form.cleaned_data.get("ahv_number") else ""
            if not continue_with_known and digest and digest != referral.client.ahv_digest:
                # The AHV number now names a person the institution knows: show her first, save nothing.
                known_person = [r for r in selectors.known_person_referrals(request.user, digest)
                                if r.pk != referral.pk]
            if not known_person:
                try:
                    services.referral_update_draft(referral=referral, actor=request.user,
                                                   client_data=form.client_data(), data=form.referral_data(),
                                                   continue_with_known_client=continue_with_known)
                except ValidationError as error:
                    _apply_errors(form, error)
                else:
                    return _after_save(request, referral, form)
        if not known_person:
            _invalid_post(request, form, referral.referring_institution, saved=False)
    else:
        services.access_log_record(user=request.user, referral=referral, action=Action.EDIT)
        form = forms.ReferralForm(initial=_initial_from(referral), referring_institution=referral.referring_institution)
    return _render_form(request, form, referral, referral.referring_institution, status=400 if form.errors else 200,
                        known_person=known_person)


def _after_save(request, referral, form):
    """Draft saved. 'Send' goes on to submit; if something is missing the form shows it, nothing is lost."""
    if "send" not in request.POST:
        messages.success(request, _("Draft %(ref)s saved. You can come back to it any time from the start page.")
                         % {"ref": referral.reference})
        return redirect("referrals:edit", pk=referral.pk)
    try:
        services.referral_submit(referral=referral, actor=request.user,
                                 justification=form.cleaned_data.get("justification") or "")
    except ValidationError as error:
        _apply_errors(form, error)
        messages.warning(request, _("Your input is saved as draft %(ref)s. Please complete what is marked below, "
                                    "then send again.") % {"ref": referral.reference})
        referral.refresh_from_db()
        return _render_form(request, form, referral, referral.referring_institution, status=400)
    referral.refresh_from_db()  # the services worked on their own locked copy
    messages.success(request, _("Referral %(ref)s sent. The contact persons of %(institution)s have been notified.")
                     % {"ref": referral.reference, "institution": referral.receiving_institution.name})
    return redirect("referrals:detail", pk=referral.pk)


# A submission needs these client fields; "client" findings land on each one still empty.
CLIENT_REQUIRED = ("first_name", "last_name", "date_of_birth", "ahv_number", "municipality")


def _apply_errors(form, error, only_new=False):
    if not hasattr(error, "error_dict"):
        forms.apply_service_errors(form, error)
        return
    by_field = {}
    for key, errors in error.message_dict.items():
        if key == "client":
            empty = [n for n in CLIENT_REQUIRED if not _form_value(form, n)] or ["first_name"]
            for name in empty:
                by_field.setdefault(name, []).append(str(_("Needed to send the referral.")))
            continue
        if key == "consent":
            names = [n for n in ("consent_given_on", "consent_form") if not _form_value(form, n)] or \
                ["consent_given_on"]
            for name in names:
                by_field.setdefault(name, []).extend(errors)
            continue
        by_field.setdefault(FIELD_ALIASES.get(key, key), []).extend(errors)
    if only_new:
        by_field = {k: v for k, v in by_field.items() if k == "__all__" or k not in form.errors}
    # Field order, so the error summary reads like the form.
    order = {name: i for i, name in enumerate(form.fields)}
    for name in sorted(by_field, key=lambda n: order.get(n, -1)):
        forms.apply_service_errors(form, ValidationError({name: by_field[name]}))


def _initial_from(referral):
    client = referral.client
    initial = {name: getattr(client, name) for name in forms.ReferralForm.CLIENT_FIELDS if name != "ahv_number"}
    initial["municipality"] = client.municipality_id
    initial["ahv_number"] = client.ahv_number
    for name in (forms.ReferralForm.SITUATION_FIELDS + forms.ReferralForm.RECEIVER_FIELDS
                 + forms.ReferralForm.CONSENT_FIELDS + ["justification"]):
        initial[name] = getattr(referral, name)
    initial["receiving_institution"] = referral.receiving_institution_id
    initial["receiving_kind"] = referral.receiving_institution.kind if referral.receiving_institution else ""
    return initial


def _render_form(request, form, referral, referring_institution, status=200, known_person=None):
    context = {"form": form, "referral": referral, "referring_institution": referring_institution,
               "known_person": known_person or [], **_assessment_context(form, referring_institution)}
    return render(request, "referrals/form.html", context, status=status)


def _assessment_context(form, referring_institution, oob=False):
    """What the live check shows: the assessment, the checklist and every point that still blocks sending."""
    assessment = _live_assessment(form, referring_institution)
    blocking = []
    for finding in assessment.blocking(_form_value(form, "justification")):
        field_name = FIELD_ALIASES.get(finding.field, finding.field)
        if finding.field == "client":
            field_name = next((n for n in CLIENT_REQUIRED if not _form_value(form, n)), "first_name")
        blocking.append(Finding(finding.code, finding.message, field_name))
    return {
        "assessment": assessment, "blocking": blocking, "oob": oob,
        "real_hard_stops": [f for f in assessment.hard_stops if f.code != "no_consent"],
        "suggestions": _suggestions(form, referring_institution),
    }


def _form_value(form, name):
    """The value as typed, cleaned where it could be: the live check works on half-filled forms too."""
    if form.is_bound:
        if name in form.errors:
            return None  # e.g. an AHV number with a wrong check digit does not count as given
        if hasattr(form, "cleaned_data") and name in form.cleaned_data:
            return form.cleaned_data[name]
        try:
            return form.fields[name].clean(form.fields[name].widget.value_from_datadict(form.data, form.files,
                                                                                        form.add_prefix(name)))
        except ValidationError:
            return None
    value = form.initial.get(name)
    if name == "receiving_institution" and value:
        return Institution.objects.filter(pk=value).first()
    return value


def _live_assessment(form, referring_institution):
    situation = Situation(**{name: _form_value(form, name) or (None if name.endswith("_on") else False)
                             for name in Situation.FIELDS})
    client_complete = all(_form_value(form, n) for n in ("first_name", "last_name", "date_of_birth", "ahv_number",
                                                         "municipality"))
    return assess(
        referrer=referring_institution, receiver=_form_value(form, "receiving_institution"), situation=situation,
        client_complete=client_complete, mandate=_form_value(form, "mandate"),
        problem_areas=_form_value(form, "problem_areas") or [],
        planned_duration_months=_form_value(form, "planned_duration_months"),
        consent_given_on=_form_value(form, "consent_given_on"), consent_form=_form_value(form, "consent_form"),
        today=timezone.localdate(),
    )


def _suggestions(form, referring_institution):
    municipality = _form_value(form, "municipality")
    if municipality is None:
        return None
    if not hasattr(municipality, "pk"):
        from institutions.models import Municipality

        municipality = Municipality.objects.filter(pk=municipality).first()
        if municipality is None:
            return None
    return {"municipality": municipality,
            "institutions": list(municipality.institutions.filter(active=True).exclude(pk=referring_institution.pk)
                                 .order_by("kind", "name"))}


@login_required
@require_POST
def referral_check(request):
    """htmx: the live check (process, target group, criteria, warnings) as the user answers."""
    membership = user_primary_membership(request.user)
    if membership is None:
        raise PermissionDenied
    form = forms.ReferralForm(request.POST, referring_institution=membership.institution)
    form.is_valid()
    receiver_options = form["receiving_institution"].as_widget(attrs={"id": "receiver-options-select",
                                                                      "tabindex": "-1", "aria-hidden": "true"})
    return render(request, "referrals/_check_response.html",
                  {"receiver_options": receiver_options,
                   **_assessment_context(form, membership.institution, oob=True)})


# --- The case page ----------------------------------------------------------------------------------------

@login_required
def referral_detail(request, pk, forms_override=None, status=200, ahv_revealed=False):
    referral = _visible_or_404(request.user, pk)
    services.access_log_record(user=request.user, referral=referral, action=Action.VIEW)
    if permissions.consent_withdrawal_hides_identity(request.user, referral):
        # Consent withdrawn: the receiving institution sees the pseudonymised case only (codes, dates).
        referrer_contacts, receiver_contacts = _contacts(referral)
        return render(request, "referrals/detail_pseudonymised.html", {
            "referral": referral, "status_words": selectors.status_in_words(referral),
            "timeline": selectors.referral_timeline(referral),
            "referrer_contacts": referrer_contacts, "receiver_contacts": receiver_contacts}, status=status)
    context = _detail_context(request, referral, forms_override or {})
    context["ahv_revealed"] = ahv_revealed and context["identity"]
    return render(request, "referrals/detail.html", context, status=status)


@login_required
@require_POST
def ahv_reveal(request, pk):
    """The full AHV number, only on an explicit "anzeigen" that is itself audited."""
    referral = _visible_or_404(request.user, pk)
    if not permissions.can_see_client_identity(request.user, referral):
        services.referral_access_denied(user=request.user, pk=referral.pk, action=Action.AHV_REVEAL)
        raise Http404
    services.access_log_record(user=request.user, referral=referral, action=Action.AHV_REVEAL)
    return referral_detail(request, pk, ahv_revealed=True)


def _contacts(referral):
    """(referrer's contact persons, receiver's contact persons), one query."""
    found = contact_persons_by_institution(referral.referring_institution, referral.receiving_institution)
    return found.get(referral.referring_institution_id, []), found.get(referral.receiving_institution_id, [])


def _detail_context(request, referral, bound_forms):
    user = request.user
    status = referral.status
    # Loaded once here; the next-step logic reads the same prefetched rows.
    prefetch_related_objects([referral], "meetings", Prefetch(
        "cost_approvals", queryset=CostApproval.objects.select_related("requested_by", "decided_by",
                                                                       "financing_institution")))
    meetings = list(referral.meetings.all())
    cost_approvals = list(referral.cost_approvals.all())
    for approval in cost_approvals:
        approval.user_can_sign = (approval.awaits_signature
                                  and permissions.can_sign_cost_approval(user, approval))
        approval.user_can_invoice = (approval.is_approved
                                     and permissions.can_lead_case(user, referral))
    measures = list(referral.measures.all())
    lead = permissions.can_lead_case(user, referral)
    for measure in measures:
        measure.approval = measure.covering_approval([a for a in cost_approvals if a.covered_measure_id == measure.pk])
        measure.has_approval = any(a.covered_measure_id == measure.pk and a.is_approved for a in cost_approvals)
        measure.user_can_start = (lead and status == Status.ACTIVE and measure.is_planned)
    invoices = list(Invoice.objects.filter(referral=referral).select_related(
        "measure", "financing_institution", "forwarded_by", "confirmed_by"))
    for invoice in invoices:
        invoice.user_can_forward = lead and invoice.awaits_forwarding
        invoice.user_can_confirm = (invoice.awaits_confirmation
                                    and permissions.can_confirm_invoice(user, invoice))
    can = {
        "plan_measure": status in services.CASE_STATUSES and lead,
        "record_invoice": lead and any(m.has_approval for m in measures),
        "edit": status == Status.DRAFT and permissions.can_edit_draft(user, referral),
        "withdraw": status in (Status.DRAFT, Status.SUBMITTED) and permissions.can_withdraw(user, referral),
        "decide": status == Status.SUBMITTED and permissions.can_decide(user, referral),
        "comment": status in services.COMMENT_STATUSES and permissions.can_comment(user, referral),
        "schedule_handover": status == Status.ACCEPTED and permissions.can_work_case(user, referral),
        "record_handover": status == Status.ACCEPTED and permissions.can_work_case(user, referral),
        "schedule_status": status == Status.ACTIVE and permissions.can_lead_case(user, referral),
        "record_status": status == Status.ACTIVE and permissions.can_lead_case(user, referral),
        "request_cost_approval": status in services.CASE_STATUSES and permissions.can_lead_case(user, referral),
        "upload": permissions.can_upload_document(user, referral),
        "change_personal_data": status in services.PERSONAL_DATA_STATUSES
        and permissions.can_change_personal_data(user, referral),
        "withdraw_consent": status in services.CONSENT_WITHDRAWAL_ENDS and permissions.can_withdraw_consent(
            user, referral),
    }

    def form(name, cls, **kwargs):
        return bound_forms.get(name) or cls(**kwargs)

    return {
        "referral": referral,
        "client": referral.client,
        "status_words": selectors.status_in_words(referral),
        "next_step": selectors.next_step_for(user, referral),
        "timeline": selectors.referral_timeline(referral),
        "comments": referral.comments.select_related("author"),
        "meetings": meetings,
        "open_handover": next((m for m in meetings if m.kind == MeetingKind.HANDOVER and not m.is_recorded), None),
        # The note form opens by itself only once the planned meeting time has come.
        "handover_due": _is_due(meetings, MeetingKind.HANDOVER),
        "status_meeting_due": _is_due(meetings, MeetingKind.STATUS),
        "open_status_meeting": next((m for m in meetings if m.kind == MeetingKind.STATUS and not m.is_recorded),
                                    None),
        "cost_approvals": cost_approvals,
        "measures": measures,
        "invoices": invoices,
        "money": selectors.CaseMoney.of(cost_approvals, invoices),
        "documents": referral.documents.select_related("uploaded_by"),
        **dict(zip(("referrer_contacts", "receiver_contacts"), _contacts(referral), strict=True)),
        "assessment": services.referral_assess(referral=referral),
        "is_party": permissions.is_party(user, referral),
        "identity": permissions.can_see_client_identity(user, referral),
        "can": can,
        "accept_form": form("accept", forms.AcceptForm, institution=referral.receiving_institution),
        "reject_form": form("reject", forms.RejectForm),
        "withdraw_form": form("withdraw", forms.WithdrawForm),
        "comment_form": form("comment", forms.CommentForm),
        "schedule_form": form("schedule", forms.ScheduleMeetingForm),
        "handover_form": form("handover", forms.HandoverForm, initial={"held_on": timezone.localdate()}),
        "status_form": form("status_meeting", forms.StatusMeetingForm, initial={"held_on": timezone.localdate()}),
        "cost_form": form("cost_approval", forms.CostApprovalForm, referral=referral,
                          planned_measures=[m for m in measures if m.is_planned]),
        "measure_form": form("measure", forms.MeasureForm, prefix="measure"),
        "new_invoice_form": form("new_invoice", forms.NewInvoiceForm, referral=referral, prefix="invoice"),
        "refuse_form": form("refuse", forms.RefuseCostApprovalForm),
        "invoice_form": form("invoice", forms.InvoiceForm),
        "document_form": form("document", forms.DocumentForm),
        "consent_withdrawal_form": form("consent_withdrawal", forms.ConsentWithdrawalForm,
                                        initial={"withdrawn_on": timezone.localdate()}),
    }


def _is_due(meetings, kind):
    now = timezone.now()
    return any(m.kind == kind and not m.is_recorded and m.scheduled_at and m.scheduled_at <= now for m in meetings)


def _run_action(request, referral, form_name, form, call, success_message):
    """Validate, call the service, and come back to the case page with the input kept on any error."""
    if form.is_valid():
        try:
            call(form.cleaned_data)
        except ValidationError as error:
            forms.apply_service_errors(form, error)
        except TransitionNotAllowed as error:
            messages.error(request, error.message)
            return redirect("referrals:detail", pk=referral.pk)
        except PermissionDenied:
            services.referral_step_denied(user=request.user, referral=referral)
            raise
        else:
            messages.success(request, success_message)
            return redirect("referrals:detail", pk=referral.pk)
    messages.error(request, _("Please correct the marked fields below; your input is kept."))
    return referral_detail(request, referral.pk, forms_override={form_name: form}, status=400)


def _action_view(form_name, form_class, call, success_message, form_kwargs=None):
    @login_required
    @require_POST
    def view(request, pk):
        referral = _visible_or_404(request.user, pk)
        kwargs = form_kwargs(referral) if form_kwargs else {}
        form = form_class(request.POST, request.FILES, **kwargs)
        return _run_action(request, referral, form_name, form,
                           lambda data: call(referral=referral, actor=request.user, data=data),
                           str(success_message))

    return view


accept = _action_view(
    "accept", forms.AcceptForm,
    lambda referral, actor, data: services.referral_accept(
        referral=referral, actor=actor, case_worker=data["case_worker"]),
    gettext_lazy("Referral accepted. The referrer has been asked to organise the handover meeting."),
    form_kwargs=lambda referral: {"institution": referral.receiving_institution},
)
reject = _action_view(
    "reject", forms.RejectForm,
    lambda referral, actor, data: services.referral_reject(
        referral=referral, actor=actor, reason=data["reason"], reason_text=data["reason_text"]),
    gettext_lazy("Referral rejected. The referrer has been informed."),
)
withdraw = _action_view(
    "withdraw", forms.WithdrawForm,
    lambda referral, actor, data: services.referral_withdraw(referral=referral, actor=actor, reason=data["reason"]),
    gettext_lazy("Referral withdrawn."),
)
comment = _action_view(
    "comment", forms.CommentForm,
    lambda referral, actor, data: services.comment_add(referral=referral, actor=actor, text=data["text"]),
    gettext_lazy("Comment added. The other side has been notified."),
)


def _schedule(kind):
    return lambda referral, actor, data: services.meeting_schedule(
        referral=referral, actor=actor, kind=kind, scheduled_at=data["scheduled_at"], location=data["location"])


schedule_handover = _action_view("schedule", forms.ScheduleMeetingForm, _schedule(MeetingKind.HANDOVER),
                                 gettext_lazy("Handover meeting scheduled. Both case workers have been notified."))
schedule_status_meeting = _action_view("schedule", forms.ScheduleMeetingForm, _schedule(MeetingKind.STATUS),
                                       gettext_lazy("Status meeting scheduled."))
record_handover = _action_view(
    "handover", forms.HandoverForm,
    lambda referral, actor, data: services.handover_record(referral=referral, actor=actor, **data),
    gettext_lazy("Handover meeting recorded."),
)
record_status_meeting = _action_view(
    "status_meeting", forms.StatusMeetingForm,
    lambda referral, actor, data: services.status_meeting_record(referral=referral, actor=actor, **data),
    gettext_lazy("Status meeting recorded."),
)
request_cost_approval = _action_view(
    "cost_approval", forms.CostApprovalForm,
    lambda referral, actor, data: services.cost_approval_request(referral=referral, actor=actor, **data),
    gettext_lazy("Cost approval requested. The signatories of the financing institution have been notified."),
    form_kwargs=lambda referral: {"referral": referral},
)
plan_measure = _action_view(
    "measure", forms.MeasureForm,
    lambda referral, actor, data: services.measure_create(referral=referral, actor=actor, **data),
    gettext_lazy("Measure planned. Request a cost approval for it: it can start only once that is signed."),
    form_kwargs=lambda referral: {"prefix": "measure"},
)
record_new_invoice = _action_view(
    "new_invoice", forms.NewInvoiceForm,
    lambda referral, actor, data: services.invoice_record(
        measure=data["measure"], actor=actor, number=data["number"], invoice_date=data["invoice_date"],
        amount_chf=data["amount_chf"], uploaded_file=data.get("file"),
        over_budget_reason=data["over_budget_reason"]),
    gettext_lazy("Invoice recorded. Forward it to the financing institution next."),
    form_kwargs=lambda referral: {"referral": referral, "prefix": "invoice"},
)
withdraw_consent = _action_view(
    "consent_withdrawal", forms.ConsentWithdrawalForm,
    lambda referral, actor, data: services.referral_withdraw_consent(referral=referral, actor=actor, **data),
    gettext_lazy("Consent withdrawal recorded. The referral has ended and both institutions have been informed."),
)
upload_document = _action_view(
    "document", forms.DocumentForm,
    lambda referral, actor, data: services.document_upload(referral=referral, actor=actor,
                                                           uploaded_file=data["file"], kind=data["kind"]),
    gettext_lazy("Document added."),
)


def _cost_approval_action(form_name, form_class, call, success_message):
    @login_required
    @require_POST
    def view(request, pk, approval_pk):
        referral = _visible_or_404(request.user, pk)
        approval = get_object_or_404(CostApproval, pk=approval_pk, referral=referral)
        form = form_class(request.POST)
        return _run_action(request, referral, form_name, form,
                           lambda data: call(cost_approval=approval, actor=request.user, data=data),
                           str(success_message))

    return view


class _NoFields(forms.forms.Form):
    pass


approve_cost_approval = _cost_approval_action(
    "approve", _NoFields,
    lambda cost_approval, actor, data: services.cost_approval_approve(cost_approval=cost_approval, actor=actor),
    gettext_lazy("Cost approval signed. The leading institution has been informed; the measure may start."),
)
refuse_cost_approval = _cost_approval_action(
    "refuse", forms.RefuseCostApprovalForm,
    lambda cost_approval, actor, data: services.cost_approval_refuse(cost_approval=cost_approval, actor=actor,
                                                                     reason=data["reason"]),
    gettext_lazy("Cost approval refused. The leading institution has been informed."),
)
record_invoice = _cost_approval_action(
    "invoice", forms.InvoiceForm,
    lambda cost_approval, actor, data: services.cost_approval_record_invoice(
        cost_approval=cost_approval, actor=actor, **data),
    gettext_lazy("Invoice recorded."),
)


def _object_action(model, call, success_message):
    """A one-button step on a measure or an invoice of the case (start, forward, confirm)."""
    @login_required
    @require_POST
    def view(request, pk, object_pk):
        referral = _visible_or_404(request.user, pk)
        obj = get_object_or_404(model, pk=object_pk, referral=referral)
        try:
            call(obj, request.user)
        except ValidationError as error:
            for message in error.messages:
                messages.error(request, message)
        except TransitionNotAllowed as error:
            messages.error(request, error.message)
        else:
            messages.success(request, str(success_message))
        return redirect(reverse("referrals:detail", args=[referral.pk]) + "#measures")

    return view


start_measure = _object_action(
    Measure, lambda measure, actor: services.measure_start(measure=measure, actor=actor),
    gettext_lazy("Measure marked as started."))
forward_invoice = _object_action(
    Invoice, lambda invoice, actor: services.invoice_forward(invoice=invoice, actor=actor),
    gettext_lazy("Invoice forwarded. The signatories of the financing institution have been notified."))
confirm_invoice = _object_action(
    Invoice, lambda invoice, actor: services.invoice_confirm_receipt(invoice=invoice, actor=actor),
    gettext_lazy("Receipt of the invoice confirmed."))


@login_required
def invoice_download(request, pk, object_pk):
    referral = _visible_or_404(request.user, pk)
    if not permissions.is_party(request.user, referral):
        raise Http404
    invoice = get_object_or_404(Invoice, pk=object_pk, referral=referral)
    if not invoice.file:
        raise Http404
    services.access_log_record(user=request.user, referral=referral, action="download")
    return FileResponse(invoice.file.open("rb"), as_attachment=True, filename=invoice.original_name or "invoice")


@login_required
def document_download(request, pk, document_pk):
    referral = _visible_or_404(request.user, pk)
    if not permissions.can_see_client_identity(request.user, referral):
        services.referral_access_denied(user=request.user, pk=referral.pk, action=Action.DOWNLOAD)
        raise Http404  # documents are for the two parties only
    document = get_object_or_404(Document, pk=document_pk, referral=referral)
    services.access_log_record(user=request.user, referral=referral, action=Action.DOWNLOAD)
    return FileResponse(document.file.open("rb"), as_attachment=True, filename=document.original_name,
                        content_type=document.content_type or "application/octet-stream")



@login_required
def change_personal_data(request, pk):
    """'Personalien ändern': a party changes the client's personal data on a sent referral, on purpose."""
    referral = _visible_or_404(request.user, pk)
    if referral.status not in services.PERSONAL_DATA_STATUSES or not permissions.can_change_personal_data(
            request.user, referral):
        messages.info(request, _("The personal data of this referral cannot be changed by you now."))
        return redirect("referrals:detail", pk=pk)
    if request.method == "POST":
        form = forms.PersonalDataForm(request.POST)
        if form.is_valid():
            try:
                services.client_change_personal_data(referral=referral, actor=request.user,
                                                     client_data=form.cleaned_data)
            except ValidationError as error:
                forms.apply_service_errors(form, error)
            except TransitionNotAllowed as error:
                messages.error(request, error.message)
                return redirect("referrals:detail", pk=pk)
            else:
                messages.success(request, _("Personal data changed. The change is recorded in the timeline."))
                return redirect("referrals:detail", pk=pk)
    else:
        services.access_log_record(user=request.user, referral=referral, action="edit")
        form = forms.PersonalDataForm(initial=forms.PersonalDataForm.initial_from(referral.client))
    return render(request, "referrals/personal_data.html", {"referral": referral, "form": form},
                  status=400 if form.errors else 200)


@login_required
def meeting_calendar(request, pk, meeting_pk):
    """The meeting as an .ics file, for Outlook (the place people actually look)."""
    referral = _visible_or_404(request.user, pk)
    if not permissions.can_see_client_identity(request.user, referral):
        raise Http404
    meeting = get_object_or_404(Meeting, pk=meeting_pk, referral=referral, scheduled_at__isnull=False)
    response = HttpResponse(calendar.meeting_ics(meeting, with_location=True), content_type="text/calendar")
    response["Content-Disposition"] = f'attachment; filename="{referral.reference}-{meeting.pk}.ics"'
    return response
