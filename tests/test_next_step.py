"""One person on turn for every status and sub-step; 'Wartet auf Sie' complete for every role."""

import datetime

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from referrals import selectors, services
from referrals.models import MeetingDecision, MeetingKind, Status
from referrals.next_step import Action, next_step, open_tasks
from tests.conftest import client_data
from tests.test_views import ahv

pytestmark = pytest.mark.django_db


def fresh(referral):
    referral.refresh_from_db()
    return referral


def on_turn(step, personas):
    """The personas the step is for: exactly those, by name."""
    return sorted(name for name, user in personas.items() if step.is_for(user))


def waiting_actions(user):
    return [(i.referral.reference, i.action) for i in selectors.waiting_for(user)]


def test_a_draft_waits_for_its_author_only(make_referral, personas):
    draft = make_referral(Status.DRAFT)
    step = next_step(draft)
    assert step.action == Action.COMPLETE_DRAFT
    assert on_turn(step, personas) == ["referrer"]
    assert waiting_actions(personas["referrer"]) == [(draft.reference, Action.COMPLETE_DRAFT)]


def test_a_submitted_referral_waits_for_the_receiving_contact_persons_with_a_due_date(make_referral, personas):
    referral = make_referral(Status.SUBMITTED)
    step = next_step(referral)
    assert step.action == Action.DECIDE
    assert on_turn(step, personas) == ["contact_person"]
    assert step.due_on is not None and step.due_on > timezone.localdate()
    assert waiting_actions(personas["contact_person"]) == [(referral.reference, Action.DECIDE)]
    assert waiting_actions(personas["referrer"]) == []
    assert waiting_actions(personas["outsider"]) == []


def test_a_rueckfrage_puts_the_referrer_on_turn_until_she_answers(make_referral, personas):
    referral = make_referral(Status.SUBMITTED)
    services.comment_add(referral=referral, actor=personas["contact_person"], text="Is the client registered?")
    step = next_step(fresh(referral))
    assert step.action == Action.ANSWER_QUESTION
    assert on_turn(step, personas) == ["referrer"]
    assert (referral.reference, Action.ANSWER_QUESTION) in waiting_actions(personas["referrer"])

    services.comment_add(referral=referral, actor=personas["referrer"], text="Yes, since May.")
    step = next_step(fresh(referral))
    assert step.action == Action.DECIDE
    assert waiting_actions(personas["referrer"]) == []


def test_after_acceptance_only_the_referrer_is_on_turn_to_organise_the_handover(make_referral, personas):
    referral = make_referral(Status.ACCEPTED)
    step = next_step(referral)
    assert step.action == Action.SCHEDULE_HANDOVER
    assert on_turn(step, personas) == ["referrer"]
    for name in ("contact_person", "receiving_worker", "signatory", "coordinator", "outsider"):
        assert waiting_actions(personas[name]) == [], name


def test_a_scheduled_handover_is_recorded_only_once_its_time_has_come(make_referral, personas):
    referral = make_referral(Status.ACCEPTED)
    in_two_days = timezone.now() + datetime.timedelta(days=2)
    services.meeting_schedule(referral=referral, actor=personas["referrer"], kind=MeetingKind.HANDOVER,
                              scheduled_at=in_two_days)
    assert next_step(fresh(referral)).action == Action.HOLD_HANDOVER
    assert next_step(fresh(referral)).due_on == timezone.localtime(in_two_days).date()

    with time_machine.travel(in_two_days + datetime.timedelta(hours=1)):
        step = next_step(fresh(referral))
        assert step.action == Action.RECORD_HANDOVER
        assert on_turn(step, personas) == ["referrer"]


def test_a_note_can_never_be_dated_in_the_future(make_referral, personas):
    from django.core.exceptions import ValidationError

    referral = make_referral(Status.ACCEPTED)
    with pytest.raises(ValidationError) as error:
        services.handover_record(referral=referral, actor=personas["referrer"],
                                 held_on=timezone.localdate() + datetime.timedelta(days=1), all_agreed=False)
    assert "held_on" in error.value.error_dict


