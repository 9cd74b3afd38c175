"""Who may do what, checked where it matters: in the services and the selectors (web/URL checks live elsewhere).

The standard referral goes from the social services of Lucerne (referrer, signatory) to WAS IV Luzern
(contact_person, receiving_worker); the outsider works at SoBZ Sursee; the coordinator sits at the RAV.
"""

import datetime
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from institutions.models import User
from institutions.selectors import user_memberships
from institutions.services import membership_set_roles
from referrals import permissions, selectors, services
from referrals.models import (
    Comment,
    CostApproval,
    CostApprovalStatus,
    Document,
    MeetingDecision,
    MeetingKind,
    Referral,
    ReferralEvent,
    Status,
)
from tests.conftest import client_data

TODAY = timezone.localdate()
DAY = datetime.timedelta(days=1)


pytestmark = pytest.mark.usefixtures("english")  # assertions read the English source texts


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def make_user(username, institution, roles):
    user = User.objects.create_user(username=username, email=f"{username}@example.ch", first_name=username,
                                    last_name="Test")
    membership_set_roles(user=user, institution=institution, roles=roles)
    return user


# Colleagues with other roles, made only when a test speaks of them: name -> (institution, username, roles).
COLLEAGUES = {
    "referring_colleague": ("social", "sd.kollegin", ["case_worker"]),
    "referring_contact": ("social", "sd.kontakt", ["case_worker", "contact_person"]),
    "iv_signatory": ("iv", "iv.zeichnung", ["signatory"]),
    "rav_worker": ("rav", "rav.beratung", ["case_worker"]),
    "rav_signatory": ("rav", "rav.zeichnung", ["signatory"]),
}


class People(SimpleNamespace):
    def __getattr__(self, name):  # only for names not set yet
        if name not in COLLEAGUES:
            raise AttributeError(name)
        institution, username, roles = COLLEAGUES[name]
        user = make_user(username, self.directory[institution], roles)
        setattr(self, name, user)
        return user


@pytest.fixture
def people(referrer, contact_person, receiving_worker, signatory, coordinator, outsider, administrator, directory):
    return People(referrer=referrer, contact_person=contact_person, receiving_worker=receiving_worker,
                  signatory=signatory, coordinator=coordinator, outsider=outsider, administrator=administrator,
                  directory=directory)


def snapshot(referral):
    row = Referral.objects.filter(pk=referral.pk).values().get()
    row.pop("updated_at")
    return {
        "referral": row,
        "events": ReferralEvent.objects.filter(referral_id=referral.pk).count(),
        "comments": Comment.objects.filter(referral_id=referral.pk).count(),
        "meetings": list(referral.meetings.values()),
        "cost_approvals": list(CostApproval.objects.filter(referral_id=referral.pk).values()),
        "documents": Document.objects.filter(referral_id=referral.pk).count(),
    }


def prepare(setup, make_referral, people, **kwargs):
    """A referral (and a cost approval) in the state where the action would be allowed for the right person."""
    if setup not in ("cost_approval", "approved"):
        return make_referral(setup, **kwargs), None
    referral = make_referral(Status.ACTIVE, **kwargs)
    approval = services.cost_approval_request(
        referral=referral, actor=people.receiving_worker, measure="Job coaching", provider="Coaching AG",
        amount_chf=Decimal("1800.00"), starts_on=TODAY, ends_on=TODAY + 90 * DAY, justification="Needed")
    if setup == "approved":
        services.cost_approval_approve(cost_approval=approval, actor=people.signatory)
    approval.refresh_from_db()
    return referral, approval


