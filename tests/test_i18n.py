"""Issue 12: German, French and Italian complete; the language comes from the user, not from the browser alone.

When a test here fails because of missing translations, it prints the msgids. List and fill them with
`python scripts/translations.py` (see its docstring), then run compilemessages.
"""

import datetime
import shutil
import sys
from pathlib import Path

import polib
import pytest
from django.core import mail
from django.core.management import call_command
from django.urls import reverse
from django.utils import translation

from institutions.middleware import browser_guess
from optima.forms import SwissDateField
from optima.languages import TRANSLATED_LOCALES
from referrals.models import Status

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import translations  # noqa: E402  (scripts/translations.py: the same check the lead runs by hand)

LOGIN = "/anmelden/"


def _report(title, problems):
    return f"{title}:\n" + "\n".join(f"  {locale}: {msgid!r}" for locale, msgid in problems) + (
        "\nFill them with: python scripts/translations.py --export LOCALE todo.json; ... --apply LOCALE todo.json")


def test_every_string_of_the_catalogues_is_translated_in_german_french_and_italian():
    missing = [(locale, entry.msgid) for locale in TRANSLATED_LOCALES
               for entry in translations.missing_entries(locale)]
    assert not missing, _report(f"{len(missing)} strings without a translation", missing)


def test_french_and_italian_know_every_string_german_knows():
    # Other issues add German only (makemessages -l de_CH): their strings must not slip through in fr/it.
    german = {e.msgid for e in polib.pofile(str(translations.po_path("de_CH"))) if not e.obsolete}
    problems = []
    for locale in TRANSLATED_LOCALES:
        known = {e.msgid for e in polib.pofile(str(translations.po_path(locale))) if not e.obsolete}
        problems += [(locale, msgid) for msgid in sorted(german - known) if msgid]
    assert not problems, _report(f"{len(problems)} strings missing from the catalogues", problems)


def test_translations_keep_the_placeholders_of_the_source():
    problems = [(locale, msgid) for locale in TRANSLATED_LOCALES
                for msgid, _text in translations.placeholder_problems(locale)]
    assert not problems, _report("translations with different placeholders", problems)


@pytest.mark.slow_extraction
def test_every_marked_string_in_the_code_is_in_the_catalogues(tmp_path, settings, monkeypatch):
    """Extract the strings from the code afresh (into a copy) and check every one is translated."""
    copy = tmp_path / "locale"
    shutil.copytree(ROOT / "locale", copy)
    settings.LOCALE_PATHS = [copy]
    monkeypatch.chdir(ROOT)
    call_command("makemessages", locale=TRANSLATED_LOCALES, ignore_patterns=[".venv", "staticfiles", "tests"],
                 no_obsolete=True, verbosity=0)
    problems = []
    for locale in TRANSLATED_LOCALES:
        for entry in polib.pofile(str(copy / locale / "LC_MESSAGES" / "django.po")):
            done = all(v.strip() for v in entry.msgstr_plural.values()) if entry.msgid_plural else entry.msgstr
            if not entry.obsolete and (not done or "fuzzy" in entry.flags):
                problems.append((locale, entry.msgid))
    assert not problems, _report(f"{len(problems)} strings in the code without a translation (run makemessages "
                                 "-l de_CH -l fr_CH -l it_CH)", problems)


# --- Which language a request gets --------------------------------------------------------------------------

@pytest.mark.parametrize(("header", "expected"), [
    ("en-US,en;q=0.9", None), ("fr-CH,fr;q=0.9,en;q=0.8", "fr-ch"), ("it-CH", "it-ch"),
    ("en-GB,de;q=0.5", "de-ch"), ("", None)])
def test_the_browser_is_only_a_first_guess_among_german_french_and_italian(rf, header, expected):
    assert browser_guess(rf.get("/", HTTP_ACCEPT_LANGUAGE=header)) == expected


def test_an_english_browser_gets_german_and_a_french_or_italian_one_its_language(client, db):
    assert '<html lang="de">' in client.get(LOGIN, HTTP_ACCEPT_LANGUAGE="en-US,en").content.decode()
    html = client.get(LOGIN, HTTP_ACCEPT_LANGUAGE="fr-CH,fr").content.decode()
    assert '<html lang="fr">' in html and "Se connecter" in html
    html = client.get(LOGIN, HTTP_ACCEPT_LANGUAGE="it-CH").content.decode()
    assert '<html lang="it">' in html and "Accedi" in html


