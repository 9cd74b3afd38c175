"""The pilot's 52 referrals (OPTIMA-Kennzahlen of November 2022), built through the service functions.

No tests here: the reporting tests import `build_pilot` and `PILOT_SHEET`. Events are dated by travelling
in time (time-machine), so the event log looks like four years of pilot; nothing sets a status directly.

The mix of flows (any consistent one would do):
    IV -> RAV 1; RAV -> IV 8, RAV -> social 4; social -> IV 13, social -> RAV 16, social -> social 10
which gives Auftraggeber IV 1 / RAV 12 / social 39 and Auftragnehmer IV 21 / RAV 17 / social 14.
"""

import datetime
import itertools
import re
from decimal import Decimal

import time_machine
from django.utils import timezone

from institutions.models import Institution, InstitutionKind, Municipality, User
from institutions.services import membership_set_roles
from referrals import services
from referrals.models import MeetingDecision, Referral

PASSWORD = "optima-test-pw"
API = "/api/v1/reports/kpi/"

PILOT_SHEET = {
    "period": {"from": None, "to": None},
    "referrers": {"iv": 1, "rav": 12, "social": 39},
    "receivers": {"iv": 21, "rav": 17, "social": 14},
    "applications": 52,
    "accepted": 38,
    "rejected": {"total": 12, "iv_rejection_recent": 3, "no_intact_work_offer": 0, "no_capacity": 0,
                 "goal_not_feasible": 0, "other": 9},
    "cost_approvals": {"requested": {"total": 1, "iv": 1, "rav": 0, "social": 0},
                       "approved": {"total": 1, "iv": 1, "rav": 0, "social": 0},
                       "refused": {"total": 0, "iv": 0, "rav": 0, "social": 0}},
    "closed": {"total": 35, "iv": 17, "rav": 9, "social": 9},
    "closure_outcomes": {"successful": {"total": 13, "iv": 4, "rav": 2, "social": 7},
                         "partial": {"total": 7, "iv": 0, "rav": 5, "social": 2},
                         "not_achieved": {"total": 12, "iv": 12, "rav": 0, "social": 0},
                         "other": {"total": 3, "iv": 1, "rav": 2, "social": 0}},
}

REJECTION_TEXTS = [
    "Die Klientin ist aktuell nicht vermittlungsfähig; zuerst Stabilisierung der Wohnsituation.",
    "Gleichzeitig laufende IV-Abklärung; OPTIMA nicht sinnvoll.",
    "Auftrag zu unbestimmt; bitte mit konkreter Zielsetzung neu einreichen.",
]
CLOSURE_TEXTS = {
    "successful": "Festanstellung im ersten Arbeitsmarkt.",
    "partial": "Teilzeitpensum gefunden, Ablösung von der Sozialhilfe noch nicht erreicht.",
    "not_achieved": "",
    "other": "Umzug in einen anderen Kanton.",
}


def ahv_number(serial):
    """A valid AHV number (756.xxxx.xxxx.xc, EAN-13 check digit) for each serial."""
    digits = f"756{serial:09d}"
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(digits))
    return f"{digits}{(10 - total % 10) % 10}"


def make_user(username, institution, roles, email=None):
    user = User.objects.create_user(username=username, password=PASSWORD, first_name=username.split(".")[0].title(),
                                    last_name=institution.name.split()[0], email=email or f"{username}@example.ch")
    membership_set_roles(user=user, institution=institution, roles=roles)
    return user


def pilot_directory():
    """The institutions and people of the pilot: one OPTIMA person (case worker, contact, signatory) each."""
    luzern, _ = Municipality.objects.get_or_create(bfs_number=1061, defaults={"name": "Luzern"})
    specs = [
        ("iv", "pilot-was-iv", "WAS IV Luzern", InstitutionKind.IV, False),
        ("rav", "pilot-rav-luzern", "RAV Luzern", InstitutionKind.RAV, False),
        ("rav2", "pilot-rav-sursee", "RAV Sursee", InstitutionKind.RAV, False),
        ("sd", "pilot-sd-luzern", "Sozialdienste Stadt Luzern", InstitutionKind.SOCIAL, True),
        ("sobz", "pilot-sobz-hochdorf", "SoBZ Hochdorf", InstitutionKind.SOCIAL, True),
        ("sucht", "pilot-fachstelle-sucht", "Fachstelle Sucht", InstitutionKind.SOCIAL, True),
    ]
    directory = {"luzern": luzern}
    for key, slug, name, kind, icm in specs:
        institution = Institution.objects.create(key=slug, name=name, kind=kind, integral_case_management=icm,
                                                 topics=["debts", "addiction"] if icm else [],
                                                 email=f"{slug}@example.ch")
        institution.municipalities.add(luzern)
        directory[key] = institution
        directory[f"{key}_staff"] = make_user(f"optima.{key}", institution,
                                              ["case_worker", "contact_person", "signatory"])
    return directory