# name: (status the referral must be in, call(actor, referral, cost_approval, people))
ACTIONS = {
    "edit_draft": (Status.DRAFT, lambda a, r, c, p: services.referral_update_draft(
        referral=r, actor=a, data={"mandate": "Changed"}, client_data={"last_name": "Other"})),
    "submit": (Status.DRAFT, lambda a, r, c, p: services.referral_submit(referral=r, actor=a, justification="x")),
    "withdraw": (Status.SUBMITTED, lambda a, r, c, p: services.referral_withdraw(referral=r, actor=a, reason="x")),
    "accept": (Status.SUBMITTED, lambda a, r, c, p: services.referral_accept(
        referral=r, actor=a, case_worker=p.receiving_worker)),
    "reject": (Status.SUBMITTED, lambda a, r, c, p: services.referral_reject(referral=r, actor=a,
                                                                             reason="no_capacity")),
    "comment": (Status.SUBMITTED, lambda a, r, c, p: services.comment_add(referral=r, actor=a, text="Hello")),
    "schedule_handover": (Status.ACCEPTED, lambda a, r, c, p: services.meeting_schedule(
        referral=r, actor=a, kind=MeetingKind.HANDOVER, scheduled_at=timezone.now() + DAY)),
    "record_handover": (Status.ACCEPTED, lambda a, r, c, p: services.handover_record(
        referral=r, actor=a, held_on=TODAY, case_work_starts_on=TODAY, strategy="Coaching",
        first_status_meeting_on=TODAY + 30 * DAY, client_able_and_willing=True, all_agreed=True)),
    "schedule_status_meeting": (Status.ACTIVE, lambda a, r, c, p: services.meeting_schedule(
        referral=r, actor=a, kind=MeetingKind.STATUS, scheduled_at=timezone.now() + DAY)),
    "record_status_meeting": (Status.ACTIVE, lambda a, r, c, p: services.status_meeting_record(
        referral=r, actor=a, held_on=TODAY, progress="Good", decision=MeetingDecision.CONTINUE,
        next_meeting_on=TODAY + 30 * DAY)),
    "close": (Status.ACTIVE, lambda a, r, c, p: services.status_meeting_record(
        referral=r, actor=a, held_on=TODAY, progress="Done", decision=MeetingDecision.CLOSE, outcome="successful",
        ground="goal_reached")),
    "request_cost_approval": (Status.ACTIVE, lambda a, r, c, p: services.cost_approval_request(
        referral=r, actor=a, measure="Course", provider="School", amount_chf=Decimal("500"), starts_on=TODAY,
        ends_on=TODAY + DAY, justification="Needed")),
    "approve_cost_approval": ("cost_approval", lambda a, r, c, p: services.cost_approval_approve(
        cost_approval=c, actor=a)),
    "refuse_cost_approval": ("cost_approval", lambda a, r, c, p: services.cost_approval_refuse(
        cost_approval=c, actor=a, reason="Too expensive")),
    "refuse_cost_approval_without_reason": ("cost_approval", lambda a, r, c, p: services.cost_approval_refuse(
        cost_approval=c, actor=a, reason="")),
    "record_invoice": ("approved", lambda a, r, c, p: services.cost_approval_record_invoice(
        cost_approval=c, actor=a, received_on=TODAY)),
    "upload_document": (Status.SUBMITTED, lambda a, r, c, p: services.document_upload(
        referral=r, actor=a, kind="other", uploaded_file=SimpleUploadedFile("note.pdf", b"%PDF"))),
}

# Who does each action on the standard referral (proves the setup is right: the action works for them).
RIGHTFUL = {
    "edit_draft": "referrer", "submit": "referrer", "withdraw": "referrer", "accept": "contact_person",
    "reject": "contact_person", "comment": "referrer", "schedule_handover": "referrer",
    "record_handover": "receiving_worker", "schedule_status_meeting": "receiving_worker",
    "record_status_meeting": "receiving_worker", "close": "receiving_worker",
    "request_cost_approval": "receiving_worker", "approve_cost_approval": "signatory",
    "refuse_cost_approval": "signatory", "record_invoice": "receiving_worker", "upload_document": "contact_person",
}


def assert_denied(people, make_referral, action, actor_name):
    setup, call = ACTIONS[action]
    referral, approval = prepare(setup, make_referral, people)
    before = snapshot(referral)
    with pytest.raises(PermissionDenied):
        call(getattr(people, actor_name), referral, approval, people)
    assert snapshot(referral) == before


@pytest.mark.parametrize("action", RIGHTFUL)
def test_rightful_actor_may_do_the_action(people, make_referral, action):
    setup, call = ACTIONS[action]
    referral, approval = prepare(setup, make_referral, people)
    events = ReferralEvent.objects.filter(referral_id=referral.pk).count()
    call(getattr(people, RIGHTFUL[action]), referral, approval, people)
    assert ReferralEvent.objects.filter(referral_id=referral.pk).count() > events


@pytest.mark.parametrize("action", ACTIONS)
def test_outsider_cannot_do_anything_and_nothing_changes(people, make_referral, action):
    assert_denied(people, make_referral, action, "outsider")


