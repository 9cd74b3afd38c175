"""Every write through referrals.services: transitions, validation, events, notifications, documents.

The standard referral (conftest.make_referral) goes from the social services of Lucerne to WAS IV Luzern.
"""

import datetime
import io
import zipfile
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from institutions.models import User
from institutions.services import membership_set_roles
from referrals import services
from referrals.errors import TransitionNotAllowed
from referrals.models import (
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
    Status,
)
from tests.conftest import VALID_AHV, client_data, referral_data

TODAY = timezone.localdate()
DAY = datetime.timedelta(days=1)


pytestmark = pytest.mark.usefixtures("english")  # assertions read the English source texts


@pytest.fixture
def people(referrer, contact_person, receiving_worker, signatory, coordinator, outsider, directory):
    return SimpleNamespace(referrer=referrer, contact_person=contact_person, receiving_worker=receiving_worker,
                           signatory=signatory, coordinator=coordinator, outsider=outsider, directory=directory)


@pytest.fixture
def rav_contact(directory):
    user = User.objects.create_user(username="rav.kontakt", email="rav.kontakt@example.ch", first_name="Rita",
                                    last_name="Arnold")
    membership_set_roles(user=user, institution=directory["rav"], roles=["case_worker", "contact_person"])
    return user


def fresh(referral):
    return Referral.objects.get(pk=referral.pk)


def status_events(referral):
    return list(ReferralEvent.objects.filter(referral_id=referral.pk, kind=EventKind.STATUS).order_by("id"))


def snapshot(referral):
    """Everything a refused action must leave as it was."""
    row = Referral.objects.filter(pk=referral.pk).values().get()
    row.pop("updated_at")
    return {
        "referral": row,
        "events": list(ReferralEvent.objects.filter(referral_id=referral.pk).values_list("id", flat=True)),
        "comments": Comment.objects.filter(referral_id=referral.pk).count(),
        "meetings": list(Meeting.objects.filter(referral_id=referral.pk).values()),
        "cost_approvals": list(CostApproval.objects.filter(referral_id=referral.pk).values()),
        "documents": Document.objects.filter(referral_id=referral.pk).count(),
    }


def handover(actor, referral, agreed=True, **overrides):
    kwargs = {"held_on": TODAY, "case_work_starts_on": TODAY, "strategy": "Coaching and a work trial",
              "first_status_meeting_on": TODAY + 30 * DAY, "client_able_and_willing": True, "all_agreed": agreed}
    kwargs.update(overrides)
    return services.handover_record(referral=referral, actor=actor, **kwargs)


def close(actor, referral, **overrides):
    kwargs = {"held_on": TODAY, "progress": "Works 50% at a bakery", "decision": MeetingDecision.CLOSE,
              "outcome": "partial", "ground": "goal_unreachable", "outcome_text": "Full employment out of reach"}
    kwargs.update(overrides)
    return services.status_meeting_record(referral=referral, actor=actor, **kwargs)


def request_cost_approval(actor, referral, **overrides):
    kwargs = {"measure": "Job coaching", "provider": "Coaching AG", "amount_chf": Decimal("1800.00"),
              "starts_on": TODAY, "ends_on": TODAY + 90 * DAY, "justification": "Needed for the placement"}
    kwargs.update(overrides)
    return services.cost_approval_request(referral=referral, actor=actor, **kwargs)


# --- The actions that change the status, each as its service is called by its usual actor ---------------

ACTIONS = {
    "submit": (Status.SUBMITTED, lambda p, r: services.referral_submit(referral=r, actor=p.referrer)),
    "withdraw": (Status.WITHDRAWN,
                 lambda p, r: services.referral_withdraw(referral=r, actor=p.referrer, reason="Client moved away")),
    "accept": (Status.ACCEPTED, lambda p, r: services.referral_accept(referral=r, actor=p.contact_person,
                                                                       case_worker=p.receiving_worker)),
    "reject": (Status.REJECTED, lambda p, r: services.referral_reject(
        referral=r, actor=p.contact_person, reason="other", reason_text="The client cannot be reached")),
    "handover_agreed": (Status.ACTIVE, lambda p, r: handover(p.receiving_worker, r, agreed=True)),
    "handover_not_agreed": (Status.NOT_STARTED, lambda p, r: handover(p.receiving_worker, r, agreed=False)),
    "close": (Status.CLOSED, lambda p, r: close(p.receiving_worker, r)),
}

# What each status change records besides actor, from and to.
EXPECTED_EVENT = {
    "submit": {"actor": "referrer", "reason": "", "text": ""},
    "withdraw": {"actor": "referrer", "reason": "", "text": "Client moved away"},
    "accept": {"actor": "contact_person", "reason": "", "text": ""},
    "reject": {"actor": "contact_person", "reason": "other", "text": "The client cannot be reached"},
    "handover_agreed": {"actor": "receiving_worker", "reason": "", "text": ""},
    "handover_not_agreed": {"actor": "receiving_worker", "reason": "", "text": ""},
    "close": {"actor": "receiving_worker", "reason": "partial", "text": "Full employment out of reach"},
}

ALLOWED = [(status, name) for status, targets in services.TRANSITIONS.items()
           for name, (target, _) in ACTIONS.items() if target in targets]
FORBIDDEN = [(status, name) for status in services.TRANSITIONS
             for name, (target, _) in ACTIONS.items() if target not in services.TRANSITIONS[status]]
# The receiving side cannot see a draft at all: for them a draft does not exist (PermissionDenied, a 404 page).
RECEIVER_ACTIONS = {"accept", "reject", "handover_agreed", "handover_not_agreed", "close"}


def test_every_allowed_transition_has_a_service():
    covered = {(status, ACTIONS[name][0]) for status, name in ALLOWED}
    declared = {(status, target) for status, targets in services.TRANSITIONS.items() for target in targets}
    assert covered == declared
    assert len(ALLOWED) == 8


@pytest.mark.parametrize(("from_status", "action"), ALLOWED, ids=[f"{s}-{a}" for s, a in ALLOWED])
def test_allowed_transition_succeeds_and_writes_exactly_one_status_event(people, make_referral, from_status, action):
    referral = make_referral(from_status)
    to_status, call = ACTIONS[action]
    before = status_events(referral)

    returned = call(people, referral)

    after = status_events(referral)
    assert len(after) == len(before) + 1
    event = after[-1]
    assert returned == event
    expected = EXPECTED_EVENT[action]
    assert event.actor == getattr(people, expected["actor"])
    assert (event.from_status, event.to_status) == (from_status, to_status)
    assert (event.reason, event.text) == (expected["reason"], expected["text"])
    assert fresh(referral).status == to_status
    assert fresh(referral).status_changed_at == pytest.approx(event.created_at, abs=datetime.timedelta(seconds=5))


