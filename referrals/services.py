"""Every write to a referral. Views, the API, the admin, tasks and tests call these and nothing else.

Each function: checks permission (PermissionDenied), locks the row, checks the transition against
TRANSITIONS (TransitionNotAllowed), writes, records a ReferralEvent, and enqueues e-mails on commit.
"""

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from institutions.models import Role
from institutions.selectors import user_has_role, user_primary_membership

from . import notifications, permissions
from .ahv import ahv_digest, encrypt_ahv, normalize_ahv
from .errors import TransitionNotAllowed
from .models import (
    AccessLog,
    ClosureGround,
    ClosureOutcome,
    Comment,
    CostApproval,
    CostApprovalStatus,
    Document,
    EventKind,
    Meeting,
    MeetingDecision,
    MeetingKind,
    Referral,
    ReferralEvent,
    RejectionReason,
    Status,
)
from .rules import Situation, assess

# The referral's lifecycle (DOMAIN.md): the only status changes there are.
TRANSITIONS = {
    Status.DRAFT: {Status.SUBMITTED, Status.WITHDRAWN},
    Status.SUBMITTED: {Status.ACCEPTED, Status.REJECTED, Status.WITHDRAWN},
    Status.ACCEPTED: {Status.ACTIVE, Status.NOT_STARTED},
    Status.ACTIVE: {Status.CLOSED},
    Status.CLOSED: set(),
    Status.REJECTED: set(),
    Status.WITHDRAWN: set(),
    Status.NOT_STARTED: set(),
}

# Statuses in which the case is being worked on, beyond the status changes themselves.
CASE_STATUSES = {Status.ACCEPTED, Status.ACTIVE}
COMMENT_STATUSES = {Status.SUBMITTED, Status.ACCEPTED, Status.ACTIVE, Status.DRAFT}

CLIENT_FIELDS = ("first_name", "last_name", "date_of_birth", "municipality", "address", "phone", "email",
                 "preferred_language")
REFERRAL_FIELDS = (*Situation.FIELDS, "receiving_institution", "mandate", "problem_areas",
                   "planned_duration_months", "consent_given_on", "consent_form", "justification")


def _deny(message):
    raise PermissionDenied(message)


def _lock(referral):
    return Referral.objects.select_for_update(of=("self",)).select_related(
        "referring_institution", "receiving_institution", "client"
    ).get(pk=referral.pk)


def _check_transition(referral, to_status):
    if to_status not in TRANSITIONS[Status(referral.status)]:
        raise TransitionNotAllowed(referral.status, to_status)


def _record_event(*, referral, actor, kind, from_status="", to_status="", reason="", text="", payload=None,
                  cost_approval=None):
    return ReferralEvent.objects.create(
        referral=referral, actor=actor, kind=kind, from_status=from_status, to_status=to_status, reason=reason,
        text=text, payload=payload or {}, cost_approval=cost_approval,
    )


def _change_status(referral, *, actor, to_status, reason="", text="", payload=None):
    """The one place a referral's status changes."""
    _check_transition(referral, to_status)
    from_status = referral.status
    referral.status = to_status
    referral.status_changed_at = timezone.now()
    referral.save()
    return _record_event(referral=referral, actor=actor, kind=EventKind.STATUS, from_status=from_status,
                         to_status=to_status, reason=reason, text=text, payload=payload)


def _on_commit(func, *args, **kwargs):
    transaction.on_commit(lambda: func(*args, **kwargs))


def _notify(func, *args):
    """Write the e-mail to the outbox in this transaction: it exists exactly when the change does."""
    func(*args)


# --- Filing ----------------------------------------------------------------------------------------------