@pytest.mark.parametrize("action", ACTIONS)
def test_coordinator_sees_everything_but_cannot_act(people, make_referral, action):
    assert_denied(people, make_referral, action, "coordinator")


@pytest.mark.parametrize("action", ["edit_draft", "withdraw", "comment", "approve_cost_approval", "upload_document"])
def test_administrator_configures_but_does_not_act_on_referrals(people, make_referral, action):
    assert_denied(people, make_referral, action, "administrator")


# --- Deciding -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("actor", ["referrer", "referring_colleague", "referring_contact", "signatory"])
@pytest.mark.parametrize("action", ["accept", "reject"])
def test_referring_side_cannot_accept_or_reject_its_own_referral(people, make_referral, actor, action):
    assert_denied(people, make_referral, action, actor)


@pytest.mark.parametrize("actor", ["receiving_worker", "iv_signatory"])
@pytest.mark.parametrize("action", ["accept", "reject"])
def test_receiving_staff_without_the_contact_person_role_cannot_decide(people, make_referral, actor, action):
    assert_denied(people, make_referral, action, actor)


@pytest.mark.parametrize("action", ["accept", "reject"])
def test_contact_person_cannot_decide_on_a_draft_they_cannot_see(people, make_referral, action):
    referral = make_referral(Status.DRAFT)
    before = snapshot(referral)
    with pytest.raises(PermissionDenied):
        ACTIONS[action][1](people.contact_person, referral, None, people)
    assert snapshot(referral) == before


# --- Withdrawing and editing --------------------------------------------------------------------------

@pytest.mark.parametrize("actor", ["contact_person", "receiving_worker"])
def test_only_the_referring_institution_withdraws(people, make_referral, actor):
    assert_denied(people, make_referral, "withdraw", actor)


def test_a_colleague_of_the_referring_institution_may_withdraw(people, make_referral):
    referral = make_referral(Status.SUBMITTED)
    services.referral_withdraw(referral=referral, actor=people.referring_colleague, reason="Client moved")
    assert Referral.objects.get(pk=referral.pk).status == Status.WITHDRAWN


@pytest.mark.parametrize("actor", ["contact_person", "receiving_worker", "signatory"])
def test_only_case_workers_of_the_referring_institution_edit_and_send_a_draft(people, make_referral, actor):
    assert_denied(people, make_referral, "edit_draft", actor)
    assert_denied(people, make_referral, "submit", actor)


# --- Leading the case ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("action", ["schedule_status_meeting", "record_status_meeting", "close",
                                    "request_cost_approval", "record_invoice"])
@pytest.mark.parametrize("actor", ["referrer", "signatory"])
def test_only_the_receiving_institution_leads_the_case(people, make_referral, action, actor):
    assert_denied(people, make_referral, action, actor)


def test_both_sides_take_part_in_the_handover(people, make_referral):
    referral = make_referral(Status.ACCEPTED)
    assert permissions.can_work_case(people.referrer, referral)
    assert permissions.can_work_case(people.receiving_worker, referral)
    assert not permissions.can_lead_case(people.referrer, referral)
    assert permissions.can_lead_case(people.receiving_worker, referral)


@pytest.mark.parametrize("action", ["comment", "schedule_handover", "record_handover", "upload_document"])
def test_coordinator_of_a_party_institution_still_only_watches(people, make_referral, action):
    # A referral from the RAV, where the coordinator has a membership (coordinator role only).
    setup, call = ACTIONS[action]
    referral = make_referral(setup, actor=people.rav_worker)
    assert permissions.is_referrer_member(people.coordinator, referral)
    before = snapshot(referral)
    with pytest.raises(PermissionDenied):
        call(people.coordinator, referral, None, people)
    assert snapshot(referral) == before


# --- Signing cost approvals ---------------------------------------------------------------------------------

@pytest.mark.parametrize("actor", ["iv_signatory", "outsider", "coordinator", "referrer", "receiving_worker"])
def test_only_a_signatory_of_the_financing_institution_signs(people, make_referral, actor):
    assert_denied(people, make_referral, "approve_cost_approval", actor)


@pytest.mark.parametrize("actor", ["iv_signatory", "outsider", "coordinator"])
@pytest.mark.parametrize("action", ["refuse_cost_approval", "refuse_cost_approval_without_reason"])
def test_only_a_signatory_of_the_financing_institution_refuses(people, make_referral, actor, action):
    # Without a reason too: the outsider learns nothing from a validation message.
    assert_denied(people, make_referral, action, actor)