@pytest.mark.parametrize("from_status", list(services.TRANSITIONS))
def test_forbidden_transitions_are_refused_and_change_nothing(people, make_referral, from_status):
    referral = make_referral(from_status)
    before = snapshot(referral)
    forbidden = [action for status, action in FORBIDDEN if status == from_status]
    assert forbidden
    for action in forbidden:
        call = ACTIONS[action][1]
        if from_status == Status.DRAFT and action in RECEIVER_ACTIONS:
            with pytest.raises(PermissionDenied):
                call(people, referral)
        else:
            with pytest.raises(TransitionNotAllowed) as caught:
                call(people, referral)
            assert caught.value.from_status == from_status, action
            assert caught.value.message, action
        assert snapshot(referral) == before, f"{action} on a {from_status} referral changed something"


def test_submitting_twice_is_refused(people, make_referral):
    referral = make_referral(Status.SUBMITTED)
    with pytest.raises(TransitionNotAllowed) as caught:
        services.referral_submit(referral=referral, actor=people.referrer)
    assert "Waiting for decision" in caught.value.message
    assert len(status_events(referral)) == 2


def test_editing_a_submitted_referral_is_refused(people, make_referral):
    referral = make_referral(Status.SUBMITTED)
    before = snapshot(referral)
    with pytest.raises(TransitionNotAllowed):
        services.referral_update_draft(referral=referral, actor=people.referrer, data={"mandate": "Changed"})
    assert snapshot(referral) == before


def test_full_lifecycle_walks_draft_to_closed(people, make_referral):
    referral = make_referral(Status.CLOSED)
    assert [(e.from_status, e.to_status) for e in status_events(referral)] == [
        ("", Status.DRAFT), (Status.DRAFT, Status.SUBMITTED), (Status.SUBMITTED, Status.ACCEPTED),
        (Status.ACCEPTED, Status.ACTIVE), (Status.ACTIVE, Status.CLOSED)]
    assert referral.closure_outcome == "successful"
    assert referral.closure_ground == "goal_reached"


# --- Filing and submitting ------------------------------------------------------------------------------

def test_draft_gets_a_reference_derived_process_and_target_group_and_a_first_event(people, directory):
    referral = services.referral_create_draft(actor=people.referrer, client_data=client_data(directory),
                                              data=referral_data(directory))
    assert referral.status == Status.DRAFT
    assert referral.reference == f"OPT-{timezone.localtime(referral.created_at).year}-{referral.pk:04d}"
    assert (referral.process, referral.target_group) == ("optima_iv", "E")
    assert referral.referring_institution == directory["social"]
    assert referral.referring_case_worker == people.referrer
    [event] = ReferralEvent.objects.filter(referral=referral)
    assert (event.kind, event.from_status, event.to_status, event.actor) == (
        EventKind.STATUS, "", Status.DRAFT, people.referrer)


def test_incomplete_draft_can_be_saved(people, directory):
    referral = services.referral_create_draft(actor=people.referrer, client_data={"last_name": "Beispiel"},
                                              data={})
    assert referral.status == Status.DRAFT
    assert referral.receiving_institution is None
    assert (referral.process, referral.target_group) == ("", "")


def test_only_case_workers_and_contact_persons_file_referrals(people, directory):
    with pytest.raises(PermissionDenied):
        services.referral_create_draft(actor=people.signatory, client_data=client_data(directory),
                                       data=referral_data(directory))
    assert not Referral.objects.exists()


def test_updating_a_draft_rederives_the_target_group_and_records_an_edit(people, make_referral, directory):
    referral = make_referral(Status.DRAFT)
    services.referral_update_draft(referral=referral, actor=people.referrer,
                                   client_data={"phone": "079 222 22 22"},
                                   data={"receiving_institution": directory["rav"], "problem_areas": None,
                                         "receives_unemployment_benefits": True})
    referral = fresh(referral)
    assert (referral.process, referral.target_group) == ("optima_alv", "I")
    assert referral.client.phone == "079 222 22 22"
    assert ReferralEvent.objects.filter(referral=referral, kind=EventKind.EDITED, actor=people.referrer).count() == 1


def test_submit_stores_process_and_target_group_on_the_event(people, make_referral):
    referral = make_referral(Status.DRAFT)
    event = services.referral_submit(referral=referral, actor=people.referrer)
    assert event.payload == {"warnings": [], "process": "optima_iv", "target_group": "E"}


def test_submit_blocks_with_everything_missing_and_changes_nothing(people, make_referral, directory):
    referral = make_referral(Status.DRAFT, client=client_data(directory, date_of_birth=None), mandate="",
                             planned_duration_months=None, consent_given_on=None, consent_form="")
    before = snapshot(referral)
    with pytest.raises(ValidationError) as caught:
        services.referral_submit(referral=referral, actor=people.referrer)
    errors = caught.value.message_dict
    assert set(errors) == {"client", "mandate", "planned_duration_months", "consent"}
    assert "date of birth" in errors["client"][0]
    assert "voluntary" in errors["consent"][0]
    assert snapshot(referral) == before


def test_submit_blocks_on_suspected_iv_health_damage_and_points_to_a_regular_iv_registration(people, make_referral):
    referral = make_referral(Status.DRAFT, iv_health_damage_suspected=True)
    with pytest.raises(ValidationError) as caught:
        services.referral_submit(referral=referral, actor=people.referrer, justification="Please make an exception")
    assert "IV-Anmeldung" in caught.value.message_dict["iv_health_damage_suspected"][0]
    assert fresh(referral).status == Status.DRAFT


def test_submit_blocks_on_a_social_service_without_integral_case_management(people, make_referral):
    referral = make_referral(Status.DRAFT, receiver="no_icm")
    with pytest.raises(ValidationError) as caught:
        services.referral_submit(referral=referral, actor=people.referrer)
    assert "integral case management" in caught.value.message_dict["receiving_institution"][0]