def test_a_handover_arranged_by_phone_is_recorded_without_scheduling(make_referral, personas):
    referral = make_referral(Status.ACCEPTED)
    today = timezone.localdate()
    services.handover_record(referral=referral, actor=personas["referrer"], held_on=today - datetime.timedelta(days=1),
                             case_work_starts_on=today, strategy="Coaching",
                             first_status_meeting_on=today + datetime.timedelta(days=40), client_able_and_willing=True,
                             all_agreed=True)
    step = next_step(fresh(referral))
    assert fresh(referral).status == Status.ACTIVE
    # The note planned the first status meeting by its date: the receiving case worker fixes time and place.
    assert step.action == Action.SCHEDULE_STATUS_MEETING
    assert on_turn(step, personas) == ["receiving_worker"]


def test_a_scheduled_status_meeting_waits_for_its_date_then_for_its_note(make_referral, personas):
    referral = make_referral(Status.ACTIVE)
    at = timezone.now() + datetime.timedelta(days=5)
    services.meeting_schedule(referral=referral, actor=personas["receiving_worker"], kind=MeetingKind.STATUS,
                              scheduled_at=at, location="IV-Stelle")
    assert next_step(fresh(referral)).action == Action.HOLD_STATUS_MEETING
    with time_machine.travel(at + datetime.timedelta(days=1)):
        step = next_step(fresh(referral))
        assert step.action == Action.RECORD_STATUS_MEETING
        assert on_turn(step, personas) == ["receiving_worker"]
        services.status_meeting_record(referral=fresh(referral), actor=personas["receiving_worker"],
                                       held_on=timezone.localdate(), progress="Good", decision=MeetingDecision.CONTINUE,
                                       next_meeting_on=timezone.localdate() + datetime.timedelta(days=60))
        assert next_step(fresh(referral)).action == Action.SCHEDULE_STATUS_MEETING


def test_only_signatories_of_the_financing_institution_are_told_to_sign(cost_approval, personas):
    referral = fresh(cost_approval.referral)
    step = next_step(referral)
    assert step.action == Action.SIGN_COST_APPROVAL
    assert on_turn(step, personas) == ["signatory"]  # not the referring case worker, not the outsider
    assert waiting_actions(personas["signatory"]) == [(referral.reference, Action.SIGN_COST_APPROVAL)]
    assert Action.SIGN_COST_APPROVAL not in [a for _r, a in waiting_actions(personas["referrer"])]


def test_a_rejection_waits_for_the_referrer_with_its_reason_until_she_opens_it(client, make_referral, personas,
                                                                              english):
    referral = make_referral(Status.REJECTED)
    items = selectors.waiting_for(personas["referrer"])
    assert [(i.action, str(i.note)) for i in items] == [(Action.READ_REJECTION, "No capacity")]

    client.force_login(personas["referrer"])
    client.get(reverse("referrals:detail", args=[referral.pk]))
    personas["referrer"]._optima_memberships = None
    assert selectors.waiting_for(personas["referrer"]) == []


def test_a_withdrawal_waits_for_the_receiving_contact_persons_until_opened(client, make_referral, personas):
    referral = make_referral(Status.SUBMITTED)
    services.referral_withdraw(referral=referral, actor=personas["referrer"], reason="Client moved away")
    assert [i.action for i in selectors.waiting_for(personas["contact_person"])] == [Action.READ_WITHDRAWAL]
    assert selectors.waiting_for(personas["receiving_worker"]) == []
    client.force_login(personas["contact_person"])
    client.get(reverse("referrals:detail", args=[referral.pk]))
    assert selectors.waiting_for(personas["contact_person"]) == []


def test_finished_referrals_have_nobody_on_turn(make_referral, personas, directory):
    for i, status in enumerate((Status.CLOSED, Status.NOT_STARTED, Status.WITHDRAWN)):
        step = next_step(make_referral(status, client=client_data(directory, ahv_number=ahv(i))))
        assert step.action == Action.NONE
        assert on_turn(step, personas) == []