def test_the_financing_institution_is_the_referrer_whoever_it_is(people, make_referral, directory):
    # RAV -> IV: the RAV pays, so the RAV's signatory signs and the social services' signatory cannot.
    referral, approval = prepare("cost_approval", make_referral, people, actor=people.rav_worker)
    assert approval.financing_institution == directory["rav"]
    with pytest.raises(PermissionDenied):
        services.cost_approval_approve(cost_approval=approval, actor=people.signatory)
    services.cost_approval_approve(cost_approval=approval, actor=people.rav_signatory)
    approval.refresh_from_db()
    assert (approval.status, approval.decided_by) == (CostApprovalStatus.APPROVED, people.rav_signatory)


# --- Visibility -------------------------------------------------------------------------------------------

@pytest.fixture
def one_of_each(make_referral):
    return {status: make_referral(status) for status in Status}


def visible_pks(user):
    return set(selectors.visible_referrals(user).values_list("pk", flat=True))


def test_referring_institution_sees_all_its_referrals(people, one_of_each):
    pks = {referral.pk for referral in one_of_each.values()}
    assert visible_pks(people.referrer) == pks
    assert visible_pks(people.referring_colleague) == pks
    assert visible_pks(people.signatory) == pks  # signatories must see what they sign


def test_receiver_cannot_see_drafts(people, one_of_each):
    draft = one_of_each[Status.DRAFT]
    for user in (people.contact_person, people.receiving_worker, people.iv_signatory):
        assert visible_pks(user) == {r.pk for s, r in one_of_each.items() if s != Status.DRAFT}
        assert selectors.referral_for_user(user, draft.pk) is None
        assert not permissions.can_view(user, draft)
        assert selectors.referral_for_user(user, one_of_each[Status.SUBMITTED].pk) is not None


def test_draft_becomes_visible_to_the_receiver_once_submitted(people, make_referral):
    referral = make_referral(Status.DRAFT)
    assert selectors.referral_for_user(people.contact_person, referral.pk) is None
    services.referral_submit(referral=referral, actor=people.referrer)
    assert selectors.referral_for_user(people.contact_person, referral.pk) == referral


def test_outsider_sees_nothing(people, one_of_each):
    assert visible_pks(people.outsider) == set()
    assert list(selectors.search_referrals(people.outsider, "")) == []
    for referral in one_of_each.values():
        assert selectors.referral_for_user(people.outsider, referral.pk) is None
        assert not permissions.can_view(people.outsider, referral)


@pytest.mark.parametrize("user", ["coordinator", "administrator"])
def test_coordinator_and_administrator_see_everything(people, one_of_each, user):
    user = getattr(people, user)
    assert visible_pks(user) == {referral.pk for referral in one_of_each.values()}
    for referral in one_of_each.values():
        assert selectors.referral_for_user(user, referral.pk) == referral


def test_referral_for_user_is_none_for_an_unknown_pk(people):
    assert selectors.referral_for_user(people.coordinator, 999999) is None


# --- Inboxes and search -----------------------------------------------------------------------------------

def test_decision_inbox_lists_submitted_referrals_of_the_contact_persons_institution_oldest_first(
        people, make_referral):
    newest, oldest, middle = (make_referral(Status.SUBMITTED) for _ in range(3))
    now = timezone.now()
    for referral, days in ((newest, 1), (oldest, 9), (middle, 4)):
        Referral.objects.filter(pk=referral.pk).update(status_changed_at=now - days * DAY)
    for status in (Status.DRAFT, Status.ACCEPTED, Status.REJECTED, Status.WITHDRAWN):
        make_referral(status)
    make_referral(Status.SUBMITTED, receiver="third")  # to another institution
    assert list(selectors.decision_inbox(people.contact_person)) == [oldest, middle, newest]
    assert list(selectors.decision_inbox(people.receiving_worker)) == []  # not a contact person
    assert list(selectors.decision_inbox(people.outsider)) == [
        Referral.objects.get(receiving_institution=people.directory["third"])]
    assert list(selectors.decision_inbox(people.coordinator)) == []


def test_cost_approvals_to_sign_lists_open_requests_for_the_financing_institution(people, cost_approval,
                                                                                  make_referral):
    _, decided = prepare("approved", make_referral, people)
    assert list(selectors.cost_approvals_to_sign(people.signatory)) == [cost_approval]
    for user in (people.iv_signatory, people.outsider, people.coordinator, people.referrer):
        assert list(selectors.cost_approvals_to_sign(user)) == []
    assert decided.status == CostApprovalStatus.APPROVED