def _client_fields_from(client_data):
    """Normalise the client part of an application; the AHV number is validated here, once for all callers."""
    values = {name: client_data[name] for name in CLIENT_FIELDS if name in client_data}
    if "ahv_number" in client_data:
        raw = (client_data.get("ahv_number") or "").strip()
        if raw:
            try:
                formatted = normalize_ahv(raw)
            except ValidationError as exc:
                raise ValidationError({"ahv_number": exc.messages}) from exc
            values["ahv_ciphertext"] = encrypt_ahv(formatted)
            values["ahv_digest"] = ahv_digest(formatted)
        else:
            values["ahv_ciphertext"] = values["ahv_digest"] = ""
    for key in ("address", "phone", "email"):
        if key in values and values[key] is None:
            values[key] = ""
    return values


def _referral_fields_from(data):
    values = {name: data[name] for name in REFERRAL_FIELDS if name in data}
    for name in ("mandate", "consent_form", "justification"):
        if name in values and values[name] is None:
            values[name] = ""
    if "problem_areas" in values:
        values["problem_areas"] = list(values["problem_areas"] or [])
    for name in Situation.FIELDS:
        if name in values and values[name] is None and not name.endswith("_on"):
            values[name] = False
    return values


def _referring_membership(actor):
    membership = user_primary_membership(actor)
    if membership is None or not (membership.is_case_worker or membership.is_contact_person):
        _deny(_("Only case workers of an institution can file referrals."))
    return membership


def _derive(referral):
    """Store the derived process and target group so lists and KPIs can count them."""
    assessment = referral_assess(referral=referral)
    referral.process = assessment.process
    referral.target_group = assessment.target_group or ""
    return assessment


@transaction.atomic
def referral_create_draft(*, actor, client_data, data):
    """Start a referral from the actor's institution. Incomplete input is fine: it is a draft."""
    membership = _referring_membership(actor)
    client = client_create_or_update(client_data=client_data, institution=membership.institution)
    referral = Referral(
        client=client, referring_institution=membership.institution, referring_case_worker=actor,
        status=Status.DRAFT, **_referral_fields_from(data),
    )
    _derive(referral)
    referral.save()
    # A reference people can say on the phone: OPT-2026-0042.
    referral.reference = f"OPT-{referral.created_at.astimezone(timezone.get_current_timezone()).year}-{referral.pk:04d}"
    referral.save(update_fields=["reference"])
    _record_event(referral=referral, actor=actor, kind=EventKind.STATUS, to_status=Status.DRAFT)
    return referral


def client_create_or_update(*, client_data, client=None, institution=None):
    from django.db.models import Q

    from .models import Client

    values = _client_fields_from(client_data)
    if client is None and values.get("ahv_digest") and institution is not None:
        # The same AHV number is the same person: no second record where the institution already knows the
        # client from one of its own referrals. Other institutions' client records stay out of reach.
        client = Client.objects.filter(
            Q(referrals__referring_institution=institution) | Q(referrals__receiving_institution=institution),
            ahv_digest=values["ahv_digest"]).first()
    if client is None:
        values.setdefault("first_name", "")
        values.setdefault("last_name", "")
        return Client.objects.create(**values)
    for name, value in values.items():
        setattr(client, name, value)
    client.save()
    return client


@transaction.atomic
def referral_update_draft(*, referral, actor, client_data=None, data=None):
    referral = _lock(referral)
    if not permissions.can_edit_draft(actor, referral):
        _deny(_("Only the referring institution can edit this draft."))
    if referral.status != Status.DRAFT:
        raise TransitionNotAllowed(referral.status, Status.DRAFT)
    if client_data:
        client_create_or_update(client_data=client_data, client=referral.client)
    for name, value in _referral_fields_from(data or {}).items():
        setattr(referral, name, value)
    _derive(referral)
    referral.save()
    _record_event(referral=referral, actor=actor, kind=EventKind.EDITED)
    return referral