def test_the_users_language_wins_over_the_browser_and_the_switch_remembers_it(client, referrer):
    client.force_login(referrer)
    assert '<html lang="fr">' in client.get("/", HTTP_ACCEPT_LANGUAGE="fr-CH").content.decode()  # no setting yet
    referrer.language = "it-ch"
    referrer.save()
    html = client.get("/", HTTP_ACCEPT_LANGUAGE="fr-CH").content.decode()
    assert '<html lang="it">' in html and "Nuovo trasferimento" in html

    response = client.post(reverse("language"), {"language": "fr-ch", "next": "/faelle/"})
    assert response.status_code == 302 and response["Location"] == "/faelle/"
    referrer.refresh_from_db()
    assert referrer.language == "fr-ch"
    client.cookies.pop("django_language", None)  # the setting on the user alone is enough
    html = client.get("/", HTTP_ACCEPT_LANGUAGE="de-CH").content.decode()
    assert '<html lang="fr">' in html and "Nouveau transfert" in html


def test_the_language_switch_refuses_foreign_redirects_and_unknown_languages(client, referrer):
    client.force_login(referrer)
    response = client.post(reverse("language"), {"language": "fr-ch", "next": "https://evil.example/"})
    assert response["Location"] == "/"
    client.post(reverse("language"), {"language": "xx"})
    referrer.refresh_from_db()
    assert referrer.language == "fr-ch"


def test_the_header_offers_the_switch_before_and_after_logging_in(client, referrer):
    html = client.get(LOGIN).content.decode()
    assert 'data-testid="language-switch"' in html and 'value="it-ch"' in html and 'lang="fr"' in html
    client.force_login(referrer)
    assert 'data-testid="language-switch"' in client.get("/").content.decode()


def test_the_api_still_follows_accept_language(client, referrer):
    response = client.get("/api/v1/referrals/", HTTP_ACCEPT_LANGUAGE="en")
    assert response["Content-Language"] == "en"


# --- E-mails in each recipient's language --------------------------------------------------------------------

def test_each_recipient_gets_the_mail_in_their_own_language(make_referral, contact_person, directory, django_user_model,
                                                          django_capture_on_commit_callbacks):
    from institutions.services import membership_set_roles

    contact_person.language = "fr-ch"
    contact_person.save()
    italian = django_user_model.objects.create_user("iv.kontakt2", email="kontakt2@example.ch", language="it-ch")
    membership_set_roles(user=italian, institution=directory["iv"], roles=["contact_person"])
    with django_capture_on_commit_callbacks(execute=True):
        make_referral(Status.SUBMITTED)
    subjects = {tuple(m.to): m.subject for m in mail.outbox}
    assert subjects[(contact_person.email,)].startswith("Nouveau transfert OPTIMA")
    assert subjects[("kontakt2@example.ch",)].startswith("Nuovo trasferimento OPTIMA")
    body = next(m.body for m in mail.outbox if m.to == [contact_person.email])
    assert "Ouvrir le transfert" in body


# --- Dates in every language ---------------------------------------------------------------------------------

@pytest.mark.parametrize("language", ["de-ch", "fr-ch", "it-ch", "en"])
def test_dates_are_read_and_written_as_dd_mm_yyyy_in_every_language(language):
    field = SwissDateField()
    with translation.override(language):
        assert field.clean("02.03.1984") == datetime.date(1984, 3, 2)
        assert field.widget.format_value(datetime.date(1984, 3, 2)) == "02.03.1984"
        with pytest.raises(Exception, match=r"\d\d\.\d\d\.\d{4}"):
            field.clean("03/02/1984")


# --- Exports in the requester's language --------------------------------------------------------------------

@pytest.mark.parametrize(("language", "title"), [("fr-ch", "Indicateurs OPTIMA"), ("it-ch", "Indicatori OPTIMA"),
                                                 ("", "OPTIMA-Kennzahlen")])
def test_a_report_is_written_in_the_language_of_who_asked_for_it(coordinator, settings, tmp_path, language, title,
                                                                 django_capture_on_commit_callbacks):
    from reporting import services as reporting_services
    from reporting.kpi import Period

    settings.MEDIA_ROOT = tmp_path
    coordinator.language = language
    coordinator.save()
    with django_capture_on_commit_callbacks(execute=True):
        snapshot = reporting_services.snapshot_request(actor=coordinator, period=Period())
    snapshot.refresh_from_db()
    with snapshot.csv_file.open("rb") as handle:
        text = handle.read().decode("utf-8-sig")
    assert title in text, text[:300]
