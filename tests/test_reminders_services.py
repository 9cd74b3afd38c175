"""Reminders on Lucerne working days: due on the right day across Easter and the holidays, sent once,
escalated once, in the case timeline and through the outbox."""

import datetime
from decimal import Decimal
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.management import call_command

from outbox.models import Message
from referrals import services
from referrals.models import EventKind, MeetingKind, Status
from referrals.workdays import add_working_days, is_working_day
from reminders.models import ReminderPreference
from reminders.services import reminder_preference_set, reminder_settings_save, send_reminders

pytestmark = pytest.mark.django_db
ZURICH = ZoneInfo("Europe/Zurich")


def at(day, hour=10):
    return datetime.datetime.combine(day, datetime.time(hour), tzinfo=ZURICH)


def d(text):
    return datetime.date.fromisoformat(text)


def run(day):
    """The daily job as beat runs it, on `day` at 07:00."""
    with time_machine.travel(at(day, 7), tick=False):
        return send_reminders()


def reminder_events(referral):
    return list(referral.events.filter(kind=EventKind.REMINDER).order_by("id"))


def mails_to(address):
    return [m for m in Message.objects.order_by("id") if address in m.recipients]


def test_working_days_skip_weekends_and_the_lucerne_holidays():
    assert not is_working_day(d("2027-03-26"))  # Good Friday
    assert not is_working_day(d("2027-03-29"))  # Easter Monday
    assert not is_working_day(d("2027-05-27"))  # Corpus Christi (Lucerne)
    assert not is_working_day(d("2027-12-08"))  # Immaculate Conception (Lucerne)
    assert is_working_day(d("2027-03-30"))
    # Wednesday before Easter + 5 working days: Thu, (Good Friday, weekend, Easter Monday), Tue, Wed, Thu, Fri.
    assert add_working_days(d("2027-03-24"), 5) == d("2027-04-02")
    assert add_working_days(d("2026-12-23"), 3) == d("2026-12-29")  # Christmas Friday, weekend


def test_an_undecided_referral_is_reminded_on_the_5th_and_escalated_on_the_10th_working_day_across_easter(
        make_referral, contact_person, coordinator, referrer):
    with time_machine.travel(at(d("2027-03-24")), tick=False):
        referral = make_referral(Status.SUBMITTED)

    assert run(d("2027-04-01")) == []  # only 4 working days: Easter in between
    sent = run(d("2027-04-02"))
    assert [(r.task.referral.reference, r.threshold, r.due_on) for r in sent] == [
        (referral.reference, 1, d("2027-04-02"))]
    assert [u.username for u in sent[0].recipients] == [contact_person.username]
    assert run(d("2027-04-02")) == []  # the job running twice reminds once
    assert run(d("2027-04-03")) == []  # Saturday: no run
    assert run(d("2027-04-08")) == []

    escalated = run(d("2027-04-09"))
    assert [(r.threshold, r.due_on) for r in escalated] == [(2, d("2027-04-09"))]
    assert {u.username for u in escalated[0].recipients} == {contact_person.username, coordinator.username}
    assert run(d("2027-04-09")) == [] and run(d("2027-04-12")) == []  # escalated once

    events = reminder_events(referral)
    assert [(e.reason, e.payload["action"], e.payload["escalation"]) for e in events] == [
        ("1", "decide", False), ("2", "decide", True)]
    assert len(mails_to(contact_person.email)) == 3  # the new referral, the reminder, the escalation
    assert len(mails_to(coordinator.email)) == 1
    assert mails_to(referrer.email) == []


def test_reminder_mails_carry_no_client_data(make_referral, contact_person):
    with time_machine.travel(at(d("2027-03-24")), tick=False):
        referral = make_referral(Status.SUBMITTED)
    run(d("2027-04-02"))
    mail = mails_to(contact_person.email)[-1]
    assert referral.reference in mail.subject
    text = mail.subject + mail.body
    for secret in ("Mara", "Beispiel", "756.", "Job coaching"):
        assert secret not in text
    assert f"/faelle/{referral.pk}/" in mail.body


def test_handover_not_scheduled_reminds_the_referrer_after_10_working_days_ascension_included(
        make_referral, referrer):
    with time_machine.travel(at(d("2027-04-29")), tick=False):  # Thursday; Ascension is 06.05.2027
        referral = make_referral(Status.ACCEPTED)
    assert add_working_days(d("2027-04-29"), 10) == d("2027-05-14")
    assert run(d("2027-05-13")) == []
    sent = run(d("2027-05-14"))
    assert [(r.task.action, [u.username for u in r.recipients]) for r in sent] == [
        ("schedule_handover", [referrer.username])]
    assert reminder_events(referral)[0].payload["key"] == "schedule_handover"


def test_a_meeting_without_a_note_reminds_the_person_on_turn_3_working_days_after_its_date(
        make_referral, referrer):
    with time_machine.travel(at(d("2027-05-03")), tick=False):
        referral = make_referral(Status.ACCEPTED)
        services.meeting_schedule(referral=referral, actor=referrer, kind=MeetingKind.HANDOVER,
                                  scheduled_at=at(d("2027-05-05"), 14))
    # Wednesday 05.05.; Ascension Thursday off: Fri 07., Mon 10., Tue 11.
    assert run(d("2027-05-10")) == []
    sent = run(d("2027-05-11"))
    assert [(r.task.action, r.due_on, [u.username for u in r.recipients]) for r in sent] == [
        ("record_handover", d("2027-05-11"), [referrer.username])]