def referral_assess(*, referral, today=None):
    client = referral.client
    client_complete = bool(client.first_name and client.last_name and client.date_of_birth
                           and client.ahv_ciphertext and client.municipality_id)
    return assess(
        referrer=referral.referring_institution, receiver=referral.receiving_institution,
        situation=Situation.from_referral(referral), client_complete=client_complete, mandate=referral.mandate,
        problem_areas=referral.problem_areas, planned_duration_months=referral.planned_duration_months,
        consent_given_on=referral.consent_given_on, consent_form=referral.consent_form,
        today=today or timezone.localdate(),
    )


@transaction.atomic
def referral_submit(*, referral, actor, justification=None):
    """Send the application. Raises ValidationError listing everything still missing or in the way."""
    referral = _lock(referral)
    if not permissions.can_edit_draft(actor, referral):
        _deny(_("Only the referring institution can send this referral."))
    _check_transition(referral, Status.SUBMITTED)
    if justification is not None:
        referral.justification = justification
    assessment = _derive(referral)
    blocking = assessment.blocking(referral.justification)
    if blocking:
        errors = {}
        for finding in blocking:
            errors.setdefault(finding.field or "__all__", []).append(str(finding.message))
        raise ValidationError(errors)
    event = _change_status(
        referral, actor=actor, to_status=Status.SUBMITTED, text=referral.justification,
        payload={"warnings": [w.code for w in assessment.warnings], "process": referral.process,
                 "target_group": referral.target_group},
    )
    _notify(notifications.referral_submitted, referral.pk)
    return event


@transaction.atomic
def referral_withdraw(*, referral, actor, reason):
    referral = _lock(referral)
    if not permissions.can_withdraw(actor, referral):
        _deny(_("Only the referring institution can withdraw this referral."))
    _check_transition(referral, Status.WITHDRAWN)
    was_submitted = referral.status == Status.SUBMITTED
    if was_submitted and not (reason or "").strip():
        raise ValidationError({"reason": [_("Please say why the referral is withdrawn.")]})
    event = _change_status(referral, actor=actor, to_status=Status.WITHDRAWN, text=reason or "")
    if was_submitted:
        _notify(notifications.referral_withdrawn, referral.pk)
    return event


# --- Decision ------------------------------------------------------------------------------------------------

@transaction.atomic
def referral_accept(*, referral, actor, case_worker):
    referral = _lock(referral)
    if not permissions.can_decide(actor, referral):
        _deny(_("Only the OPTIMA contact persons of the receiving institution can accept a referral."))
    _check_transition(referral, Status.ACCEPTED)
    if case_worker is None or not user_has_role(case_worker, Role.CASE_WORKER, referral.receiving_institution):
        raise ValidationError({"case_worker": [_("Choose a case worker of your institution.")]})
    referral.assigned_case_worker = case_worker
    event = _change_status(referral, actor=actor, to_status=Status.ACCEPTED,
                           payload={"case_worker": case_worker.pk})
    _notify(notifications.referral_decided, referral.pk)
    return event


@transaction.atomic
def referral_reject(*, referral, actor, reason, reason_text=""):
    referral = _lock(referral)
    if not permissions.can_decide(actor, referral):
        _deny(_("Only the OPTIMA contact persons of the receiving institution can reject a referral."))
    _check_transition(referral, Status.REJECTED)
    errors = {}
    if reason not in RejectionReason.values:
        errors["reason"] = [_("Choose one of the listed reasons.")]
    elif reason == RejectionReason.OTHER and not (reason_text or "").strip():
        errors["reason_text"] = [_("Please explain the reason “Other” in a few words.")]
    if errors:
        raise ValidationError(errors)
    referral.rejection_reason = reason
    referral.rejection_text = reason_text or ""
    event = _change_status(referral, actor=actor, to_status=Status.REJECTED, reason=reason, text=reason_text or "")
    _notify(notifications.referral_decided, referral.pk)
    return event


# --- Conversation ----------------------------------------------------------------------------------------

