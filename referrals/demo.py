"""Demo referrals in every status, built through the services like real ones, for a living first look."""

import datetime
from decimal import Decimal

from django.db.models import F
from django.utils import timezone
from stdnum import ean

from institutions.models import Institution, Municipality, User

from . import services
from .models import MeetingDecision, MeetingKind, Referral, ReferralEvent

CLIENTS = [
    ("Mara", "Beispiel", 1984, 1061), ("Luca", "Bühler", 1991, 1024), ("Ayla", "Demir", 1979, 1059),
    ("Reto", "Kaufmann", 1968, 1061), ("Sofia", "Marti", 1995, 1054), ("Jonas", "Wyss", 1987, 1103),
    ("Elena", "Rossi", 1973, 1061), ("Nicolas", "Frei", 1999, 1058), ("Fatma", "Yilmaz", 1982, 1024),
    ("Daniel", "Suter", 1976, 1061), ("Petra", "Huber", 1989, 1059), ("Samuel", "Keller", 1993, 1061),
    ("Lea", "Zimmermann", 1986, 1061), ("Nina", "Graf", 1990, 1061),
]


def demo_ahv(index):
    """A valid, obviously fictitious AHV number (756.9999.xxxx.xC)."""
    body = f"7569999{index:05d}"
    return f"{body}{ean.calc_check_digit(body)}"


def _user(username):
    return User.objects.get(username=username)


def _client(index):
    first, last, year, bfs = CLIENTS[index]
    return {"first_name": first, "last_name": last, "date_of_birth": datetime.date(year, 1 + index % 12, 10 + index),
            "ahv_number": demo_ahv(index), "municipality": Municipality.objects.filter(bfs_number=bfs).first(),
            "phone": f"079 555 {10 + index:02d} {20 + index:02d}", "email": "", "preferred_language": "de"}


def _data(receiver_key, **overrides):
    today = timezone.localdate()
    receiver = Institution.objects.get(key=receiver_key)
    data = {"receiving_institution": receiver, "mandate": "Begleitung bis zu einer stabilen Anstellung im ersten "
            "Arbeitsmarkt; Stabilisierung der finanziellen Situation.", "planned_duration_months": 6,
            "consent_given_on": today - datetime.timedelta(days=3), "consent_form": "written",
            "problem_areas": ["debts"] if receiver.kind == "social" else []}
    data.update(overrides)
    return data


def _file(index, referrer, receiver_key, **overrides):
    return services.referral_create_draft(actor=_user(referrer), client_data=_client(index),
                                          data=_data(receiver_key, **overrides))


def _submit(referral, referrer, justification=None):
    services.referral_submit(referral=referral, actor=_user(referrer), justification=justification)
    referral.refresh_from_db()
    return referral


def _accept(referral, contact, worker):
    services.referral_accept(referral=referral, actor=_user(contact), case_worker=_user(worker))
    referral.refresh_from_db()
    return referral


def _handover(referral, worker, agreed=True):
    today = timezone.localdate()
    services.handover_record(referral=referral, actor=_user(worker), held_on=today, case_work_starts_on=today,
                             strategy="Wöchentliches Coaching, Bewerbungsunterstützung, Budgetberatung.",
                             first_status_meeting_on=today + datetime.timedelta(days=42),
                             client_able_and_willing=True, all_agreed=agreed)
    referral.refresh_from_db()
    return referral


def _backdate(referral, days):
    """Spread the demo over the past months so the timeline and the monthly trend show something."""
    delta = datetime.timedelta(days=days)
    ReferralEvent.objects.filter(referral=referral).update(created_at=F("created_at") - delta)
    Referral.objects.filter(pk=referral.pk).update(status_changed_at=F("status_changed_at") - delta)


