"""Shared fixtures: a small directory and the personas every test speaks of.

- referrer: case worker at the social services of the city of Lucerne (sends the referral)
- contact_person: OPTIMA contact person at WAS IV Luzern (receives and decides), also a case worker there
- receiving_worker: case worker at WAS IV Luzern (assigned to lead the case)
- signatory: signatory at the social services of the city of Lucerne (the financing institution)
- coordinator: the IIZ coordinator (sees everything, decides nothing)
- outsider: case worker, contact person and signatory at a third institution (SoBZ Sursee): sees nothing
- administrator: administrator (sees cases pseudonymised, configures the directory)
- data_protection: the data-protection officer (reads the audit trail, sees no case)
"""

import datetime
from decimal import Decimal

import pytest
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone, translation

from institutions.models import Institution, InstitutionKind, Municipality, User
from institutions.services import membership_set_roles
from referrals import services
from referrals.models import MeetingDecision, Status

VALID_AHV = "756.9217.0769.85"
PASSWORD = "optima-test-pw"


def _user(username, first, last, institution, roles):
    user = User.objects.create_user(username=username, password=PASSWORD, first_name=first, last_name=last,
                                    email=f"{username}@example.ch", phone="041 000 00 00")
    membership_set_roles(user=user, institution=institution, roles=roles)
    return user