def test_every_open_step_has_exactly_one_party_on_turn(make_referral, cost_approval, personas, directory):
    referrals = [make_referral(s, client=client_data(directory, ahv_number=ahv(i))) for i, s in
                 enumerate((Status.DRAFT, Status.SUBMITTED, Status.ACCEPTED, Status.ACTIVE))]
    referrals.append(fresh(cost_approval.referral))
    for referral in referrals:
        for task in open_tasks(referral):
            people = on_turn(task, personas)
            assert len(people) == 1, (referral.status, task.action, people)


def test_the_overdue_come_first(make_referral, personas, directory):
    with time_machine.travel(timezone.now() - datetime.timedelta(days=30)):
        old = make_referral(Status.SUBMITTED, client=client_data(directory, ahv_number=ahv(1)))
    new = make_referral(Status.SUBMITTED, client=client_data(directory, ahv_number=ahv(2)))
    items = selectors.waiting_for(personas["contact_person"])
    assert [i.referral.pk for i in items] == [old.pk, new.pk]
    assert items[0].overdue and not items[1].overdue
    assert items[0].age_days == 30


def test_start_page_lists_what_waits_with_due_dates(client, make_referral, personas):
    referral = make_referral(Status.SUBMITTED)
    client.force_login(personas["contact_person"])
    page = client.get("/").content.decode()
    assert f'data-reference="{referral.reference}"' in page
    assert 'data-action="decide"' in page
    assert referral.client.last_name not in page.split('id="open-cases"')[0]  # no client names in the list


def test_empty_start_page_says_what_will_appear(client, personas, english_pages):
    client.force_login(personas["referrer"])
    page = client.get("/").content.decode()
    assert 'data-testid="waiting-empty"' in page
    assert 'id="explains-cases"' in page


def test_coordinator_sees_what_waits_longest_per_institution_without_client_names(
        client, make_referral, personas, english_pages):
    referral = make_referral(Status.SUBMITTED)
    client.force_login(personas["coordinator"])
    response = client.get("/")
    groups = response.context["waiting_longest"]
    assert [(name, count) for name, _items, count in groups] == [("WAS IV Luzern", 1)]
    section = response.content.decode().split('id="longest-title"')[1]
    assert referral.reference in section and "Beispiel" not in section



def test_the_coordinators_overview_names_the_date_of_a_meeting_still_ahead_not_negative_days(
        client, make_referral, personas, english_pages):
    referral = make_referral(Status.ACCEPTED)
    ahead = timezone.now() + datetime.timedelta(days=5)
    services.meeting_schedule(referral=referral, actor=personas["referrer"], kind=MeetingKind.HANDOVER,
                              scheduled_at=ahead)
    client.force_login(personas["coordinator"])
    section = client.get("/").content.decode().split('id="longest-title"')[1]
    assert f"Due on {timezone.localtime(ahead):%d.%m.%Y}" in section and "-5 days" not in section

def test_a_busy_start_page_shows_the_most_urgent_tasks_and_all_of_them_on_request(
        client, make_referral, directory, personas, monkeypatch, english_pages):
    from referrals import views

    monkeypatch.setattr(views, "WAITING_SHOWN", 2)  # 30 in production; 3 referrals show the rule
    for i in range(3):
        make_referral(Status.SUBMITTED, client=client_data(directory, ahv_number=ahv(i)))
    client.force_login(personas["contact_person"])
    page = client.get("/")
    assert len(page.context["waiting"]) == 2 and page.context["waiting_total"] == 3
    assert "Show all 3 open tasks" in page.content.decode()
    everything = client.get("/?alle=1")
    assert len(everything.context["waiting"]) == 3 and 'data-testid="waiting-more"' not in everything.content.decode()