@transaction.atomic
def comment_add(*, referral, actor, text):
    referral = _lock(referral)
    if not permissions.can_comment(actor, referral):
        _deny(_("Only the two institutions of this referral can write here."))
    if referral.status not in COMMENT_STATUSES:
        raise TransitionNotAllowed(referral.status, referral.status)
    if not (text or "").strip():
        raise ValidationError({"text": [_("Please write your question or comment.")]})
    comment = Comment.objects.create(referral=referral, author=actor, text=text.strip())
    _record_event(referral=referral, actor=actor, kind=EventKind.COMMENT, text=comment.text,
                  payload={"comment": comment.pk})
    _notify(notifications.comment_added, referral.pk, actor.pk)
    return comment


# --- Meetings --------------------------------------------------------------------------------------------

@transaction.atomic
def meeting_schedule(*, referral, actor, kind, scheduled_at, location=""):
    referral = _lock(referral)
    if kind == MeetingKind.HANDOVER:
        allowed, statuses = permissions.can_work_case(actor, referral), {Status.ACCEPTED}
    else:
        allowed, statuses = permissions.can_lead_case(actor, referral), {Status.ACTIVE}
    if not allowed:
        _deny(_("You cannot schedule meetings for this referral."))
    if referral.status not in statuses:
        raise TransitionNotAllowed(referral.status, referral.status)
    if scheduled_at is None:
        raise ValidationError({"scheduled_at": [_("Enter the date and time of the meeting.")]})
    meeting = Meeting.objects.filter(referral=referral, kind=kind, recorded_at__isnull=True).first()
    meeting = meeting or Meeting(referral=referral, kind=kind)
    meeting.scheduled_at, meeting.location, meeting.scheduled_by = scheduled_at, location or "", actor
    meeting.planned_on = None
    meeting.save()
    _record_event(referral=referral, actor=actor, kind=EventKind.MEETING_SCHEDULED, reason=kind,
                  payload={"meeting": meeting.pk, "scheduled_at": scheduled_at.isoformat()})
    _notify(notifications.meeting_scheduled, referral.pk, meeting.pk, actor.pk)
    return meeting


def _open_meeting(referral, kind):
    return Meeting.objects.filter(referral=referral, kind=kind, recorded_at__isnull=True).first() or Meeting(
        referral=referral, kind=kind)


@transaction.atomic
def handover_record(*, referral, actor, held_on, case_work_starts_on=None, strategy="",
                    first_status_meeting_on=None, client_able_and_willing=None, all_agreed):
    """The handover note. Agreed by all three -> active; otherwise OPTIMA does not start."""
    referral = _lock(referral)
    if not permissions.can_work_case(actor, referral):
        _deny(_("Only the case workers of this referral record the handover meeting."))
    to_status = Status.ACTIVE if all_agreed else Status.NOT_STARTED
    _check_transition(referral, to_status)
    errors = {}
    if held_on is None:
        errors["held_on"] = [_("Enter the date of the handover meeting.")]
    elif held_on > timezone.localdate():
        errors["held_on"] = [_("The meeting cannot be recorded before it took place.")]
    if all_agreed:
        if case_work_starts_on is None:
            errors["case_work_starts_on"] = [_("Enter the date case work starts.")]
        if not (strategy or "").strip():
            errors["strategy"] = [_("Describe the strategy and the planned measures.")]
        if first_status_meeting_on is None:
            errors["first_status_meeting_on"] = [_("Enter the date of the first status meeting.")]
        if referral.process == "optima_alv" and not client_able_and_willing:
            errors["client_able_and_willing"] = [_(
                "For OPTIMA-ALV the client states that they can and want to work; without that statement the "
                "RAV cannot take over. If all three do not agree, record that instead.")]
    if errors:
        raise ValidationError(errors)
    meeting = _open_meeting(referral, MeetingKind.HANDOVER)
    meeting.held_on, meeting.case_work_starts_on, meeting.strategy = held_on, case_work_starts_on, strategy or ""
    meeting.first_status_meeting_on, meeting.client_able_and_willing = first_status_meeting_on, client_able_and_willing
    meeting.all_agreed, meeting.recorded_by, meeting.recorded_at = bool(all_agreed), actor, timezone.now()
    meeting.save()
    _record_event(referral=referral, actor=actor, kind=EventKind.MEETING_RECORDED, reason=MeetingKind.HANDOVER,
                  payload={"meeting": meeting.pk})
    event = _change_status(referral, actor=actor, to_status=to_status, payload={"meeting": meeting.pk})
    if all_agreed and first_status_meeting_on:
        _plan_status_meeting(referral, actor, first_status_meeting_on)
    _notify(notifications.referral_status_changed, referral.pk, actor.pk)
    return event