def _plans():
    """52 referrals: (referrer, receiver, fate, code). Open ones last, so they are the most recent."""
    iv_receivers = [("rav", "iv")] * 5 + [("rav2", "iv")] * 3 + [("sd", "iv")] * 7 + [("sobz", "iv")] * 6
    rav_receivers = [("iv", "rav")] + [("sd", "rav")] * 9 + [("sobz", "rav2")] * 7
    social_receivers = [("rav", "sd")] * 2 + [("rav2", "sobz")] * 2 + [("sd", "sucht")] * 6 + [("sobz", "sucht")] * 4
    iv_fates = ([("closed", "successful")] * 4 + [("closed", "not_achieved")] * 12 + [("closed", "other")]
                + [("rejected", "iv_rejection_recent")] * 3 + [("active", "")])
    rav_fates = ([("closed", "successful")] * 2 + [("closed", "partial")] * 5 + [("closed", "other")] * 2
                 + [("rejected", "other")] * 6 + [("accepted", ""), ("submitted", "")])
    social_fates = ([("closed", "successful")] * 7 + [("closed", "partial")] * 2 + [("rejected", "other")] * 3
                    + [("active", ""), ("submitted", "")])
    per_receiver = []
    for flows, fates in ((iv_receivers, iv_fates), (rav_receivers, rav_fates), (social_receivers, social_fates)):
        # Spread the outcomes of one receiver over time: every third plan first, and so on.
        plans = [(src, dst, fate, code) for (src, dst), (fate, code) in zip(flows, fates, strict=True)]
        per_receiver.append([p for k in range(3) for p in plans[k::3]])
    # Interleave the receiving kinds over time and keep the still-open referrals for the end.
    interleaved = [p for group in itertools.zip_longest(*per_receiver) for p in group if p is not None]
    finished = [p for p in interleaved if p[2] in ("closed", "rejected")]
    return finished + [p for p in interleaved if p[2] not in ("closed", "rejected")]


def _situation(src_kind, dst_kind, index, submitted_on):
    data = {}
    if src_kind == "social":
        data.update(in_social_counselling=True, economic_social_assistance=True)
    if src_kind == "rav":
        data.update(registered_at_rav=True, receives_unemployment_benefits=True)
    if src_kind == "iv":
        data.update(in_iv_integration=True)
    if src_kind == "social" and dst_kind == "rav" and index % 3 == 0:
        data.update(registered_at_rav=True, receives_unemployment_benefits=True)  # target group I
    if src_kind == "social" and dst_kind == "iv" and index % 4 == 0:
        data.update(iv_procedure_running=True)  # target group D
    return data


def at(moment, func, **kwargs):
    """Travel to `moment` and run a service call there: its events get that moment as created_at."""
    with time_machine.travel(moment, tick=False):
        return func(**kwargs)


def _aware(day, hour=9):
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour, 0)))