def test_warning_needs_a_justification_and_passes_with_one(people, make_referral):
    referral = make_referral(Status.DRAFT, last_iv_rejection_on=TODAY - 60 * DAY)
    with pytest.raises(ValidationError) as caught:
        services.referral_submit(referral=referral, actor=people.referrer)
    assert list(caught.value.message_dict) == ["justification"]
    with pytest.raises(ValidationError):
        services.referral_submit(referral=referral, actor=people.referrer, justification="   ")
    assert fresh(referral).status == Status.DRAFT
    assert fresh(referral).justification == ""

    event = services.referral_submit(referral=referral, actor=people.referrer,
                                     justification="Rejected only for a missing form; the health situation changed")
    assert fresh(referral).status == Status.SUBMITTED
    assert fresh(referral).justification.startswith("Rejected only")
    assert event.text.startswith("Rejected only")
    assert event.payload["warnings"] == ["iv_rejection_recent"]


def test_justification_saved_on_the_draft_is_enough_to_submit(people, make_referral):
    referral = make_referral(Status.DRAFT, last_iv_rejection_on=TODAY - 60 * DAY,
                             justification="The rejection was for formal reasons")
    services.referral_submit(referral=referral, actor=people.referrer)
    assert fresh(referral).status == Status.SUBMITTED


# --- Withdrawing ------------------------------------------------------------------------------------------

def test_withdrawing_a_submitted_referral_needs_a_reason(people, make_referral):
    referral = make_referral(Status.SUBMITTED)
    before = snapshot(referral)
    with pytest.raises(ValidationError) as caught:
        services.referral_withdraw(referral=referral, actor=people.referrer, reason="  ")
    assert list(caught.value.message_dict) == ["reason"]
    assert snapshot(referral) == before


def test_a_draft_can_be_withdrawn_without_a_reason(people, make_referral):
    referral = make_referral(Status.DRAFT)
    event = services.referral_withdraw(referral=referral, actor=people.referrer, reason=None)
    assert (event.from_status, event.to_status, event.text) == (Status.DRAFT, Status.WITHDRAWN, "")


# --- Deciding -------------------------------------------------------------------------------------------

def test_contact_person_accepts_submitted_referral_and_assigns_case_worker(people, make_referral):
    referral = make_referral(Status.SUBMITTED)
    event = services.referral_accept(referral=referral, actor=people.contact_person,
                                     case_worker=people.receiving_worker)
    referral = fresh(referral)
    assert referral.status == Status.ACCEPTED
    assert referral.assigned_case_worker == people.receiving_worker
    assert event.payload == {"case_worker": people.receiving_worker.pk}


def test_contact_person_may_assign_themself(people, make_referral):
    referral = make_referral(Status.SUBMITTED)
    services.referral_accept(referral=referral, actor=people.contact_person, case_worker=people.contact_person)
    assert fresh(referral).assigned_case_worker == people.contact_person


@pytest.mark.parametrize("case_worker", [None, "referrer", "outsider", "signatory"])
def test_accepting_needs_a_case_worker_of_the_receiving_institution(people, make_referral, case_worker):
    referral = make_referral(Status.SUBMITTED)
    before = snapshot(referral)
    with pytest.raises(ValidationError) as caught:
        services.referral_accept(referral=referral, actor=people.contact_person,
                                 case_worker=getattr(people, case_worker) if case_worker else None)
    assert list(caught.value.message_dict) == ["case_worker"]
    assert snapshot(referral) == before


@pytest.mark.parametrize(("reason", "text", "field"), [
    ("", "", "reason"), (None, "", "reason"), ("too_old", "", "reason"),
    ("other", "", "reason_text"), ("other", "   ", "reason_text"),
])
def test_rejecting_needs_a_listed_reason_and_a_text_for_other(people, make_referral, reason, text, field):
    referral = make_referral(Status.SUBMITTED)
    before = snapshot(referral)
    with pytest.raises(ValidationError) as caught:
        services.referral_reject(referral=referral, actor=people.contact_person, reason=reason, reason_text=text)
    assert list(caught.value.message_dict) == [field]
    assert snapshot(referral) == before


@pytest.mark.parametrize("reason", ["iv_rejection_recent", "no_intact_work_offer", "no_capacity",
                                    "goal_not_feasible"])
def test_listed_rejection_reasons_need_no_text(people, make_referral, reason):
    referral = make_referral(Status.SUBMITTED)
    event = services.referral_reject(referral=referral, actor=people.contact_person, reason=reason)
    referral = fresh(referral)
    assert (referral.status, referral.rejection_reason, referral.rejection_text) == (Status.REJECTED, reason, "")
    assert (event.reason, event.text) == (reason, "")


def test_rejection_with_other_keeps_the_explanation(people, make_referral):
    referral = make_referral(Status.SUBMITTED)
    services.referral_reject(referral=referral, actor=people.contact_person, reason="other",
                             reason_text="Client lives outside the canton")
    referral = fresh(referral)
    assert (referral.rejection_reason, referral.rejection_text) == ("other", "Client lives outside the canton")


# --- Handover meeting ---------------------------------------------------------------------------------

def test_referrer_schedules_the_handover_meeting_and_its_note_fills_the_same_meeting(people, make_referral):
    referral = make_referral(Status.ACCEPTED)
    at = timezone.now() + 3 * DAY
    meeting = services.meeting_schedule(referral=referral, actor=people.referrer, kind=MeetingKind.HANDOVER,
                                        scheduled_at=at, location="Sozialdienste, Raum 3")
    moved = services.meeting_schedule(referral=referral, actor=people.referrer, kind=MeetingKind.HANDOVER,
                                      scheduled_at=at + DAY, location=None)
    assert moved.pk == meeting.pk
    assert (moved.scheduled_at, moved.location, moved.scheduled_by) == (at + DAY, "", people.referrer)
    assert ReferralEvent.objects.filter(referral=referral, kind=EventKind.MEETING_SCHEDULED).count() == 2

    handover(people.receiving_worker, fresh(referral))
    [recorded] = Meeting.objects.filter(referral=referral, kind=MeetingKind.HANDOVER)
    assert recorded.pk == meeting.pk
    assert recorded.is_recorded and recorded.all_agreed


def test_scheduling_a_meeting_needs_a_date(people, make_referral):
    referral = make_referral(Status.ACCEPTED)
    with pytest.raises(ValidationError) as caught:
        services.meeting_schedule(referral=referral, actor=people.referrer, kind=MeetingKind.HANDOVER,
                                  scheduled_at=None)
    assert list(caught.value.message_dict) == ["scheduled_at"]
    assert not Meeting.objects.filter(referral=referral).exists()


@pytest.mark.parametrize(("status", "kind"), [(Status.SUBMITTED, MeetingKind.HANDOVER),
                                              (Status.ACTIVE, MeetingKind.HANDOVER),
                                              (Status.ACCEPTED, MeetingKind.STATUS),
                                              (Status.CLOSED, MeetingKind.STATUS)])