def _plan_status_meeting(referral, actor, on_date):
    import datetime

    at = timezone.make_aware(datetime.datetime.combine(on_date, datetime.time(9, 0)))
    meeting = _open_meeting(referral, MeetingKind.STATUS)
    meeting.scheduled_at, meeting.scheduled_by, meeting.planned_on = at, actor, timezone.localdate()
    meeting.save()
    _record_event(referral=referral, actor=actor, kind=EventKind.MEETING_SCHEDULED, reason=MeetingKind.STATUS,
                  payload={"meeting": meeting.pk, "scheduled_at": at.isoformat()})


@transaction.atomic
def status_meeting_record(*, referral, actor, held_on, progress, next_steps="", decision, next_meeting_on=None,
                          outcome="", ground="", outcome_text=""):
    """A status meeting note; the decision 'close' makes it the closing meeting."""
    referral = _lock(referral)
    if not permissions.can_lead_case(actor, referral):
        _deny(_("Status meetings are recorded by the receiving institution, which leads the case."))
    if referral.status != Status.ACTIVE:
        raise TransitionNotAllowed(referral.status, Status.ACTIVE)
    errors = _status_meeting_errors(held_on, progress, decision, next_meeting_on, outcome, ground, outcome_text)
    if errors:
        raise ValidationError(errors)
    meeting = _open_meeting(referral, MeetingKind.STATUS)
    meeting.held_on, meeting.progress, meeting.next_steps = held_on, progress, next_steps or ""
    meeting.decision, meeting.next_meeting_on = decision, next_meeting_on
    meeting.recorded_by, meeting.recorded_at = actor, timezone.now()
    meeting.save()
    event = _record_event(referral=referral, actor=actor, kind=EventKind.MEETING_RECORDED,
                          reason=MeetingKind.STATUS, payload={"meeting": meeting.pk, "decision": decision})
    if decision == MeetingDecision.CLOSE:
        referral.closure_outcome, referral.closure_ground, referral.closure_text = outcome, ground, outcome_text or ""
        event = _change_status(referral, actor=actor, to_status=Status.CLOSED, reason=outcome,
                               text=outcome_text or "", payload={"ground": ground, "meeting": meeting.pk})
        _notify(notifications.referral_status_changed, referral.pk, actor.pk)
    else:
        _plan_status_meeting(referral, actor, next_meeting_on)
    return event


def _status_meeting_errors(held_on, progress, decision, next_meeting_on, outcome, ground, outcome_text):
    errors = {}
    if held_on is None:
        errors["held_on"] = [_("Enter the date of the status meeting.")]
    elif held_on > timezone.localdate():
        errors["held_on"] = [_("The meeting cannot be recorded before it took place.")]
    if not (progress or "").strip():
        errors["progress"] = [_("Describe the progress since the last meeting.")]
    if decision not in MeetingDecision.values:
        errors["decision"] = [_("Choose whether the case continues or is closed.")]
    elif decision == MeetingDecision.CONTINUE:
        if next_meeting_on is None:
            errors["next_meeting_on"] = [_("Enter the date of the next status meeting.")]
        elif held_on and next_meeting_on <= held_on:
            errors["next_meeting_on"] = [_("The next meeting must be after this one.")]
    else:
        if outcome not in ClosureOutcome.values:
            errors["outcome"] = [_("Choose the outcome of the mandate.")]
        if ground not in ClosureGround.values:
            errors["ground"] = [_("Choose the ground for closing.")]
        if ClosureOutcome.OTHER in (outcome, ground) and not (outcome_text or "").strip():
            errors["outcome_text"] = [_("Please explain “Other” in a few words.")]
    return errors