def build_pilot(start=datetime.date(2019, 3, 4), spacing_days=24, directory=None):
    """Build the 52 referrals (and one withdrawn draft that must never count). Returns the directory."""
    directory = directory or pilot_directory()
    serial = itertools.count(100000001)
    kinds = {key: directory[key].kind for key in ("iv", "rav", "rav2", "sd", "sobz", "sucht")}
    cost_approval_done = False
    for index, (src, dst, fate, code) in enumerate(_plans()):
        referrer, receiver = directory[f"{src}_staff"], directory[f"{dst}_staff"]
        submitted_at = _aware(start + datetime.timedelta(days=index * spacing_days), hour=9 + index % 7)
        day = submitted_at.date()
        data = {
            "receiving_institution": directory[dst], "mandate": "Begleitung bis zu einer stabilen Anstellung",
            "planned_duration_months": 6 if index % 3 else 3, "consent_given_on": day - datetime.timedelta(days=3),
            "consent_form": "written",
            "problem_areas": ["debts"] if kinds[dst] == "social" else [],
            **_situation(kinds[src], kinds[dst], index, day),
        }
        justification = ""
        if code == "iv_rejection_recent":
            data["last_iv_rejection_on"] = day - datetime.timedelta(days=150)
            justification = "Neue gesundheitliche Situation seit dem letzten Entscheid."
        client = {"first_name": f"Vorname{index}", "last_name": "Klientenname",
                  "date_of_birth": datetime.date(1980, 1, 1),
                  "ahv_number": ahv_number(next(serial)), "municipality": directory["luzern"]}
        referral = at(submitted_at - datetime.timedelta(days=1), services.referral_create_draft,
                      actor=referrer, client_data=client, data=data)
        at(submitted_at, services.referral_submit, referral=referral, actor=referrer,
           justification=justification or None)
        if fate == "submitted":
            continue
        decided_at = submitted_at + datetime.timedelta(days=3 + index % 15, hours=2)
        if fate == "rejected":
            text = "" if code == "iv_rejection_recent" else REJECTION_TEXTS[index % len(REJECTION_TEXTS)]
            at(decided_at, services.referral_reject, referral=_fresh(referral), actor=receiver, reason=code,
               reason_text=text)
            continue
        at(decided_at, services.referral_accept, referral=_fresh(referral), actor=receiver,
           case_worker=receiver)
        if fate == "accepted":
            continue
        handover_at = decided_at + datetime.timedelta(days=7 + index % 11)
        at(handover_at, services.handover_record, referral=_fresh(referral), actor=receiver,
           held_on=handover_at.date(), case_work_starts_on=handover_at.date(), strategy="Coaching, Bewerbungen",
           first_status_meeting_on=handover_at.date() + datetime.timedelta(days=30),
           client_able_and_willing=True, all_agreed=True)
        if kinds[dst] == "iv" and fate == "closed" and not cost_approval_done:
            # The IV (leading) asks the referring social service to pay a measure; its signatory approves.
            cost_approval_done = True
            asked_at = handover_at + datetime.timedelta(days=14)
            approval = at(asked_at, services.cost_approval_request, referral=_fresh(referral), actor=receiver,
                          measure="Arbeitstraining", provider="Brändi Luzern", amount_chf=Decimal("2400.00"),
                          starts_on=asked_at.date(), ends_on=asked_at.date() + datetime.timedelta(days=90),
                          justification="Aufbau der Belastbarkeit")
            at(asked_at + datetime.timedelta(days=3), services.cost_approval_approve, cost_approval=approval,
               actor=referrer)
        if fate == "active":
            continue
        closed_at = handover_at + datetime.timedelta(days=80 + (index * 37) % 150)
        ground = {"successful": "goal_reached", "partial": "goal_reached", "not_achieved": "goal_unreachable",
                  "other": "other"}[code]
        at(closed_at, services.status_meeting_record, referral=_fresh(referral), actor=receiver,
           held_on=closed_at.date(), progress="Abschlussgespräch", decision=MeetingDecision.CLOSE,
           outcome=code, ground=ground, outcome_text=CLOSURE_TEXTS[code])
    # A draft withdrawn before it was sent: never counts.
    draft = at(_aware(start + datetime.timedelta(days=40)), services.referral_create_draft,
               actor=directory["sd_staff"], client_data={"first_name": "Entwurf", "last_name": "Pilot"},
               data={"receiving_institution": directory["iv"]})
    at(_aware(start + datetime.timedelta(days=41)), services.referral_withdraw, referral=draft,
       actor=directory["sd_staff"], reason="")
    assert cost_approval_done
    return directory


def _fresh(referral):
    return Referral.objects.get(pk=referral.pk)


def flatten(figures, prefix=""):
    for key, value in figures.items():
        if key == "period":
            continue
        if isinstance(value, dict):
            yield from flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def kpi_cells(html):
    """{json path: [displayed values]} of every cell the page marks with data-kpi."""
    cells = {}
    for key, value in re.findall(r'data-kpi="([^"]+)">([^<]*)<', html):
        cells.setdefault(key, []).append(value.strip())
    return cells


def fresh_celery_pools():
    """Forget broker connection pools that an earlier test closed.

    tests/test_celery.py's celery_conf force-closes the app's pool but kombu keeps the closed pool registered
    under the broker URL; the next task sent there - even eagerly, Celery acquires a producer first - fails
    with "Acquire on closed pool". Dropping kombu's registry lets the next task open a fresh pool.
    """
    from kombu import pools

    from optima.celery import app

    pools.reset()
    app._pool = None
    app.__dict__.pop("amqp", None)