def build_demo_referrals():
    """Create the demo referrals unless there are referrals already. Returns how many were created."""
    if Referral.objects.exists():
        return 0
    today = timezone.localdate()
    created = []

    created.append(_file(0, "sd.beratung", "was-iv-luzern", mandate="", consent_given_on=None))  # draft

    r = _submit(_file(1, "sd.beratung", "was-iv-luzern"), "sd.beratung")  # waits for the IV's decision
    _backdate(r, 3)
    created.append(r)
    r = _submit(_file(2, "rav.beratung", "sd-stadt-luzern", problem_areas=["debts", "childcare"]), "rav.beratung")
    created.append(r)  # waits for the city social services
    r = _submit(_file(12, "sd.beratung", "fachstelle-sucht", problem_areas=["addiction"]), "sd.beratung")
    created.append(r)  # social service -> addiction service: no target group

    r = _accept(_submit(_file(3, "sd.beratung", "rav-luzern", problem_areas=[]), "sd.beratung"),
                "rav.kontakt", "rav.beratung")
    services.meeting_schedule(referral=r, actor=_user("sd.beratung"), kind=MeetingKind.HANDOVER,
                              scheduled_at=timezone.now() + datetime.timedelta(days=5, hours=2),
                              location="RAV Luzern, Sitzungszimmer 2")
    _backdate(r, 8)
    created.append(r)

    r = _handover(_accept(_submit(_file(4, "sd.beratung", "was-iv-luzern"), "sd.beratung"),
                          "iv.kontakt", "iv.beratung"), "iv.beratung")
    services.cost_approval_request(referral=r, actor=_user("iv.beratung"), measure="Job-Coaching", provider=
                                   "Coaching Zentralschweiz AG", amount_chf=Decimal("1800.00"), starts_on=today,
                                   ends_on=today + datetime.timedelta(days=90),
                                   justification="Begleitung am neuen Arbeitsplatz in den ersten drei Monaten.")
    _backdate(r, 40)
    created.append(r)  # active, a cost approval waits for sd.zeichnung

    r = _handover(_accept(_submit(_file(5, "rav.beratung", "was-iv-luzern"), "rav.beratung"),
                          "iv.kontakt", "iv.beratung"), "iv.beratung")
    approval = services.cost_approval_request(
        referral=r, actor=_user("iv.beratung"), measure="Arbeitstraining", provider="Brändi Luzern",
        amount_chf=Decimal("2400.00"), starts_on=today, ends_on=today + datetime.timedelta(days=60),
        justification="Aufbau der Belastbarkeit vor der Stellensuche.")
    services.cost_approval_approve(cost_approval=approval, actor=_user("rav.zeichnung"))
    _backdate(r, 70)
    created.append(r)  # active with a signed cost approval

    for index, referrer, receiver, contact, worker, outcome, ground, days in [
        (6, "iv.beratung", "rav-luzern", "rav.kontakt", "rav.beratung", "successful", "goal_reached", 150),
        (7, "sd.beratung", "was-iv-luzern", "iv.kontakt", "iv.beratung", "partial", "goal_unreachable", 200),
    ]:
        r = _handover(_accept(_submit(_file(index, referrer, receiver, problem_areas=[]), referrer), contact, worker),
                      worker)
        services.status_meeting_record(referral=r, actor=_user(worker), held_on=today, progress=
                                       "Stelle gefunden, Probezeit bestanden." if outcome == "successful" else
                                       "Teilpensum erreicht, weitere Steigerung nicht möglich.",
                                       decision=MeetingDecision.CLOSE, outcome=outcome, ground=ground)
        _backdate(r, days)
        created.append(r)

    r = _submit(_file(8, "sd.beratung", "was-iv-luzern",
                      last_iv_rejection_on=today - datetime.timedelta(days=120)), "sd.beratung",
                justification="Neue Diagnose seit dem letzten Entscheid.")
    services.referral_reject(referral=r, actor=_user("iv.kontakt"), reason="iv_rejection_recent",
                             reason_text="Der Entscheid liegt erst vier Monate zurück; bitte reguläre IV-Anmeldung.")
    _backdate(r, 100)
    created.append(r)

    r = _submit(_file(9, "rav.beratung", "sd-stadt-luzern", problem_areas=["family_conflict"]), "rav.beratung")
    services.referral_reject(referral=r, actor=_user("sd.kontakt"), reason="other",
                             reason_text="Klient wohnt seit kurzem in Kriens; bitte an den Sozialdienst Kriens.")
    _backdate(r, 60)
    created.append(r)

    r = _submit(_file(10, "sd.beratung", "rav-luzern", problem_areas=[]), "sd.beratung")
    services.referral_withdraw(referral=r, actor=_user("sd.beratung"),
                               reason="Klientin hat selbst eine Stelle gefunden.")
    created.append(r)

    r = _handover(_accept(_submit(_file(11, "sd.beratung", "was-iv-luzern"), "sd.beratung"),
                          "iv.kontakt", "iv.beratung"), "iv.beratung", agreed=False)
    _backdate(r, 30)
    created.append(r)

    # The client withdrew consent during the case: the RAV now sees only the pseudonymised case (issue 10).
    r = _handover(_accept(_submit(_file(13, "sd.beratung", "rav-luzern", problem_areas=[]), "sd.beratung"),
                          "rav.kontakt", "rav.beratung"), "rav.beratung")
    services.referral_withdraw_consent(referral=r, actor=_user("sd.beratung"), withdrawn_on=today,
                                       channel="client_verbally", note="Möchte die Begleitung nicht mehr.")
    created.append(r)
    return len(created)