@pytest.fixture(autouse=True)
def _fresh_cache():
    """API throttle counters live in the cache: every test starts with none (issue 9)."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def directory(db):
    luzern = Municipality.objects.create(bfs_number=1061, name="Luzern")
    sursee = Municipality.objects.create(bfs_number=1103, name="Sursee")
    social = Institution.objects.create(key="sd-luzern", name="Sozialdienste Stadt Luzern", kind=InstitutionKind.SOCIAL,
                                        email="sozialdienste@example.ch", phone="041 208 00 00",
                                        integral_case_management=True, topics=["debts", "addiction"])
    iv = Institution.objects.create(key="was-iv", name="WAS IV Luzern", kind=InstitutionKind.IV,
                                    email="iv@example.ch", phone="041 209 00 00")
    rav = Institution.objects.create(key="rav-luzern", name="RAV Luzern", kind=InstitutionKind.RAV,
                                     email="rav@example.ch", phone="041 228 00 00")
    third = Institution.objects.create(key="sobz-sursee", name="SoBZ Sursee", kind=InstitutionKind.SOCIAL,
                                       email="sobz@example.ch", integral_case_management=True)
    no_icm = Institution.objects.create(key="sd-klein", name="Sozialdienst Kleindorf", kind=InstitutionKind.SOCIAL,
                                        integral_case_management=False)
    social.municipalities.add(luzern)
    iv.municipalities.add(luzern, sursee)
    rav.municipalities.add(luzern)
    third.municipalities.add(sursee)
    return {"luzern": luzern, "sursee": sursee, "social": social, "iv": iv, "rav": rav, "third": third,
            "no_icm": no_icm}


@pytest.fixture
def referrer(directory):
    return _user("sd.beratung", "Sandra", "Meier", directory["social"], ["case_worker"])


@pytest.fixture
def contact_person(directory):
    return _user("iv.kontakt", "Iris", "Vogel", directory["iv"], ["case_worker", "contact_person"])


@pytest.fixture
def receiving_worker(directory):
    return _user("iv.beratung", "Ivan", "Brunner", directory["iv"], ["case_worker"])


@pytest.fixture
def signatory(directory):
    return _user("sd.zeichnung", "Silvia", "Amrein", directory["social"], ["signatory"])


@pytest.fixture
def coordinator(directory):
    return _user("koordination", "Karin", "Odermatt", directory["rav"], ["coordinator"])


@pytest.fixture
def outsider(directory):
    return _user("sobz.beratung", "Otto", "Fischer", directory["third"], ["case_worker", "contact_person", "signatory"])


@pytest.fixture
def administrator(directory):
    return _user("admin.optima", "Adrian", "Widmer", directory["rav"], ["admin"])


@pytest.fixture
def data_protection(directory):
    return _user("datenschutz", "Daniela", "Bucher", directory["iv"], ["data_protection"])


@pytest.fixture
def personas(referrer, contact_person, receiving_worker, signatory, coordinator, outsider):
    return {"referrer": referrer, "contact_person": contact_person, "receiving_worker": receiving_worker,
            "signatory": signatory, "coordinator": coordinator, "outsider": outsider}


def client_data(directory, **overrides):
    data = {"first_name": "Mara", "last_name": "Beispiel", "date_of_birth": datetime.date(1984, 3, 2),
            "ahv_number": VALID_AHV, "municipality": directory["luzern"], "phone": "079 000 00 00", "email": ""}
    data.update(overrides)
    return data


def referral_data(directory, receiver="iv", **overrides):
    data = {"receiving_institution": directory[receiver], "in_social_counselling": True,
            "economic_social_assistance": True, "mandate": "Job coaching until a stable placement",
            "planned_duration_months": 6, "consent_given_on": timezone.localdate() - datetime.timedelta(days=2),
            "consent_form": "written", "problem_areas": ["debts"] if directory[receiver].kind == "social" else []}
    data.update(overrides)
    return data


@pytest.fixture
def make_referral(directory, referrer, contact_person, receiving_worker, signatory):
    """Build a referral social services -> IV and drive it through the services to `status`."""

    def make(status=Status.SUBMITTED, actor=None, receiver="iv", client=None, **overrides):
        actor = actor or referrer
        referral = services.referral_create_draft(
            actor=actor, client_data=client or client_data(directory),
            data=referral_data(directory, receiver, **overrides))
        if status == Status.DRAFT:
            return referral
        if status == Status.WITHDRAWN:
            services.referral_withdraw(referral=referral, actor=actor, reason="")
            return _fresh(referral)
        services.referral_submit(referral=referral, actor=actor)
        if status == Status.SUBMITTED:
            return _fresh(referral)
        if status == Status.REJECTED:
            services.referral_reject(referral=referral, actor=contact_person, reason="no_capacity")
            return _fresh(referral)
        services.referral_accept(referral=_fresh(referral), actor=contact_person, case_worker=receiving_worker)
        if status == Status.ACCEPTED:
            return _fresh(referral)
        today = timezone.localdate()
        services.handover_record(
            referral=_fresh(referral), actor=receiving_worker, held_on=today, case_work_starts_on=today,
            strategy="Coaching", first_status_meeting_on=today + datetime.timedelta(days=30),
            client_able_and_willing=True, all_agreed=status != Status.NOT_STARTED)
        if status in (Status.ACTIVE, Status.NOT_STARTED):
            return _fresh(referral)
        services.status_meeting_record(
            referral=_fresh(referral), actor=receiving_worker, held_on=today, progress="Placed in a job",
            decision=MeetingDecision.CLOSE, outcome="successful", ground="goal_reached")
        return _fresh(referral)

    return make


def _fresh(referral):
    referral.refresh_from_db()
    return referral


@pytest.fixture
def cost_approval(make_referral, receiving_worker):
    referral = make_referral(Status.ACTIVE)
    today = timezone.localdate()
    return services.cost_approval_request(
        referral=referral, actor=receiving_worker, measure="Job coaching", provider="Coaching AG",
        amount_chf=Decimal("1800.00"), starts_on=today, ends_on=today + datetime.timedelta(days=90),
        justification="Needed for the placement")


@pytest.fixture(autouse=True)
def _default_language():
    """Every test starts in the default language (de-CH): a request in another language earlier in the same
    thread must not change what a later test reads (tests that assert English texts ask for `english`)."""
    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.deactivate()


@pytest.fixture
def english():
    """Tests that assert texts read the English source strings; German (de-CH) is the default language."""
    with translation.override("en"):
        yield


@pytest.fixture
def english_pages(client):
    """The same for pages fetched with the test client: English chosen with the language switch (issue 12: the
    browser alone never makes the product English)."""
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    client.cookies["django_language"] = "en"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # Hashing with the production hasher costs ~0.3 s a user; tests create many.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


# --- browser ---------------------------------------------------------------------------------------------
# Fixtures for the Playwright tests (tests/test_browser.py); helpers live in tests/browser_support.py.
# One Chromium per test module; one browser context (own cookies, own log-in) per persona.


@pytest.fixture(scope="module")
def chromium():
    import os

    import browser_support as bs

    if not bs.CHROMIUM.exists():
        bs.skip_or_fail(f"Chromium not found at {bs.CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        bs.skip_or_fail("the playwright package is not installed")
    # Playwright's sync API keeps an asyncio loop in this thread; Django's ORM would refuse to run next to it.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_playwright().start()
    try:
        browser = bs.launch_chromium(playwright)
    except Exception as exc:  # noqa: BLE001 - a browser that does not start is reported like a missing one
        playwright.stop()
        bs.skip_or_fail(f"Chromium at {bs.CHROMIUM} did not start: {exc}")
    yield browser
    browser.close()
    playwright.stop()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def log_in(chromium, live_server):
    """log_in(user) -> a Persona with its own browser context, logged in through /anmelden/."""
    import browser_support as bs

    personas = []

    def make(user, viewport=None):
        persona = bs.Persona(chromium, live_server.url, user, PASSWORD, viewport=viewport)
        personas.append(persona)
        return persona

    yield make
    for persona in personas:
        persona.close()