def test_meetings_are_scheduled_only_in_their_phase(people, make_referral, status, kind):
    referral = make_referral(status)
    before = snapshot(referral)
    with pytest.raises(TransitionNotAllowed):
        services.meeting_schedule(referral=referral, actor=people.receiving_worker, kind=kind,
                                  scheduled_at=timezone.now() + DAY)
    assert snapshot(referral) == before


def test_agreed_handover_starts_the_case_and_plans_the_first_status_meeting(people, make_referral):
    referral = make_referral(Status.ACCEPTED)
    first = TODAY + 28 * DAY
    handover(people.receiving_worker, referral, first_status_meeting_on=first)
    assert fresh(referral).status == Status.ACTIVE
    note = Meeting.objects.get(referral=referral, kind=MeetingKind.HANDOVER)
    assert (note.held_on, note.strategy, note.all_agreed, note.recorded_by) == (
        TODAY, "Coaching and a work trial", True, people.receiving_worker)
    planned = Meeting.objects.get(referral=referral, kind=MeetingKind.STATUS)
    assert not planned.is_recorded
    assert timezone.localtime(planned.scheduled_at).date() == first
    assert timezone.localtime(planned.scheduled_at).hour == 9


def test_the_case_is_active_from_the_agreed_handover_to_the_closing_meeting(make_referral):
    active, closed, not_started = (make_referral(status) for status in (Status.ACTIVE, Status.CLOSED,
                                                                        Status.NOT_STARTED))
    assert (active.active_from, active.active_until) == (TODAY, None)
    assert (closed.active_from, closed.active_until) == (TODAY, TODAY)
    assert (not_started.active_from, not_started.active_until) == (None, None)


def test_handover_with_all_agreed_false_does_not_start_optima(people, make_referral):
    referral = make_referral(Status.ACCEPTED)
    event = services.handover_record(referral=referral, actor=people.referrer, held_on=TODAY, all_agreed=False)
    assert (event.from_status, event.to_status) == (Status.ACCEPTED, Status.NOT_STARTED)
    assert fresh(referral).status == Status.NOT_STARTED
    assert Meeting.objects.get(referral=referral, kind=MeetingKind.HANDOVER).all_agreed is False
    assert not Meeting.objects.filter(referral=referral, kind=MeetingKind.STATUS).exists()


def test_agreed_handover_note_needs_start_strategy_and_first_status_meeting(people, make_referral):
    referral = make_referral(Status.ACCEPTED)
    before = snapshot(referral)
    with pytest.raises(ValidationError) as caught:
        handover(people.receiving_worker, referral, case_work_starts_on=None, strategy=" ",
                 first_status_meeting_on=None)
    assert set(caught.value.message_dict) == {"case_work_starts_on", "strategy", "first_status_meeting_on"}
    assert snapshot(referral) == before


@pytest.mark.parametrize(("held_on", "message"), [(None, "Enter the date"), ("tomorrow", "before it took place")])
def test_handover_note_needs_a_past_meeting_date(people, make_referral, held_on, message):
    if held_on == "tomorrow":
        held_on = timezone.localdate() + DAY  # when the test runs, not when it was collected (midnight in Zurich)
    referral = make_referral(Status.ACCEPTED)
    with pytest.raises(ValidationError) as caught:
        handover(people.receiving_worker, referral, held_on=held_on)
    assert message in caught.value.message_dict["held_on"][0]
    assert fresh(referral).status == Status.ACCEPTED


@pytest.fixture
def alv_referral(people, make_referral, rav_contact):
    """An OPTIMA-ALV referral (social services -> RAV), accepted by the RAV."""
    referral = make_referral(Status.SUBMITTED, receiver="rav", problem_areas=[])
    assert referral.process == "optima_alv"
    services.referral_accept(referral=referral, actor=rav_contact, case_worker=rav_contact)
    return fresh(referral)


@pytest.mark.parametrize("statement", [None, False])
def test_optima_alv_handover_requires_the_client_able_and_willing_to_work(people, alv_referral, rav_contact,
                                                                          statement):
    before = snapshot(alv_referral)
    with pytest.raises(ValidationError) as caught:
        handover(rav_contact, alv_referral, client_able_and_willing=statement)
    assert list(caught.value.message_dict) == ["client_able_and_willing"]
    assert snapshot(alv_referral) == before


def test_optima_alv_handover_starts_with_the_clients_statement(people, alv_referral, rav_contact):
    handover(rav_contact, alv_referral, client_able_and_willing=True)
    assert fresh(alv_referral).status == Status.ACTIVE
    assert Meeting.objects.get(referral=alv_referral, kind=MeetingKind.HANDOVER).client_able_and_willing is True


def test_optima_alv_handover_without_the_statement_can_be_recorded_as_not_started(people, alv_referral, rav_contact):
    handover(rav_contact, alv_referral, agreed=False, client_able_and_willing=None)
    assert fresh(alv_referral).status == Status.NOT_STARTED


def test_the_statement_is_not_required_outside_optima_alv(people, make_referral):
    referral = make_referral(Status.ACCEPTED)
    handover(people.receiving_worker, referral, client_able_and_willing=None)
    assert fresh(referral).status == Status.ACTIVE


# --- Status meetings and closing -------------------------------------------------------------------------

def test_status_meeting_continue_records_the_note_and_schedules_the_next_meeting(people, make_referral):
    referral = make_referral(Status.ACTIVE)
    statuses_before = len(status_events(referral))
    nxt = TODAY + 42 * DAY
    event = services.status_meeting_record(referral=referral, actor=people.receiving_worker, held_on=TODAY,
                                           progress="Work trial started", next_steps="Apply for jobs",
                                           decision=MeetingDecision.CONTINUE, next_meeting_on=nxt)
    assert fresh(referral).status == Status.ACTIVE
    assert len(status_events(referral)) == statuses_before
    assert (event.kind, event.reason, event.payload["decision"]) == (EventKind.MEETING_RECORDED, "status", "continue")
    recorded = Meeting.objects.get(pk=event.payload["meeting"])
    assert (recorded.progress, recorded.next_steps, recorded.next_meeting_on) == (
        "Work trial started", "Apply for jobs", nxt)
    [planned] = Meeting.objects.filter(referral=referral, kind=MeetingKind.STATUS, recorded_at__isnull=True)
    assert planned.pk != recorded.pk
    assert timezone.localtime(planned.scheduled_at).date() == nxt
    last = ReferralEvent.objects.filter(referral=referral).order_by("id").last()
    assert (last.kind, last.payload["meeting"]) == (EventKind.MEETING_SCHEDULED, planned.pk)