def test_an_unsigned_cost_approval_reminds_the_signatories_after_5_working_days(
        make_referral, receiving_worker, signatory):
    with time_machine.travel(at(d("2026-12-21")), tick=False):  # Monday before Christmas
        referral = make_referral(Status.ACTIVE)
        services.cost_approval_request(
            referral=referral, actor=receiving_worker, measure="Coaching", provider="AG", amount_chf=Decimal("900"),
            starts_on=d("2027-01-10"), ends_on=d("2027-03-10"), justification="Needed")
    # Tue 22, Wed 23, Thu 24, (Christmas Friday, St Stephen's Saturday, Sunday), Mon 28, Tue 29.
    assert [r for r in run(d("2026-12-28")) if r.task.action == "sign_cost_approval"] == []
    sent = [r for r in run(d("2026-12-29")) if r.task.action == "sign_cost_approval"]
    assert [[u.username for u in r.recipients] for r in sent] == [[signatory.username]]
    assert [r for r in run(d("2026-12-29")) if r.task.action == "sign_cost_approval"] == []


def test_a_planned_status_meeting_not_scheduled_reminds_the_receiving_case_worker(make_referral, receiving_worker):
    with time_machine.travel(at(d("2027-06-01")), tick=False):
        referral = make_referral(Status.ACTIVE)  # the handover note planned the first status meeting
    sent = run(add_working_days(d("2027-06-01"), 10))
    assert [(r.task.action, [u.username for u in r.recipients]) for r in sent] == [
        ("schedule_status_meeting", [receiving_worker.username])]
    assert reminder_events(referral)[-1].payload["action"] == "schedule_status_meeting"


def test_thresholds_are_configurable(make_referral, administrator, contact_person):
    administrator.is_staff = True
    reminder_settings_save(actor=administrator, decide_days=2, decide_escalation_days=3)
    with time_machine.travel(at(d("2027-03-24")), tick=False):
        make_referral(Status.SUBMITTED)
    sent = run(d("2027-03-31"))  # Thu 25, Tue 30, Wed 31: reminder (2) and escalation (3) both due
    assert sorted(r.threshold for r in sent) == [1, 2]


def test_a_digest_user_gets_one_mail_a_day_instead_of_single_reminders(make_referral, directory, contact_person):
    from tests.conftest import client_data
    from tests.test_views import ahv

    reminder_preference_set(user=contact_person, actor=contact_person, daily_digest=True)
    with time_machine.travel(at(d("2027-03-24")), tick=False):
        first = make_referral(Status.SUBMITTED, client=client_data(directory, ahv_number=ahv(1)))
        second = make_referral(Status.SUBMITTED, client=client_data(directory, ahv_number=ahv(2)))
    before = len(mails_to(contact_person.email))
    assert len(run(d("2027-04-02"))) == 2
    new = mails_to(contact_person.email)[before:]
    assert len(new) == 1
    assert first.reference in new[0].body and second.reference in new[0].body
    assert ReminderPreference.objects.get(user=contact_person).daily_digest


def test_send_reminders_command_prints_one_line_per_reminder_and_dry_run_sends_nothing(
        make_referral, contact_person):
    with time_machine.travel(at(d("2027-03-24")), tick=False):
        referral = make_referral(Status.SUBMITTED)
    out = StringIO()
    with time_machine.travel(at(d("2027-04-02"), 7), tick=False):
        call_command("send_reminders", "--today", "2027-04-02", "--dry-run", stdout=out)
    assert referral.reference in out.getvalue() and "02.04.2027" in out.getvalue()
    assert "Vogel" in out.getvalue()
    assert reminder_events(referral) == []

    out = StringIO()
    with time_machine.travel(at(d("2027-04-02"), 7), tick=False):
        call_command("send_reminders", "--today", "2027-04-02", stdout=out)
        call_command("send_reminders", "--today", "2027-04-02", stdout=StringIO())
    assert out.getvalue().count(referral.reference) == 1
    assert len(reminder_events(referral)) == 1


def test_reminders_are_in_the_case_timeline_and_the_api_events(client, make_referral, referrer, english_pages):
    with time_machine.travel(at(d("2027-03-24")), tick=False):
        referral = make_referral(Status.SUBMITTED)
    run(d("2027-04-02"))
    client.force_login(referrer)
    events = client.get(f"/api/v1/referrals/{referral.pk}/").json()["events"]
    assert [e["kind"] for e in events].count("reminder") == 1
    page = client.get(f"/faelle/{referral.pk}/").content.decode()
    assert "Reminder sent (due on 02.04.2027)" in page


def test_the_daily_beat_task_runs_the_job(settings):
    from django.conf import settings as django_settings

    entry = django_settings.CELERY_BEAT_SCHEDULE["daily-reminders"]
    assert entry["task"] == "reminders.tasks.send_reminders_task"
    from reminders.tasks import send_reminders_task

    assert send_reminders_task.run() == 0


def test_users_choose_the_digest_on_their_settings_page(client, referrer):
    client.force_login(referrer)
    assert client.get("/erinnerungen/einstellungen/").status_code == 200
    response = client.post("/erinnerungen/einstellungen/", {"daily_digest": "on"})
    assert response.status_code == 302
    assert ReminderPreference.objects.get(user=referrer).daily_digest
