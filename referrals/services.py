"""Every write to a referral. Views, the API, the admin, tasks and tests call these and nothing else.

Each function: checks permission (PermissionDenied), locks the row, checks the transition against
TRANSITIONS (TransitionNotAllowed), writes, records a ReferralEvent, and enqueues e-mails on commit.
"""

import calendar
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.models import Action, Outcome
from audit.services import audit_purge, audit_record, audit_record_many
from institutions.models import Role
from institutions.selectors import user_has_role, user_primary_membership

from . import notifications, permissions, signals
from . import validators as plausible
from .ahv import ahv_digest, encrypt_ahv, normalize_ahv
from .errors import TransitionNotAllowed
from .models import (
    FINAL_STATUSES,
    OPEN_STATUSES,
    Client,
    ClosureGround,
    ClosureOutcome,
    Comment,
    ConsentWithdrawalChannel,
    CostApproval,
    CostApprovalStatus,
    Document,
    EventKind,
    Invoice,
    InvoiceStatus,
    Measure,
    MeasureStatus,
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

# How a consent withdrawal ends a referral (issue 10); each pair must be allowed by TRANSITIONS above.
CONSENT_WITHDRAWAL_ENDS = {
    Status.SUBMITTED: Status.WITHDRAWN,  # before a decision
    Status.ACCEPTED: Status.NOT_STARTED,  # before the handover
    Status.ACTIVE: Status.CLOSED,  # after it, with the ground consent_withdrawn
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
                  cost_approval=None, measure=None, invoice=None):
    event = ReferralEvent.objects.create(
        referral=referral, actor=actor, kind=kind, from_status=from_status, to_status=to_status, reason=reason,
        text=text, payload=payload or {}, cost_approval=cost_approval, measure=measure, invoice=invoice,
    )
    # Same transaction: the KPI rollup (reporting) counts the event or nothing is written (see signals.py).
    signals.event_recorded.send(sender=ReferralEvent, event=event)
    return event


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


def _check_plausible_dates(client_data, data, client=None):
    """Birth, consent and situation dates within sensible bounds (referrals.validators), before anything is saved."""
    today = timezone.localdate()
    errors = {}
    client_data, data = client_data or {}, data or {}
    birth = (client_data.get("date_of_birth") if "date_of_birth" in client_data
             else getattr(client, "date_of_birth", None))
    plausible.collect(errors, "date_of_birth", plausible.validate_birth_date, client_data.get("date_of_birth"),
                      today=today)
    plausible.collect(errors, "consent_given_on", plausible.validate_consent_date, data.get("consent_given_on"),
                      today=today, date_of_birth=None if "date_of_birth" in errors else birth)
    for name in ("last_iv_rejection_on", "last_rav_registration_on"):
        plausible.collect(errors, name, plausible.validate_past_date, data.get(name), today=today)
    if errors:
        raise ValidationError(errors)


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


def known_client(*, institution, ahv_digest, exclude=None):
    """The newest client record of this AHV number among the institution's own referrals (sent or received),
    other than `exclude` (a draft's own record)."""
    if not ahv_digest or institution is None:
        return None
    # A receiver whose client withdrew consent no longer knows the person (permissions: hidden identity).
    received = (Q(referrals__receiving_institution=institution, referrals__consent_withdrawn_on__isnull=True)
                & ~Q(referrals__status=Status.DRAFT))
    return (Client.objects.filter(Q(referrals__referring_institution=institution) | received,
                                  ahv_digest=ahv_digest)
            .exclude(pk=getattr(exclude, "pk", None)).order_by("-pk").first())


@transaction.atomic
def referral_create_draft(*, actor, client_data, data, continue_with_known_client=False):
    """Start a referral from the actor's institution. Incomplete input is fine: it is a draft.

    The draft gets its own client record: filing again for a known AHV number never changes the record of
    another referral (issue 10). With ``continue_with_known_client`` ("Diese Person ist bereits erfasst" ->
    continue) the new record starts from what the institution already knows about the person; what was typed
    only fills gaps.
    """
    membership = _referring_membership(actor)
    _check_plausible_dates(client_data, data)
    base = None
    if continue_with_known_client:
        values = _client_fields_from(client_data)
        base = known_client(institution=membership.institution, ahv_digest=values.get("ahv_digest"))
    client = client_create_or_update(client_data=client_data, base=base)
    referral = Referral(
        client=client, referring_institution=membership.institution, referring_case_worker=actor,
        status=Status.DRAFT, **_referral_fields_from(data),
    )
    _derive(referral)
    referral.save()
    # A reference people can say on the phone: OPT-2026-0042.
    referral.reference = f"OPT-{referral.created_at.astimezone(timezone.get_current_timezone()).year}-{referral.pk:04d}"
    referral.save(update_fields=["reference"])
    _record_event(referral=referral, actor=actor, kind=EventKind.STATUS, to_status=Status.DRAFT,
                  payload={"known_client": True} if base is not None else None)
    return referral


COPIED_CLIENT_FIELDS = (*CLIENT_FIELDS, "ahv_ciphertext", "ahv_digest")


def client_create_or_update(*, client_data, client=None, base=None, institution=None):
    """A new client record (optionally starting from `base`, a known record of the same person), or an
    update of `client`, which must be the record of one draft only. `institution` is accepted for callers of
    the old signature; records are no longer shared between referrals."""
    values = _client_fields_from(client_data)
    if base is not None:
        values = _known_data_first(values, base)
    if client is None:
        values.setdefault("first_name", "")
        values.setdefault("last_name", "")
        return Client.objects.create(**values)
    for name, value in values.items():
        setattr(client, name, value)
    client.save()
    return client


def _known_data_first(values, base):
    """The known record's data, with what was typed filling only its gaps."""
    merged = {name: getattr(base, name) for name in COPIED_CLIENT_FIELDS} | {"birth_year": base.birth_year}
    for name, value in values.items():
        if value not in ("", None) and merged.get(name) in ("", None):
            merged[name] = value
    return merged


def _own_client(referral):
    """Copy-on-write for records still shared with another referral (rows from before issue 10)."""
    client = referral.client
    if client.referrals.exclude(pk=referral.pk).exists():
        client = Client.objects.create(**{name: getattr(client, name) for name in COPIED_CLIENT_FIELDS},
                                       birth_year=client.birth_year)
        referral.client = client
        referral.save(update_fields=["client"])
    return client


@transaction.atomic
def referral_update_draft(*, referral, actor, client_data=None, data=None, continue_with_known_client=False):
    """Edit a draft; its client record is its own. ``continue_with_known_client``: as when filing."""
    referral = _lock(referral)
    if not permissions.can_edit_draft(actor, referral):
        _deny(_("Only the referring institution can edit this draft."))
    if referral.status != Status.DRAFT:
        raise TransitionNotAllowed(referral.status, Status.DRAFT)
    consent_data = dict(data or {})
    consent_data.setdefault("consent_given_on", referral.consent_given_on)
    _check_plausible_dates(client_data, consent_data, client=referral.client)
    if client_data:
        client = _own_client(referral)
        base = None
        if continue_with_known_client:
            base = known_client(institution=referral.referring_institution, exclude=client,
                                ahv_digest=_client_fields_from(client_data).get("ahv_digest"))
        client_create_or_update(client_data=client_data, client=client, base=base)
    for name, value in _referral_fields_from(data or {}).items():
        setattr(referral, name, value)
    _derive(referral)
    referral.save()
    _record_event(referral=referral, actor=actor, kind=EventKind.EDITED)
    return referral


# --- Personal data after submission ("Personalien ändern") ------------------------------------------------

PERSONAL_DATA_STATUSES = {Status.SUBMITTED, Status.ACCEPTED, Status.ACTIVE}
PERSONAL_DATA_FIELDS = (*CLIENT_FIELDS, "ahv_number")


def _shown(name, client):
    """A field's value as the timeline shows it: AHV masked, dates dd.mm.yyyy, municipality by name."""
    if name == "ahv_number":
        return client.ahv_masked
    value = getattr(client, name)
    if value is None:
        return ""
    if name == "date_of_birth":
        return value.strftime("%d.%m.%Y")
    if name == "municipality":
        return value.name
    return str(value)


@transaction.atomic
def client_change_personal_data(*, referral, actor, client_data):
    """A party corrects the client's personal data on this referral; the event lists old -> new per field."""
    referral = _lock(referral)
    if not permissions.can_change_personal_data(actor, referral):
        _deny(_("Only the case workers of the two institutions of this referral can change the personal data."))
    if referral.status not in PERSONAL_DATA_STATUSES:
        raise TransitionNotAllowed(referral.status, referral.status, _(
            "The personal data can be changed while the referral is open; a draft is edited directly."))
    client_data = {name: value for name, value in client_data.items() if name in PERSONAL_DATA_FIELDS}
    errors = {}
    for name in ("first_name", "last_name"):
        if name in client_data and not (client_data[name] or "").strip():
            errors[name] = [_("This field is required.")]
    if "ahv_number" in client_data and not (client_data["ahv_number"] or "").strip():
        errors["ahv_number"] = [_("The AHV number of a sent referral cannot be removed; correct it instead.")]
    if errors:
        raise ValidationError(errors)
    client = _own_client(referral)
    before = {name: _shown(name, client) for name in client_data}
    old_digest = client.ahv_digest
    client_create_or_update(client_data=client_data, client=client)
    changes = []
    for name in client_data:
        after = _shown(name, client)
        changed = client.ahv_digest != old_digest if name == "ahv_number" else after != before[name]
        if changed:
            changes.append({"field": name, "old": before[name], "new": after})
    if not changes:
        raise ValidationError({"__all__": [_("Nothing was changed: the personal data is the same as before.")]})
    event = _record_event(referral=referral, actor=actor, kind=EventKind.CLIENT_CHANGED,
                          payload={"changes": changes})
    _on_commit(notifications.client_data_changed, referral.pk, actor.pk)
    return event


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
    errors = {}
    plausible.collect(errors, "scheduled_at", plausible.validate_meeting_moment, scheduled_at,
                      now=timezone.localtime())
    if errors:
        raise ValidationError(errors)
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
    today = timezone.localdate()
    if held_on is None:
        errors["held_on"] = [_("Enter the date of the handover meeting.")]
    else:
        plausible.collect(errors, "held_on", plausible.validate_held_on, held_on, today=today)
    for name, value in (("case_work_starts_on", case_work_starts_on),
                        ("first_status_meeting_on", first_status_meeting_on)):
        plausible.collect(errors, name, plausible.validate_planned_date, value, today=today)
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
    if all_agreed:
        referral.active_from = held_on  # the case is active (and billable) from the agreed handover meeting on
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
    if "held_on" not in errors and referral.active_from and held_on < referral.active_from:
        # A closing meeting before it would end the case before it started (billing, model C).
        errors["held_on"] = [_("Status meetings follow the handover meeting of %(date)s; enter a date from then on.")
                             % {"date": referral.active_from.strftime("%d.%m.%Y")}]
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
        referral.active_until = held_on
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
    else:
        plausible.collect(errors, "held_on", plausible.validate_held_on, held_on, today=timezone.localdate())
    plausible.collect(errors, "next_meeting_on", plausible.validate_planned_date, next_meeting_on,
                      today=timezone.localdate())
    if not (progress or "").strip():
        errors["progress"] = [_("Describe the progress since the last meeting.")]
    if decision not in MeetingDecision.values:
        errors["decision"] = [_("Choose whether the case continues or is closed.")]
    elif decision == MeetingDecision.CONTINUE:
        if next_meeting_on is None:
            errors["next_meeting_on"] = [_("Enter the date of the next status meeting.")]
        elif "next_meeting_on" not in errors and held_on and next_meeting_on <= held_on:
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

# Amounts in CHF: more than this is a typing error (a measure of a million francs is not an OPTIMA measure).
MAX_AMOUNT_CHF = Decimal("1000000.00")


def _amount_error(amount_chf):
    """A translated message if the amount is not a plausible amount in CHF, else None."""
    if amount_chf is None or amount_chf <= 0 or amount_chf > MAX_AMOUNT_CHF:
        return _("Enter an amount in CHF greater than 0 and at most %(max)s, e.g. 1800.00.") % {
            "max": "1'000'000.00"}
    return None


def _measure_errors(*, title, provider, amount_chf, starts_on, ends_on):
    errors = {}
    for name, value in (("title", title), ("provider", provider)):
        if not (value or "").strip():
            errors[name] = [_("This field is required.")]
    if (message := _amount_error(amount_chf)) is not None:
        errors["amount_chf"] = [message]
    if starts_on is None or ends_on is None:
        errors["ends_on" if starts_on else "starts_on"] = [_("Enter the period of the measure.")]
    elif ends_on < starts_on:
        errors["ends_on"] = [_("The end of the measure must be after its start.")]
    else:
        plausible.collect(errors, "starts_on", plausible.validate_cost_approval_start, starts_on,
                          today=timezone.localdate())
        plausible.collect(errors, "ends_on", plausible.validate_cost_approval_end, ends_on, starts_on=starts_on)
    return errors


def _financing_institution(referral, financing_institution, financing_reason):
    """Where the client is entitled to benefits: the referrer unless the requester names the other party."""
    if financing_institution is None or financing_institution.pk == referral.referring_institution_id:
        return referral.referring_institution, ""
    if financing_institution.pk != referral.receiving_institution_id:
        raise ValidationError({"financing_institution": [_(
            "Only one of the two institutions of this referral can finance a measure.")]})
    if not (financing_reason or "").strip():
        raise ValidationError({"financing_reason": [_(
            "Say why %(institution)s pays instead of the referrer, e.g. the client is entitled to its benefits.")
            % {"institution": financing_institution.name}]})
    return financing_institution, financing_reason.strip()


@transaction.atomic
def cost_approval_request(*, referral, actor, measure="", provider="", amount_chf=None, starts_on=None,
                          ends_on=None, justification, financing_institution=None, financing_reason="",
                          covered_measure=None):
    """The leading (receiving) institution asks the financing institution to pay a measure.

    The financing institution is the referrer unless the requester names the other party with a reason. With
    `covered_measure` the approval is for that measure (its values unless given); otherwise a planned measure
    is created from the request, so every approval covers a measure of its own.
    """
    referral = _lock(referral)
    if not permissions.can_lead_case(actor, referral):
        _deny(_("Cost approvals are requested by the receiving institution, which leads the case."))
    if referral.status not in CASE_STATUSES:
        raise TransitionNotAllowed(referral.status, referral.status)
    if covered_measure is not None:
        covered_measure = Measure.objects.select_for_update().get(pk=covered_measure.pk)  # its current values
        if covered_measure.referral_id != referral.pk:
            raise ValidationError({"covered_measure": [_("Choose a measure of this case.")]})
        measure = measure or covered_measure.title
        provider = provider or covered_measure.provider
        amount_chf = covered_measure.amount_chf if amount_chf is None else amount_chf
        starts_on = starts_on or covered_measure.starts_on
        ends_on = ends_on or covered_measure.ends_on
    errors = {("measure" if k == "title" else k): v for k, v in _measure_errors(
        title=measure, provider=provider, amount_chf=amount_chf, starts_on=starts_on, ends_on=ends_on).items()}
    if not (justification or "").strip():
        errors["justification"] = [_("This field is required.")]
    if errors:
        raise ValidationError(errors)
    financing, reason = _financing_institution(referral, financing_institution, financing_reason)
    if covered_measure is None:
        covered_measure = Measure.objects.create(
            referral=referral, title=measure, provider=provider, amount_chf=amount_chf, starts_on=starts_on,
            ends_on=ends_on, created_by=actor)
        _record_event(referral=referral, actor=actor, kind=EventKind.MEASURE, to_status=MeasureStatus.PLANNED,
                      measure=covered_measure, payload={"amount_chf": str(amount_chf)})
    approval = CostApproval.objects.create(
        referral=referral, requesting_institution=referral.receiving_institution,
        financing_institution=financing, financing_reason=reason, covered_measure=covered_measure,
        requested_by=actor, measure=measure, provider=provider, amount_chf=amount_chf, starts_on=starts_on,
        ends_on=ends_on, justification=justification,
    )
    _record_event(referral=referral, actor=actor, kind=EventKind.COST_APPROVAL, to_status=CostApprovalStatus.REQUESTED,
                  cost_approval=approval, payload={"amount_chf": str(amount_chf), "measure": measure,
                                                   **({"financing_institution": financing.pk} if reason else {})})
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
    errors = {}
    today = timezone.localdate()
    plausible.collect(errors, "received_on", plausible.validate_invoice_date, received_on, today=today)
    plausible.collect(errors, "forwarded_on", plausible.validate_invoice_date, forwarded_on, today=today)
    if forwarded_on and "forwarded_on" not in errors and forwarded_on < received_on:
        errors["forwarded_on"] = [_("The invoice cannot be forwarded before it arrived.")]
    if errors:
        raise ValidationError(errors)
    approval.invoice_received_on, approval.invoice_forwarded_on = received_on, forwarded_on
    approval.save()
    _record_event(referral=approval.referral, actor=actor, kind=EventKind.COST_APPROVAL, to_status="invoiced",
                  cost_approval=approval, payload={"received_on": str(received_on),
                                                   "forwarded_on": str(forwarded_on or "")})
    return approval


# --- Measures and invoices (concept 5.2) ----------------------------------------------------------------

MEASURE_FIELDS = ("title", "provider", "amount_chf", "starts_on", "ends_on")


def _lock_measure(measure):
    return Measure.objects.select_for_update().get(pk=measure.pk)


@transaction.atomic
def measure_create(*, referral, actor, title, provider, amount_chf, starts_on, ends_on):
    """A measure planned by the leading institution; it starts only once a signed approval covers it."""
    referral = _lock(referral)
    if not permissions.can_lead_case(actor, referral):
        _deny(_("Measures are planned by the receiving institution, which leads the case."))
    if referral.status not in CASE_STATUSES:
        raise TransitionNotAllowed(referral.status, referral.status)
    errors = _measure_errors(title=title, provider=provider, amount_chf=amount_chf, starts_on=starts_on,
                             ends_on=ends_on)
    if errors:
        raise ValidationError(errors)
    measure = Measure.objects.create(referral=referral, title=title.strip(), provider=provider.strip(),
                                     amount_chf=amount_chf, starts_on=starts_on, ends_on=ends_on, created_by=actor)
    _record_event(referral=referral, actor=actor, kind=EventKind.MEASURE, to_status=MeasureStatus.PLANNED,
                  measure=measure, payload={"amount_chf": str(amount_chf)})
    return measure


@transaction.atomic
def measure_update(*, measure, actor, **changes):
    """Change a planned measure. A changed amount or period is no longer covered by an earlier signature."""
    referral = _lock(measure.referral)
    if not permissions.can_lead_case(actor, referral):
        _deny(_("Measures are planned by the receiving institution, which leads the case."))
    measure = _lock_measure(measure)
    if measure.status != MeasureStatus.PLANNED:
        raise TransitionNotAllowed(measure.status, measure.status,
                                   _("A started measure cannot be changed; plan a new measure instead."))
    unknown = set(changes) - set(MEASURE_FIELDS)
    if unknown:
        raise ValueError(f"not a measure field: {sorted(unknown)}")
    values = {name: changes.get(name, getattr(measure, name)) for name in MEASURE_FIELDS}
    errors = _measure_errors(**values)
    if errors:
        raise ValidationError(errors)
    before = {name: str(getattr(measure, name)) for name in MEASURE_FIELDS}
    for name, value in values.items():
        setattr(measure, name, value)
    measure.save()
    _record_event(referral=referral, actor=actor, kind=EventKind.MEASURE, reason="edited", measure=measure,
                  payload={"before": before, "after": {name: str(values[name]) for name in MEASURE_FIELDS}})
    return measure


@transaction.atomic
def measure_start(*, measure, actor, started_on=None):
    """Mark a measure started - only with a signed cost approval covering its amount and period."""
    referral = _lock(measure.referral)
    if not permissions.can_lead_case(actor, referral):
        _deny(_("The receiving institution, which leads the case, marks measures as started."))
    measure = _lock_measure(measure)
    if referral.status != Status.ACTIVE:
        raise TransitionNotAllowed(referral.status, referral.status,
                                   _("Measures start only while the case is active."))
    if measure.status != MeasureStatus.PLANNED:
        raise TransitionNotAllowed(measure.status, MeasureStatus.STARTED, _("This measure has already started."))
    if measure.covering_approval() is None:
        raise ValidationError({"__all__": [_(
            "This measure cannot start yet: no signed cost approval covers CHF %(amount)s from %(start)s to "
            "%(end)s. There is no pre-financing. Request a cost approval for this measure and wait until a "
            "signatory of the financing institution has signed it.") % {
            "amount": _chf_plain(measure.amount_chf), "start": measure.starts_on.strftime("%d.%m.%Y"),
            "end": measure.ends_on.strftime("%d.%m.%Y")}]})
    measure.status, measure.started_by = MeasureStatus.STARTED, actor
    measure.started_on = started_on or timezone.localdate()
    measure.save()
    _record_event(referral=referral, actor=actor, kind=EventKind.MEASURE, from_status=MeasureStatus.PLANNED,
                  to_status=MeasureStatus.STARTED, measure=measure)
    return measure


def _chf_plain(amount):
    return f"{amount:,.2f}".replace(",", "'")


@transaction.atomic
def invoice_record(*, measure, actor, number, invoice_date, amount_chf, uploaded_file=None, over_budget_reason=""):
    """The leading institution records a provider's invoice for a measure with a signed approval."""
    referral = _lock(measure.referral)
    if not permissions.can_lead_case(actor, referral):
        _deny(_("The leading institution records invoices."))
    measure = _lock_measure(measure)
    approvals = list(measure.cost_approvals.filter(status=CostApprovalStatus.APPROVED).order_by("-decided_at"))
    errors = {}
    if not (number or "").strip():
        errors["number"] = [_("Enter the invoice number as printed on the invoice.")]
    if (message := _amount_error(amount_chf)) is not None:
        errors["amount_chf"] = [message]
    if invoice_date is None:
        errors["invoice_date"] = [_("Enter the date of the invoice.")]
    elif invoice_date < measure.starts_on:
        errors["invoice_date"] = [_("The invoice is dated before the measure started (%(start)s). Check the date.")
                                  % {"start": measure.starts_on.strftime("%d.%m.%Y")}]
    elif invoice_date > timezone.localdate():
        errors["invoice_date"] = [_("The invoice date cannot be in the future.")]
    if not approvals:
        errors["__all__"] = [_("Invoices are recorded only for measures with a signed cost approval.")]
    if uploaded_file is not None:
        name = uploaded_file.name or ""
        extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
        if extension not in settings.DOCUMENT_ALLOWED_EXTENSIONS:
            errors["file"] = [_("Files of this type cannot be added. Allowed: %(types)s.")
                              % {"types": ", ".join(settings.DOCUMENT_ALLOWED_EXTENSIONS)}]
        elif uploaded_file.size > settings.DOCUMENT_MAX_BYTES:
            errors["file"] = [_("The file is too large (%(size)s MB); the limit is %(limit)s MB.") % {
                "size": round(uploaded_file.size / 1048576, 1), "limit": settings.DOCUMENT_MAX_BYTES // 1048576}]
    if errors:
        raise ValidationError(errors)
    approved = approvals[0].amount_chf
    invoiced = sum((i.amount_chf for i in measure.invoices.all()), Decimal("0"))
    if invoiced + amount_chf > approved and not (over_budget_reason or "").strip():
        raise ValidationError({"over_budget_reason": [_(
            "With this invoice CHF %(total)s are invoiced, more than the CHF %(approved)s approved. Say why, or "
            "check the amount.") % {"total": _chf_plain(invoiced + amount_chf), "approved": _chf_plain(approved)}]})
    invoice = Invoice(referral=referral, measure=measure, financing_institution=approvals[0].financing_institution,
                      number=number.strip(), invoice_date=invoice_date, amount_chf=amount_chf,
                      over_budget_reason=(over_budget_reason or "").strip(), recorded_by=actor)
    if uploaded_file is not None:
        invoice.original_name = (uploaded_file.name or "")[:255]
        invoice.file.save(uploaded_file.name, uploaded_file, save=False)
    invoice.save()
    _record_event(referral=referral, actor=actor, kind=EventKind.INVOICE, to_status=InvoiceStatus.RECORDED,
                  invoice=invoice, measure=measure, text=invoice.over_budget_reason,
                  payload={"amount_chf": str(amount_chf), "number": invoice.number})
    return invoice


def _lock_invoice(invoice):
    return Invoice.objects.select_for_update().select_related("financing_institution").get(pk=invoice.pk)


@transaction.atomic
def invoice_forward(*, invoice, actor):
    """The leading institution forwards the invoice to the financing institution, whose signatories are told."""
    referral = _lock(invoice.referral)
    if not permissions.can_lead_case(actor, referral):
        _deny(_("The leading institution forwards invoices."))
    invoice = _lock_invoice(invoice)
    if invoice.status != InvoiceStatus.RECORDED:
        raise TransitionNotAllowed(invoice.status, InvoiceStatus.FORWARDED,
                                   _("This invoice has already been forwarded."))
    invoice.status, invoice.forwarded_by, invoice.forwarded_at = InvoiceStatus.FORWARDED, actor, timezone.now()
    invoice.save()
    _record_event(referral=referral, actor=actor, kind=EventKind.INVOICE, from_status=InvoiceStatus.RECORDED,
                  to_status=InvoiceStatus.FORWARDED, invoice=invoice)
    _notify(notifications.invoice_forwarded, invoice.pk)
    return invoice


@transaction.atomic
def invoice_confirm_receipt(*, invoice, actor):
    """A signatory of the financing institution confirms the forwarded invoice has arrived."""
    if not permissions.can_view(actor, invoice.referral) or not permissions.can_confirm_invoice(actor, invoice):
        _deny(_("Only a signatory of the financing institution confirms receipt of an invoice."))
    referral = _lock(invoice.referral)
    invoice = _lock_invoice(invoice)
    if invoice.status != InvoiceStatus.FORWARDED:
        raise TransitionNotAllowed(invoice.status, InvoiceStatus.CONFIRMED,
                                   _("Only a forwarded invoice can be confirmed, and only once."))
    invoice.status, invoice.confirmed_by, invoice.confirmed_at = InvoiceStatus.CONFIRMED, actor, timezone.now()
    invoice.save()
    _record_event(referral=referral, actor=actor, kind=EventKind.INVOICE, from_status=InvoiceStatus.FORWARDED,
                  to_status=InvoiceStatus.CONFIRMED, invoice=invoice)
    return invoice


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
    try:
        # The stored (and served) content type is what the bytes show, never the browser's claim.
        content_type = plausible.validate_document_content(uploaded_file, extension)
    except ValidationError as exc:
        raise ValidationError({"file": exc.messages}) from exc
    document = Document(referral=referral, uploaded_by=actor, kind=kind, original_name=name[:255],
                        size=uploaded_file.size, content_type=content_type)
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
    """Every read of client data is recorded in the audit trail (data protection); kept for existing callers."""
    audit_record(actor=user, action=action, target=referral)


def access_log_record_many(*, user, referrals, action):
    audit_record_many(actor=user, action=action, targets=referrals)


def referral_access_denied(*, user, pk, action=Action.ACCESS):
    """An attempt on a referral the user may not see (answered 404): recorded with the outcome "denied"."""
    exists = Referral.objects.filter(pk=pk).exists()
    audit_record(actor=user, action=action, target=(Referral._meta.label, pk), outcome=Outcome.DENIED,
                 referral_id=pk if exists else None)


def referral_step_denied(*, user, referral):
    """A step the user's role does not allow on a referral they may see (answered 403): recorded as denied."""
    audit_record(actor=user, action=Action.STEP, target=referral, outcome=Outcome.DENIED)


def cost_approval_access_denied(*, user, pk):
    """An attempt on a cost approval outside the user's referrals (answered 404): recorded as denied."""
    referral_id = CostApproval.objects.filter(pk=pk).values_list("referral_id", flat=True).first()
    audit_record(actor=user, action=Action.ACCESS, target=(CostApproval._meta.label, pk), outcome=Outcome.DENIED,
                 referral_id=referral_id)


# --- Consent withdrawal --------------------------------------------------------------------------------------

@transaction.atomic
def referral_withdraw_consent(*, referral, actor, withdrawn_on, channel, note=""):
    """The client withdrew consent ("Einwilligung widerrufen"), recorded by either party.

    The referral ends: withdrawn before a decision, not started before the handover, closed with the ground
    consent_withdrawn after it (counted as outcome "other" - Sonstige - on the KPI sheet). From then on the
    receiving institution sees only the pseudonymised case (permissions.consent_withdrawal_hides_identity).
    """
    referral = _lock(referral)
    if not permissions.can_withdraw_consent(actor, referral):
        _deny(_("Only the case workers of the two institutions of this referral can record a consent withdrawal."))
    to_status = CONSENT_WITHDRAWAL_ENDS.get(Status(referral.status))
    if to_status is None:
        raise TransitionNotAllowed(referral.status, referral.status, _(
            "A consent withdrawal can be recorded on a sent, accepted or active referral only."))
    errors = {}
    today = timezone.localdate()
    if withdrawn_on is None:
        errors["withdrawn_on"] = [_("Enter the date the client withdrew consent.")]
    elif withdrawn_on > today:
        errors["withdrawn_on"] = [_("The date cannot be in the future.")]
    elif referral.consent_given_on and withdrawn_on < referral.consent_given_on:
        errors["withdrawn_on"] = [_("Consent was given on %(date)s; it cannot have been withdrawn before.")
                                  % {"date": referral.consent_given_on.strftime("%d.%m.%Y")}]
    if channel not in ConsentWithdrawalChannel.values:
        errors["channel"] = [_("Choose how you learned of the withdrawal.")]
    if errors:
        raise ValidationError(errors)
    referral.consent_withdrawn_on, referral.consent_withdrawal_channel = withdrawn_on, channel
    referral.consent_withdrawal_note = (note or "").strip()
    reason = ClosureGround.CONSENT_WITHDRAWN
    if to_status == Status.CLOSED:
        referral.closure_outcome, referral.closure_ground = ClosureOutcome.OTHER, ClosureGround.CONSENT_WITHDRAWN
        referral.closure_text = ""
        referral.active_until = withdrawn_on  # no closing meeting: the case ends with the withdrawal
        reason = ClosureOutcome.OTHER  # the KPI sheet counts closures by outcome
    event = _change_status(referral, actor=actor, to_status=to_status, reason=reason, payload={
        "ground": ClosureGround.CONSENT_WITHDRAWN, "consent_withdrawn_on": withdrawn_on.isoformat(),
        "channel": channel})
    _notify(notifications.consent_withdrawn, referral.pk, actor.pk)
    return event


# --- Retention and anonymisation ------------------------------------------------------------------------------

def _months_before(moment, months):
    """The same wall-clock moment `months` calendar months earlier (the day clipped to the month's end)."""
    year, month = divmod(moment.year * 12 + moment.month - 1 - months, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def retention_cutoff(now=None):
    """Referrals that ended before this moment are due for anonymisation."""
    return _months_before(now or timezone.now(), settings.OPTIMA_RETENTION_MONTHS)


def referrals_due_for_anonymisation(now=None):
    """Ended (closed, rejected, withdrawn, not started) longer than the retention period ago, not yet
    anonymised, and the person has no still-running referral (same record or same AHV number)."""
    running = Referral.objects.filter(status__in=OPEN_STATUSES)
    running_clients = running.values("client_id")
    running_digests = running.exclude(client__ahv_digest="").values("client__ahv_digest")
    return (Referral.objects.filter(status__in=FINAL_STATUSES, anonymised_at__isnull=True,
                                    status_changed_at__lt=retention_cutoff(now))
            .exclude(client_id__in=running_clients)
            .exclude(Q(client__ahv_digest__in=running_digests) & ~Q(client__ahv_digest=""))
            .select_related("client", "referring_institution", "receiving_institution")
            .order_by("status_changed_at", "pk"))


# Event payload keys that can hold personal data or free text; codes, dates, ids and amounts stay.
PERSONAL_PAYLOAD_KEYS = ("changes", "measure")


@transaction.atomic
def referral_anonymise(*, referral, actor=None, now=None):
    """Remove the client's identity, every free text and every document of an ended referral; keep codes,
    dates, institutions, process, target group, durations and amounts (the KPIs stay the same)."""
    now = now or timezone.now()
    referral = _lock(referral)
    if referral.anonymised_at is not None:
        return None
    if referral.status not in FINAL_STATUSES:
        raise TransitionNotAllowed(referral.status, referral.status, _("Only ended referrals are anonymised."))
    if Referral.objects.filter(status__in=OPEN_STATUSES).filter(
            Q(client_id=referral.client_id)
            | Q(client__ahv_digest=referral.client.ahv_digest) & ~Q(client__ahv_digest="")).exists():
        raise ValidationError(_("The client has a referral that is still running; nothing was anonymised."))
    client = referral.client
    if client.date_of_birth is not None:
        client.birth_year = client.date_of_birth.year
    client.first_name = client.last_name = client.address = client.phone = client.email = ""
    client.ahv_ciphertext = client.ahv_digest = ""
    client.date_of_birth = client.municipality = None
    client.save()
    for name in ("mandate", "justification", "rejection_text", "closure_text", "consent_withdrawal_note"):
        setattr(referral, name, "")
    referral.anonymised_at = now
    referral.save()
    referral.comments.update(text="")
    referral.meetings.update(location="", strategy="", progress="", next_steps="")
    referral.cost_approvals.update(measure="", provider="", justification="", refusal_reason="")
    # Measures and provider invoices (issue 11): what and who may describe the client; the amounts stay.
    referral.measures.update(title="", provider="")
    invoices = list(referral.invoices.exclude(file=""))
    referral.invoices.update(over_budget_reason="", original_name="")
    for event in referral.events.all():
        payload = {key: value for key, value in event.payload.items() if key not in PERSONAL_PAYLOAD_KEYS}
        if event.text or payload != event.payload:
            ReferralEvent.objects.filter(pk=event.pk).update(text="", payload=payload)
    documents = list(referral.documents.all())
    files = [(document.file.storage, document.file.name) for document in documents if document.file]
    files += [(invoice.file.storage, invoice.file.name) for invoice in invoices]
    referral.invoices.update(file="")
    referral.documents.all().delete()
    # Files go once the rows are gone for good; a rolled-back anonymisation keeps them.
    transaction.on_commit(lambda: [storage.delete(name) for storage, name in files])
    return _record_event(referral=referral, actor=actor, kind=EventKind.ANONYMISED, payload={
        "retention_months": settings.OPTIMA_RETENTION_MONTHS, "documents_deleted": len(documents)})


def referrals_anonymise_expired(*, now=None, dry_run=False, actor=None):
    """Anonymise every referral due (see referrals_due_for_anonymisation); each in its own transaction.
    Returns the referrals concerned (with dry_run: that would be)."""
    due = list(referrals_due_for_anonymisation(now))
    if dry_run:
        return due
    done = []
    for referral in due:
        try:
            if referral_anonymise(referral=referral, actor=actor, now=now) is not None:
                done.append(referral)
        except (ValidationError, TransitionNotAllowed):
            continue  # the person got a new running referral meanwhile: next run decides again
    referrals_purge_audit_trail(now=now)
    return done


def referrals_purge_audit_trail(*, now=None):
    """The audit records of referrals anonymised more than 12 months ago go (issue 9); returns how many."""
    anonymised = Referral.objects.filter(anonymised_at__isnull=False).only("pk", "anonymised_at")
    return audit_purge(anonymised=[(referral, referral.anonymised_at) for referral in anonymised], now=now)