@pytest.mark.parametrize(("next_meeting_on", "message"), [(None, "Enter the date"), (TODAY, "after this one")])
def test_status_meeting_continue_needs_a_later_next_date(people, make_referral, next_meeting_on, message):
    referral = make_referral(Status.ACTIVE)
    before = snapshot(referral)
    with pytest.raises(ValidationError) as caught:
        services.status_meeting_record(referral=referral, actor=people.receiving_worker, held_on=TODAY,
                                       progress="Some", decision=MeetingDecision.CONTINUE,
                                       next_meeting_on=next_meeting_on)
    assert message in caught.value.message_dict["next_meeting_on"][0]
    assert snapshot(referral) == before


def test_status_meeting_needs_progress_and_a_decision(people, make_referral):
    referral = make_referral(Status.ACTIVE)
    with pytest.raises(ValidationError) as caught:
        services.status_meeting_record(referral=referral, actor=people.receiving_worker, held_on=None,
                                       progress="", decision="")
    assert set(caught.value.message_dict) == {"held_on", "progress", "decision"}


def test_status_meeting_close_sets_closed_with_outcome_as_reason_and_ground_in_payload(people, make_referral):
    referral = make_referral(Status.ACTIVE)
    event = close(people.receiving_worker, referral, outcome="successful", ground="goal_reached", outcome_text="")
    referral = fresh(referral)
    assert referral.status == Status.CLOSED
    assert (referral.closure_outcome, referral.closure_ground) == ("successful", "goal_reached")
    assert (event.kind, event.from_status, event.to_status) == (EventKind.STATUS, Status.ACTIVE, Status.CLOSED)
    assert event.reason == "successful"
    assert event.payload["ground"] == "goal_reached"
    meeting = Meeting.objects.get(pk=event.payload["meeting"])
    assert meeting.decision == MeetingDecision.CLOSE and meeting.is_recorded
    assert not Meeting.objects.filter(referral=referral, recorded_at__isnull=True).exists()


def test_a_status_meeting_before_the_handover_meeting_is_refused_at_its_date(people, make_referral):
    referral = make_referral(Status.ACTIVE)  # handover today
    with pytest.raises(ValidationError) as refused:
        close(people.receiving_worker, referral, held_on=TODAY - DAY)
    assert TODAY.strftime("%d.%m.%Y") in refused.value.message_dict["held_on"][0]
    assert fresh(referral).status == Status.ACTIVE


@pytest.mark.parametrize(("outcome", "ground", "text", "fields"), [
    ("", "", "", {"outcome", "ground"}),
    ("great", "goal_reached", "", {"outcome"}),
    ("successful", "bored", "", {"ground"}),
    ("other", "goal_reached", "", {"outcome_text"}),
    ("partial", "other", "  ", {"outcome_text"}),
])
def test_closing_needs_outcome_and_ground_and_a_text_for_other(people, make_referral, outcome, ground, text, fields):
    referral = make_referral(Status.ACTIVE)
    before = snapshot(referral)
    with pytest.raises(ValidationError) as caught:
        close(people.receiving_worker, referral, outcome=outcome, ground=ground, outcome_text=text)
    assert set(caught.value.message_dict) == fields
    assert snapshot(referral) == before


def test_closing_with_ground_other_keeps_the_explanation(people, make_referral):
    referral = make_referral(Status.ACTIVE)
    event = close(people.receiving_worker, referral, outcome="not_achieved", ground="other",
                  outcome_text="Client moved abroad")
    assert (event.reason, event.text, event.payload["ground"]) == ("not_achieved", "Client moved abroad", "other")
    assert fresh(referral).closure_text == "Client moved abroad"


# --- Cost approvals ------------------------------------------------------------------------------------------

def test_leading_institution_requests_a_cost_approval_financed_by_the_referrer(people, make_referral, directory):
    referral = make_referral(Status.ACTIVE)
    approval = request_cost_approval(people.receiving_worker, referral)
    assert approval.status == CostApprovalStatus.REQUESTED
    assert approval.requesting_institution == directory["iv"]
    assert approval.financing_institution == directory["social"]
    assert approval.requested_by == people.receiving_worker
    event = ReferralEvent.objects.filter(referral=referral).order_by("id").last()
    assert (event.kind, event.to_status, event.cost_approval) == (EventKind.COST_APPROVAL, "requested", approval)
    assert event.payload == {"amount_chf": "1800.00", "measure": "Job coaching"}


def test_cost_approval_can_be_requested_at_the_handover_already(people, make_referral):
    referral = make_referral(Status.ACCEPTED)
    assert request_cost_approval(people.receiving_worker, referral).status == CostApprovalStatus.REQUESTED


@pytest.mark.parametrize("status", [Status.SUBMITTED, Status.CLOSED, Status.NOT_STARTED])
def test_cost_approval_cannot_be_requested_outside_the_case_work(people, make_referral, status):
    referral = make_referral(status)
    with pytest.raises(TransitionNotAllowed):
        request_cost_approval(people.receiving_worker, referral)
    assert not CostApproval.objects.exists()


@pytest.mark.parametrize(("overrides", "field"), [
    ({"measure": " "}, "measure"), ({"provider": ""}, "provider"), ({"justification": ""}, "justification"),
    ({"amount_chf": None}, "amount_chf"), ({"amount_chf": Decimal("0")}, "amount_chf"),
    ({"amount_chf": Decimal("-5")}, "amount_chf"), ({"starts_on": None}, "starts_on"),
    ({"ends_on": None}, "ends_on"), ({"ends_on": TODAY - DAY}, "ends_on"),
])
def test_cost_approval_request_validates_its_fields(people, make_referral, overrides, field):
    referral = make_referral(Status.ACTIVE)
    with pytest.raises(ValidationError) as caught:
        request_cost_approval(people.receiving_worker, referral, **overrides)
    assert list(caught.value.message_dict) == [field]
    assert not CostApproval.objects.exists()


def test_signatory_of_the_financing_institution_approves(people, cost_approval):
    approved = services.cost_approval_approve(cost_approval=cost_approval, actor=people.signatory)
    approved.refresh_from_db()
    assert (approved.status, approved.decided_by, approved.refusal_reason) == (
        CostApprovalStatus.APPROVED, people.signatory, "")
    assert approved.decided_at is not None
    event = ReferralEvent.objects.filter(cost_approval=approved).order_by("id").last()
    assert (event.actor, event.from_status, event.to_status) == (people.signatory, "requested", "approved")