# --- Cost approvals --------------------------------------------------------------------------------------

@transaction.atomic
def cost_approval_request(*, referral, actor, measure, provider, amount_chf, starts_on, ends_on, justification):
    """The leading (receiving) institution asks the financing institution (the referrer) to pay a measure."""
    referral = _lock(referral)
    if not permissions.can_lead_case(actor, referral):
        _deny(_("Cost approvals are requested by the receiving institution, which leads the case."))
    if referral.status not in CASE_STATUSES:
        raise TransitionNotAllowed(referral.status, referral.status)
    errors = {}
    for name, value in (("measure", measure), ("provider", provider), ("justification", justification)):
        if not (value or "").strip():
            errors[name] = [_("This field is required.")]
    if amount_chf is None or amount_chf <= 0:
        errors["amount_chf"] = [_("Enter the amount in CHF, e.g. 1800.00.")]
    if starts_on is None or ends_on is None:
        errors["ends_on" if starts_on else "starts_on"] = [_("Enter the period of the measure.")]
    elif ends_on < starts_on:
        errors["ends_on"] = [_("The end of the measure must be after its start.")]
    if errors:
        raise ValidationError(errors)
    approval = CostApproval.objects.create(
        referral=referral, requesting_institution=referral.receiving_institution,
        financing_institution=referral.referring_institution, requested_by=actor, measure=measure,
        provider=provider, amount_chf=amount_chf, starts_on=starts_on, ends_on=ends_on, justification=justification,
    )
    _record_event(referral=referral, actor=actor, kind=EventKind.COST_APPROVAL, to_status=CostApprovalStatus.REQUESTED,
                  cost_approval=approval, payload={"amount_chf": str(amount_chf), "measure": measure})
    _notify(notifications.cost_approval_requested, approval.pk)
    return approval


def _decide_cost_approval(cost_approval, actor, to_status, reason=""):
    if not permissions.can_view(actor, cost_approval.referral) or not permissions.can_sign_cost_approval(
            actor, cost_approval):
        _deny(_("Only a signatory of the financing institution can sign or refuse this cost approval."))
    referral = _lock(cost_approval.referral)
    approval = CostApproval.objects.select_for_update().get(pk=cost_approval.pk)
    if referral.status not in CASE_STATUSES:
        raise TransitionNotAllowed(referral.status, referral.status,
                                   _("The case has ended; its cost approvals can no longer be signed."))
    if approval.status != CostApprovalStatus.REQUESTED:
        raise TransitionNotAllowed(approval.status, to_status, _("This cost approval has already been decided."))
    approval.status, approval.decided_by, approval.decided_at = to_status, actor, timezone.now()
    approval.refusal_reason = reason
    approval.save()
    _record_event(referral=approval.referral, actor=actor, kind=EventKind.COST_APPROVAL,
                  from_status=CostApprovalStatus.REQUESTED, to_status=to_status, text=reason,
                  cost_approval=approval, payload={"amount_chf": str(approval.amount_chf)})
    _notify(notifications.cost_approval_decided, approval.pk)
    return approval


@transaction.atomic
def cost_approval_approve(*, cost_approval, actor):
    return _decide_cost_approval(cost_approval, actor, CostApprovalStatus.APPROVED)


@transaction.atomic
def cost_approval_refuse(*, cost_approval, actor, reason):
    if not (reason or "").strip():
        # Permission first, so an outsider learns nothing from the validation message.
        if not permissions.can_sign_cost_approval(actor, cost_approval):
            _deny(_("Only a signatory of the financing institution can sign or refuse this cost approval."))
        raise ValidationError({"reason": [_("Please give the reason for the refusal.")]})
    return _decide_cost_approval(cost_approval, actor, CostApprovalStatus.REFUSED, reason.strip())