def test_search_finds_by_reference_and_client_name_within_what_the_user_sees(people, make_referral, directory):
    mara = make_referral(Status.SUBMITTED)
    draft = make_referral(Status.DRAFT, client=client_data(directory, first_name="Luca", last_name="Muster",
                                                           ahv_number="756.1234.5678.97"))

    def found(user, query):
        return set(selectors.search_referrals(user, query))

    assert found(people.referrer, mara.reference) == {mara}
    assert found(people.referrer, mara.reference.lower()) == {mara}
    assert found(people.referrer, "beispiel") == {mara}
    assert found(people.referrer, "MARA") == {mara}
    assert found(people.referrer, "Mara Beispiel") == {mara}
    assert found(people.referrer, "  Muster ") == {draft}
    assert found(people.referrer, "") == {mara, draft}
    assert found(people.referrer, "Nobody") == set()
    # The receiver finds the submitted referral but not the draft; the outsider finds nothing.
    assert found(people.contact_person, "Beispiel") == {mara}
    assert found(people.contact_person, "Muster") == set()
    assert found(people.contact_person, draft.reference) == set()
    assert found(people.outsider, "Beispiel") == set()
    # Need to know: the coordinator finds cases by reference, never by a client's name.
    assert found(people.coordinator, "Muster") == set()
    assert found(people.coordinator, draft.reference) == {draft}


# --- Query counts: lists cost the same for 1 or 5 rows -------------------------------------------------

def touch_referrals(queryset):
    """What a list row shows (the case workers are on the case page, see the test below)."""
    return [(r.reference, r.client.last_name, r.referring_institution.name, r.receiving_institution.name)
            for r in queryset]


def touch_cost_approvals(queryset):
    return [(a.referral.reference, a.referral.client.last_name, a.requesting_institution.name, a.amount_chf)
            for a in queryset]


LISTS = {
    "visible_referrals_referrer": ("referrer", Status.ACCEPTED,
                                   lambda u: touch_referrals(selectors.visible_referrals(u))),
    "visible_referrals_coordinator": ("coordinator", Status.ACCEPTED,
                                      lambda u: touch_referrals(selectors.visible_referrals(u))),
    "visible_referrals_receiver": ("receiving_worker", Status.ACCEPTED,
                                   lambda u: touch_referrals(selectors.visible_referrals(u))),
    "decision_inbox": ("contact_person", Status.SUBMITTED, lambda u: touch_referrals(selectors.decision_inbox(u))),
    "search_referrals": ("contact_person", Status.ACCEPTED,
                         lambda u: touch_referrals(selectors.search_referrals(u, "Mara Beispiel"))),
    "cost_approvals_to_sign": ("signatory", "cost_approval",
                               lambda u: touch_cost_approvals(selectors.cost_approvals_to_sign(u))),
}


@pytest.mark.parametrize("name", LISTS)
def test_list_query_count_does_not_grow_with_the_number_of_rows(people, make_referral, django_assert_num_queries,
                                                                name):
    persona, setup, evaluate = LISTS[name]
    user = getattr(people, persona)
    user_memberships(user)  # the user's memberships are read once per request and cached on the user

    prepare(setup, make_referral, people)
    with django_assert_num_queries(1):
        assert len(evaluate(user)) == 1

    for _ in range(4):
        prepare(setup, make_referral, people)
    with django_assert_num_queries(1):
        assert len(evaluate(user)) == 5


def test_the_case_page_reads_the_referral_with_both_case_workers_in_one_query(people, make_referral,
                                                                            django_assert_num_queries):
    referral = make_referral(Status.ACCEPTED)
    user = people.contact_person
    user_memberships(user)
    with django_assert_num_queries(1):
        found = selectors.referral_for_user(user, referral.pk)
        assert found.referring_case_worker.username and found.assigned_case_worker.username


def test_a_fresh_user_object_costs_one_more_query_for_its_memberships(people, make_referral,
                                                                      django_assert_num_queries):
    make_referral(Status.SUBMITTED)
    fresh_user = User.objects.get(pk=people.contact_person.pk)
    with django_assert_num_queries(2):
        assert len(touch_referrals(selectors.decision_inbox(fresh_user))) == 1