def test_refusing_a_cost_approval_needs_a_reason(people, cost_approval):
    for reason in ("", "   ", None):
        with pytest.raises(ValidationError) as caught:
            services.cost_approval_refuse(cost_approval=cost_approval, actor=people.signatory, reason=reason)
        assert list(caught.value.message_dict) == ["reason"]
    cost_approval.refresh_from_db()
    assert cost_approval.status == CostApprovalStatus.REQUESTED

    services.cost_approval_refuse(cost_approval=cost_approval, actor=people.signatory, reason=" Too expensive ")
    cost_approval.refresh_from_db()
    assert (cost_approval.status, cost_approval.refusal_reason) == (CostApprovalStatus.REFUSED, "Too expensive")
    event = ReferralEvent.objects.filter(cost_approval=cost_approval).order_by("id").last()
    assert (event.to_status, event.text) == ("refused", "Too expensive")


@pytest.mark.parametrize(("first", "second"), [("approve", "approve"), ("approve", "refuse"),
                                               ("refuse", "approve"), ("refuse", "refuse")])
def test_a_cost_approval_is_decided_only_once(people, cost_approval, first, second):
    def decide(how):
        if how == "approve":
            return services.cost_approval_approve(cost_approval=cost_approval, actor=people.signatory)
        return services.cost_approval_refuse(cost_approval=cost_approval, actor=people.signatory, reason="No budget")

    decide(first)
    cost_approval.refresh_from_db()
    decided = (cost_approval.status, cost_approval.decided_at, cost_approval.refusal_reason)
    events = ReferralEvent.objects.count()
    with pytest.raises(TransitionNotAllowed) as caught:
        decide(second)
    assert "already been decided" in caught.value.message
    cost_approval.refresh_from_db()
    assert (cost_approval.status, cost_approval.decided_at, cost_approval.refusal_reason) == decided
    assert ReferralEvent.objects.count() == events


def test_invoice_is_recorded_for_an_approved_cost_approval(people, cost_approval):
    services.cost_approval_approve(cost_approval=cost_approval, actor=people.signatory)
    services.cost_approval_record_invoice(cost_approval=cost_approval, actor=people.receiving_worker,
                                          received_on=TODAY - DAY, forwarded_on=TODAY)
    cost_approval.refresh_from_db()
    assert (cost_approval.invoice_received_on, cost_approval.invoice_forwarded_on) == (TODAY - DAY, TODAY)
    event = ReferralEvent.objects.filter(cost_approval=cost_approval).order_by("id").last()
    assert (event.to_status, event.actor) == ("invoiced", people.receiving_worker)


def test_invoice_needs_the_date_it_arrived(people, cost_approval):
    services.cost_approval_approve(cost_approval=cost_approval, actor=people.signatory)
    with pytest.raises(ValidationError) as caught:
        services.cost_approval_record_invoice(cost_approval=cost_approval, actor=people.receiving_worker,
                                              received_on=None)
    assert list(caught.value.message_dict) == ["received_on"]


@pytest.mark.parametrize("refused", [False, True])
def test_invoice_is_refused_unless_the_cost_approval_was_approved(people, cost_approval, refused):
    if refused:
        services.cost_approval_refuse(cost_approval=cost_approval, actor=people.signatory, reason="No budget")
    events = ReferralEvent.objects.count()
    with pytest.raises(ValidationError) as caught:
        services.cost_approval_record_invoice(cost_approval=cost_approval, actor=people.receiving_worker,
                                              received_on=TODAY)
    assert "approved" in caught.value.message_dict["received_on"][0]
    cost_approval.refresh_from_db()
    assert cost_approval.invoice_received_on is None
    assert ReferralEvent.objects.count() == events


# --- Comments ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("status", "author"), [(Status.DRAFT, "referrer"), (Status.SUBMITTED, "contact_person"),
                                                (Status.SUBMITTED, "referrer"), (Status.ACTIVE, "receiving_worker")])
def test_parties_ask_and_answer_with_comments(people, make_referral, status, author):
    referral = make_referral(status)
    actor = getattr(people, author)
    comment = services.comment_add(referral=referral, actor=actor, text="  Is the client fluent in German?  ")
    assert (comment.author, comment.text) == (actor, "Is the client fluent in German?")
    event = ReferralEvent.objects.filter(referral=referral).order_by("id").last()
    assert (event.kind, event.actor, event.text, event.payload) == (
        EventKind.COMMENT, actor, "Is the client fluent in German?", {"comment": comment.pk})
    assert fresh(referral).status == status


def test_empty_comment_is_refused(people, make_referral):
    referral = make_referral(Status.SUBMITTED)
    with pytest.raises(ValidationError) as caught:
        services.comment_add(referral=referral, actor=people.referrer, text="  \n ")
    assert list(caught.value.message_dict) == ["text"]
    assert not Comment.objects.exists()


@pytest.mark.parametrize("status", [Status.CLOSED, Status.REJECTED, Status.WITHDRAWN, Status.NOT_STARTED])
def test_finished_referrals_take_no_more_comments(people, make_referral, status):
    referral = make_referral(status)
    before = snapshot(referral)
    with pytest.raises(TransitionNotAllowed):
        services.comment_add(referral=referral, actor=people.referrer, text="One more thing")
    assert snapshot(referral) == before


# --- Documents ----------------------------------------------------------------------------------------------

@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def stored_files(root):
    return [path for path in root.rglob("*") if path.is_file()]


def test_party_uploads_a_document_stored_without_its_original_name(people, make_referral, media):
    referral = make_referral(Status.ACTIVE)
    upload = SimpleUploadedFile("Arbeitsvertrag Beispiel.pdf", b"%PDF-1.4 contract", content_type="application/pdf")
    document = services.document_upload(referral=referral, actor=people.receiving_worker, uploaded_file=upload,
                                        kind="employment_contract")
    assert (document.original_name, document.size, document.content_type, document.kind) == (
        "Arbeitsvertrag Beispiel.pdf", 17, "application/pdf", "employment_contract")
    assert document.file.name.startswith(f"documents/{referral.pk}/")
    assert "Beispiel" not in document.file.name
    [path] = stored_files(media)
    assert path.read_bytes() == b"%PDF-1.4 contract"
    event = ReferralEvent.objects.filter(referral=referral).order_by("id").last()
    assert (event.kind, event.actor, event.payload) == (
        EventKind.DOCUMENT, people.receiving_worker, {"document": document.pk, "kind": "employment_contract"})