@transaction.atomic
def cost_approval_record_invoice(*, cost_approval, actor, received_on, forwarded_on=None):
    """The provider's invoice reached the leading institution and was forwarded to the financing one."""
    if not permissions.can_lead_case(actor, cost_approval.referral):
        _deny(_("The leading institution records invoices."))
    approval = CostApproval.objects.select_for_update().get(pk=cost_approval.pk)
    if approval.status != CostApprovalStatus.APPROVED:
        raise ValidationError({"received_on": [_("Only invoices for approved measures are recorded.")]})
    if received_on is None:
        raise ValidationError({"received_on": [_("Enter the date the invoice arrived.")]})
    approval.invoice_received_on, approval.invoice_forwarded_on = received_on, forwarded_on
    approval.save()
    _record_event(referral=approval.referral, actor=actor, kind=EventKind.COST_APPROVAL, to_status="invoiced",
                  cost_approval=approval, payload={"received_on": str(received_on),
                                                   "forwarded_on": str(forwarded_on or "")})
    return approval


# --- Documents and access log ------------------------------------------------------------------------------

@transaction.atomic
def document_upload(*, referral, actor, uploaded_file, kind):
    referral = _lock(referral)
    if not permissions.can_upload_document(actor, referral):
        _deny(_("Only the two institutions of this referral can add documents."))
    name = uploaded_file.name or ""
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    allowed = settings.DOCUMENT_ALLOWED_EXTENSIONS
    if extension not in allowed:
        raise ValidationError({"file": [_("Files of this type cannot be added. Allowed: %(types)s.")
                                        % {"types": ", ".join(allowed)}]})
    if uploaded_file.size > settings.DOCUMENT_MAX_BYTES:
        raise ValidationError({"file": [_("The file is too large (%(size)s MB); the limit is %(limit)s MB.") % {
            "size": round(uploaded_file.size / 1048576, 1), "limit": settings.DOCUMENT_MAX_BYTES // 1048576}]})
    document = Document(referral=referral, uploaded_by=actor, kind=kind, original_name=name[:255],
                        size=uploaded_file.size, content_type=getattr(uploaded_file, "content_type", "") or "")
    document.file.save(name, uploaded_file, save=False)
    document.save()
    _record_event(referral=referral, actor=actor, kind=EventKind.DOCUMENT, text=document.original_name,
                  payload={"document": document.pk, "kind": kind})
    return document


# --- Reminders ---------------------------------------------------------------------------------------------

@transaction.atomic
def referral_record_reminder(*, referral, action, key, threshold, due_on, recipients, escalation=False, actor=None):
    """A reminder went out (written by the reminders app): an event in the case timeline.

    Returns the event, or None when this reminder (task key and threshold) was already recorded: the
    caller sends its mail only for a new event, so a job running twice reminds once.
    """
    referral = _lock(referral)
    if referral.events.filter(kind=EventKind.REMINDER, reason=str(threshold)[:40],
                              payload__key=key).exists():
        return None
    return _record_event(
        referral=referral, actor=actor, kind=EventKind.REMINDER, reason=str(threshold)[:40],
        text=due_on.strftime("%d.%m.%Y"),
        payload={"key": key, "action": action, "due_on": due_on.isoformat(), "escalation": escalation,
                 "recipients": sorted(u.pk for u in recipients)})


def access_log_record(*, user, referral, action):
    """Every read and change of client data is logged (data protection)."""
    AccessLog.objects.create(user=user, referral=referral, action=action)


def access_log_record_many(*, user, referrals, action):
    AccessLog.objects.bulk_create([AccessLog(user=user, referral=referral, action=action) for referral in referrals])