def test_the_coordinators_overview_reads_only_the_referrals_longest_in_an_open_status(make_referral, directory):
    oldest = make_referral(Status.SUBMITTED, client=client_data(directory, ahv_number=ahv(1)))
    make_referral(Status.SUBMITTED, client=client_data(directory, ahv_number=ahv(2)))
    groups = selectors.waiting_longest_by_institution(sample=1)
    assert [[item.referral for item in items] for _name, items, _count in groups] == [[oldest]]


@pytest.mark.parametrize("n", [1, 4])
def test_start_page_queries_stay_fixed_with_questions_and_reminders(
        client, make_referral, directory, personas, n, django_assert_num_queries):
    for i in range(n):
        referral = make_referral(Status.SUBMITTED, client=client_data(directory, ahv_number=ahv(i)))
        services.comment_add(referral=referral, actor=personas["contact_person"], text=f"Question {i}")
    client.force_login(personas["referrer"])
    # session, user, memberships, referrals, meetings, cost approvals, comments, their authors' memberships,
    # reminder events, reminder settings, unread rejections/withdrawals, the open cases (their ids, then the rows)
    # and the next meetings (issue 14), and one INSERT of the audit records for the client names shown (issue 9).
    with django_assert_num_queries(15):
        response = client.get("/")
    assert len(response.context["waiting"]) == n


def test_case_banner_names_who_is_on_turn_and_their_phone(client, make_referral, personas, english_pages):
    referral = make_referral(Status.SUBMITTED)
    client.force_login(personas["referrer"])
    page = client.get(reverse("referrals:detail", args=[referral.pk])).content.decode()
    assert 'data-action="decide"' in page and 'data-my-turn="false"' in page
    assert "041 209 00 00" in page  # the receiving institution's phone

    client.force_login(personas["contact_person"])
    page = client.get(reverse("referrals:detail", args=[referral.pk])).content.decode()
    assert 'data-my-turn="true"' in page and "You are on turn:" in page


def test_api_detail_has_next_step_with_who_action_and_due_date(client, make_referral, personas):
    referral = make_referral(Status.ACCEPTED)
    client.force_login(personas["contact_person"])
    body = client.get(f"/api/v1/referrals/{referral.pk}/").json()
    step = body["next_step"]
    assert step["action"] == "schedule_handover"
    assert step["my_turn"] is False
    assert step["who"]["type"] == "user" and step["who"]["id"] == personas["referrer"].pk
    assert step["who"]["institution"]["name"] == "Sozialdienste Stadt Luzern"
    assert datetime.date.fromisoformat(step["due_on"]) > timezone.localdate()


def test_meeting_can_be_downloaded_as_ics_by_the_parties_only(client, make_referral, personas):
    referral = make_referral(Status.ACCEPTED)
    meeting = services.meeting_schedule(referral=referral, actor=personas["referrer"], kind=MeetingKind.HANDOVER,
                                        scheduled_at=timezone.now() + datetime.timedelta(days=3),
                                        location="Sozialdienste, Raum 4")
    url = reverse("referrals:meeting_ics", args=[referral.pk, meeting.pk])
    client.force_login(personas["receiving_worker"])
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "text/calendar"
    text = response.content.decode()
    assert "BEGIN:VEVENT" in text and referral.reference in text and "Raum 4" in text
    assert "Beispiel" not in text
    client.force_login(personas["outsider"])
    assert client.get(url).status_code == 404


@pytest.mark.parametrize("n", [1, 4])
def test_coordinator_start_page_queries_stay_fixed(client, make_referral, directory, personas, n,
                                                   django_assert_num_queries):
    for i in range(n):
        make_referral(Status.SUBMITTED if i % 2 else Status.ACTIVE, client=client_data(directory, ahv_number=ahv(i)))
    client.force_login(personas["coordinator"])
    # session, user, memberships; reminder settings, unread rejections (a party nowhere, the coordinator has no
    # own referrals, open cases or meetings to read); the overview: the 100 referrals longest in an open status
    # with meetings, cost approvals, comments, reminder events, and the reminder settings again.
    with django_assert_num_queries(11):
        response = client.get("/")
    assert sum(count for _name, _items, count in response.context["waiting_longest"]) == n