@pytest.mark.parametrize("name", ["setup.exe", "macro.docm", "README", "archive.tar.gz", "photo.heic"])
def test_documents_of_other_types_are_refused_with_the_allowed_types(people, make_referral, media, name):
    referral = make_referral(Status.SUBMITTED)
    with pytest.raises(ValidationError) as caught:
        services.document_upload(referral=referral, actor=people.referrer,
                                 uploaded_file=SimpleUploadedFile(name, b"data"), kind="other")
    message = caught.value.message_dict["file"][0]
    assert "cannot be added" in message
    assert "pdf, docx" in message
    assert not Document.objects.exists()
    assert stored_files(media) == []


def _docx_bytes():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for entry in ("[Content_Types].xml", "_rels/.rels", "word/document.xml"):
            archive.writestr(entry, "<x/>")
    return buffer.getvalue()


@pytest.mark.parametrize("name, content", [
    ("scan.PDF", b"%PDF-1.4 x"), ("foto.JPG", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"), ("notes.txt", b"x"),
    ("plan.docx", _docx_bytes()),
])
def test_allowed_types_are_recognised_whatever_the_case(people, make_referral, media, name, content):
    referral = make_referral(Status.SUBMITTED)
    services.document_upload(referral=referral, actor=people.referrer,
                             uploaded_file=SimpleUploadedFile(name, content), kind="application")
    assert Document.objects.count() == 1


def test_documents_over_the_size_limit_are_refused_with_size_and_limit(people, make_referral, media, settings):
    settings.DOCUMENT_MAX_BYTES = 1024 * 1024
    referral = make_referral(Status.SUBMITTED)
    with pytest.raises(ValidationError) as caught:
        services.document_upload(referral=referral, actor=people.referrer, kind="other",
                                 uploaded_file=SimpleUploadedFile("big.pdf", b"x" * (2 * 1024 * 1024 + 1)))
    message = caught.value.message_dict["file"][0]
    assert "too large" in message
    assert "2.0 MB" in message and "limit is 1 MB" in message
    assert not Document.objects.exists()
    assert stored_files(media) == []


def test_a_document_exactly_at_the_limit_is_accepted(people, make_referral, media, settings):
    settings.DOCUMENT_MAX_BYTES = 1024
    referral = make_referral(Status.SUBMITTED)
    services.document_upload(referral=referral, actor=people.referrer, kind="other",
                             uploaded_file=SimpleUploadedFile("ok.pdf", b"%PDF" + b"x" * 1020))
    assert Document.objects.get().size == 1024


# --- Notifications ------------------------------------------------------------------------------------------

CLIENT_SECRETS = ["Mara", "Beispiel", VALID_AHV, VALID_AHV.replace(".", ""), "079 000 00 00", "1984"]


def link_to(referral):
    return django_settings.SITE_URL.rstrip("/") + reverse("referrals:detail", args=[referral.pk])


def assert_safe_mail(message, referral):
    text = f"{message.subject}\n{message.body}"
    assert referral.reference in message.subject
    assert link_to(referral) in message.body
    for secret in CLIENT_SECRETS:
        assert secret not in text, secret


def sent_to(outbox):
    return [sorted(message.to) for message in outbox]


def test_mails_wait_for_the_commit(people, make_referral, django_capture_on_commit_callbacks):
    referral = make_referral(Status.DRAFT)
    with django_capture_on_commit_callbacks() as callbacks:
        services.referral_submit(referral=referral, actor=people.referrer)
    assert mail.outbox == []
    assert len(callbacks) == 1
    callbacks[0]()
    assert sent_to(mail.outbox) == [[people.contact_person.email]]


def test_submission_notifies_the_receiving_contact_persons(people, make_referral, django_capture_on_commit_callbacks):
    referral = make_referral(Status.DRAFT)
    with django_capture_on_commit_callbacks(execute=True):
        services.referral_submit(referral=referral, actor=people.referrer)
    assert sent_to(mail.outbox) == [["iv.kontakt@example.ch"]]
    assert_safe_mail(mail.outbox[0], referral)


def test_submission_falls_back_to_the_institution_address_without_contact_persons(
        people, make_referral, directory, django_capture_on_commit_callbacks):
    referral = make_referral(Status.DRAFT, receiver="rav", problem_areas=[])
    with django_capture_on_commit_callbacks(execute=True):
        services.referral_submit(referral=referral, actor=people.referrer)
    assert sent_to(mail.outbox) == [["rav@example.ch"]]


@pytest.mark.parametrize("decision", ["accept", "reject"])
def test_decision_notifies_the_referring_case_worker(people, make_referral, django_capture_on_commit_callbacks,
                                                      decision):
    referral = make_referral(Status.SUBMITTED)
    with django_capture_on_commit_callbacks(execute=True):
        ACTIONS[decision][1](people, referral)
    assert sent_to(mail.outbox) == [[people.referrer.email]]
    assert_safe_mail(mail.outbox[0], referral)


def test_withdrawal_notifies_the_contact_persons_only_once_submitted(people, make_referral,
                                                                      django_capture_on_commit_callbacks):
    draft = make_referral(Status.DRAFT)
    submitted = make_referral(Status.SUBMITTED)
    with django_capture_on_commit_callbacks(execute=True):
        services.referral_withdraw(referral=draft, actor=people.referrer, reason="")
    assert mail.outbox == []
    with django_capture_on_commit_callbacks(execute=True):
        services.referral_withdraw(referral=submitted, actor=people.referrer, reason="Client moved away")
    assert sent_to(mail.outbox) == [[people.contact_person.email]]
    assert_safe_mail(mail.outbox[0], submitted)
    assert "moved away" not in mail.outbox[0].body


def test_comment_notifies_the_other_side_but_not_the_author(people, make_referral,
                                                            django_capture_on_commit_callbacks):
    submitted = make_referral(Status.SUBMITTED)
    with django_capture_on_commit_callbacks(execute=True):
        services.comment_add(referral=submitted, actor=people.referrer, text="Any questions, Mara Beispiel?")
    # No case worker assigned yet: the receiving contact persons hear of it.
    assert sent_to(mail.outbox) == [[people.contact_person.email]]
    assert_safe_mail(mail.outbox[0], submitted)

    mail.outbox.clear()
    active = make_referral(Status.ACTIVE)
    with django_capture_on_commit_callbacks(execute=True):
        services.comment_add(referral=active, actor=people.receiving_worker, text="Work trial went well")
    assert sent_to(mail.outbox) == [[people.referrer.email]]
    assert "Work trial" not in mail.outbox[0].body


def test_handover_and_closing_notify_the_other_case_worker(people, make_referral,
                                                            django_capture_on_commit_callbacks):
    referral = make_referral(Status.ACCEPTED)
    with django_capture_on_commit_callbacks(execute=True):
        handover(people.receiving_worker, referral)
    assert sent_to(mail.outbox) == [[people.referrer.email]]
    assert_safe_mail(mail.outbox[0], referral)

    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        close(people.receiving_worker, fresh(referral))
    assert sent_to(mail.outbox) == [[people.referrer.email]]
    assert_safe_mail(mail.outbox[0], referral)


def test_scheduled_meeting_notifies_the_other_case_worker(people, make_referral, django_capture_on_commit_callbacks):
    referral = make_referral(Status.ACCEPTED)
    with django_capture_on_commit_callbacks(execute=True):
        services.meeting_schedule(referral=referral, actor=people.referrer, kind=MeetingKind.HANDOVER,
                                  scheduled_at=timezone.now() + 2 * DAY, location="Bahnhofstrasse 3")
    assert sent_to(mail.outbox) == [[people.receiving_worker.email]]
    assert_safe_mail(mail.outbox[0], referral)
    assert "Bahnhofstrasse" not in mail.outbox[0].body


def test_cost_approval_mails_go_to_the_signatories_and_back_to_the_requester(
        people, make_referral, django_capture_on_commit_callbacks):
    referral = make_referral(Status.ACTIVE)
    with django_capture_on_commit_callbacks(execute=True):
        approval = request_cost_approval(people.receiving_worker, referral)
    assert sent_to(mail.outbox) == [[people.signatory.email]]
    assert_safe_mail(mail.outbox[0], referral)
    assert "CHF 1'800.00" in mail.outbox[0].body  # Swiss format, as on the pages

    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.cost_approval_approve(cost_approval=approval, actor=people.signatory)
    assert sent_to(mail.outbox) == [[people.receiving_worker.email]]
    assert_safe_mail(mail.outbox[0], referral)


def test_refused_actions_send_no_mail(people, make_referral, django_capture_on_commit_callbacks):
    referral = make_referral(Status.SUBMITTED)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(ValidationError):
            services.referral_reject(referral=referral, actor=people.contact_person, reason="other")
        with pytest.raises(PermissionDenied):
            services.referral_accept(referral=referral, actor=people.outsider, case_worker=people.outsider)
    assert callbacks == []
    assert mail.outbox == []


# --- The event log only grows ---------------------------------------------------------------------------

def test_services_only_ever_add_events_through_a_whole_lifecycle(people, directory, media):
    referral = services.referral_create_draft(actor=people.referrer, client_data=client_data(directory),
                                              data=referral_data(directory, mandate=""))
    log = []

    def step(call):
        call()
        rows = list(ReferralEvent.objects.filter(referral_id=referral.pk).order_by("id").values())
        assert len(rows) > len(log), "every step adds to the log"
        assert rows[:len(log)] == log, "earlier events stay exactly as they were"
        log[:] = rows

    log.extend(ReferralEvent.objects.filter(referral_id=referral.pk).order_by("id").values())

    def r():
        return fresh(referral)

    step(lambda: services.referral_update_draft(referral=r(), actor=people.referrer, data={"mandate": "Coaching"}))
    step(lambda: services.referral_submit(referral=r(), actor=people.referrer))
    step(lambda: services.comment_add(referral=r(), actor=people.contact_person, text="Which language?"))
    step(lambda: services.referral_accept(referral=r(), actor=people.contact_person,
                                          case_worker=people.receiving_worker))
    step(lambda: services.meeting_schedule(referral=r(), actor=people.referrer, kind=MeetingKind.HANDOVER,
                                           scheduled_at=timezone.now()))
    step(lambda: handover(people.receiving_worker, r()))
    step(lambda: services.status_meeting_record(referral=r(), actor=people.receiving_worker, held_on=TODAY,
                                                progress="Good", decision=MeetingDecision.CONTINUE,
                                                next_meeting_on=TODAY + 30 * DAY))
    step(lambda: request_cost_approval(people.receiving_worker, r()))
    approval = CostApproval.objects.get(referral_id=referral.pk)
    step(lambda: services.cost_approval_approve(cost_approval=approval, actor=people.signatory))
    step(lambda: services.cost_approval_record_invoice(cost_approval=approval, actor=people.receiving_worker,
                                                       received_on=TODAY))
    step(lambda: services.document_upload(referral=r(), actor=people.receiving_worker, kind="other",
                                          uploaded_file=SimpleUploadedFile("note.txt", b"note")))
    step(lambda: close(people.receiving_worker, r()))
    assert [e["to_status"] for e in log if e["kind"] == EventKind.STATUS] == [
        Status.DRAFT, Status.SUBMITTED, Status.ACCEPTED, Status.ACTIVE, Status.CLOSED]
    assert all(e["actor_id"] for e in log)


def test_comment_on_a_draft_does_not_tell_the_receiver_about_it(people, make_referral,
                                                                django_capture_on_commit_callbacks):
    draft = make_referral(Status.DRAFT)
    with django_capture_on_commit_callbacks(execute=True):
        services.comment_add(referral=draft, actor=people.referrer, text="Note to self: ask about childcare")
    assert people.contact_person.email not in {address for message in mail.outbox for address in message.to}


def test_another_institution_filing_the_same_ahv_number_gets_its_own_client_record(
        directory, make_referral, outsider):
    original = make_referral(Status.SUBMITTED)
    theirs = services.referral_create_draft(
        actor=outsider, client_data={"first_name": "X", "last_name": "Y", "ahv_number": VALID_AHV},
        data={"receiving_institution": directory["iv"]})
    assert theirs.client_id != original.client_id
    original.client.refresh_from_db()
    assert (original.client.first_name, original.client.phone) == ("Mara", "079 000 00 00")


def test_a_cost_approval_cannot_be_signed_once_the_case_has_ended(cost_approval, signatory, receiving_worker):
    referral = cost_approval.referral
    services.status_meeting_record(referral=referral, actor=receiving_worker, held_on=timezone.localdate(),
                                   progress="Done", decision="close", outcome="successful", ground="goal_reached")
    with pytest.raises(TransitionNotAllowed):
        services.cost_approval_approve(cost_approval=cost_approval, actor=signatory)
    cost_approval.refresh_from_db()
    assert cost_approval.status == "requested"
