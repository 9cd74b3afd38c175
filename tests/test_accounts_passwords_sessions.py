"""Password reset by e-mail, password change, session idle timeout and lifetime."""

import datetime
import re

import time_machine
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from tests.conftest import PASSWORD

NEW_PASSWORD = "Zugerberg-Abendrot-2026"


def test_password_reset_by_email_in_german(client, referrer):
    response = client.post(reverse("accounts:password-reset"), {"email": referrer.email}, HTTP_ACCEPT_LANGUAGE="de")
    assert response["Location"] == reverse("accounts:password-reset-done")
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert "Passwort" in message.subject
    link = re.search(r"https?://[^/]+(/konto/passwort/neu/\S+)", message.body).group(1)
    form_page = client.get(link, follow=True)
    assert form_page.status_code == 200
    response = client.post(form_page.redirect_chain[-1][0], {"new_password1": NEW_PASSWORD,
                                                             "new_password2": NEW_PASSWORD})
    assert response["Location"] == reverse("accounts:password-reset-complete")
    referrer.refresh_from_db()
    assert referrer.check_password(NEW_PASSWORD)


def test_password_reset_for_an_unknown_address_says_the_same_and_sends_nothing(client, referrer):
    response = client.post(reverse("accounts:password-reset"), {"email": "nobody@example.ch"})
    assert response["Location"] == reverse("accounts:password-reset-done")
    assert mail.outbox == []


def test_password_change_uses_djangos_validators_in_german(client, referrer):
    client.force_login(referrer)
    response = client.post(reverse("accounts:password-change"), {
        "old_password": PASSWORD, "new_password1": "12345678", "new_password2": "12345678"},
        HTTP_ACCEPT_LANGUAGE="de")
    assert response.status_code == 200
    html = response.content.decode()
    assert "error-summary" in html and "üblich" in html
    referrer.refresh_from_db()
    assert referrer.check_password(PASSWORD)


def test_password_change_refuses_an_overlong_password(client, referrer):
    client.force_login(referrer)
    long_password = "Ab1-" * 50
    response = client.post(reverse("accounts:password-change"), {
        "old_password": PASSWORD, "new_password1": long_password, "new_password2": long_password},
        HTTP_ACCEPT_LANGUAGE="de")
    assert response.status_code == 200
    assert "zu lang" in response.content.decode()
    referrer.refresh_from_db()
    assert referrer.check_password(PASSWORD)


def test_password_change_keeps_the_user_logged_in(client, referrer):
    client.force_login(referrer)
    response = client.post(reverse("accounts:password-change"), {
        "old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert response["Location"] == reverse("accounts:account")
    assert client.get(reverse("home")).status_code == 200
    referrer.refresh_from_db()
    assert referrer.check_password(NEW_PASSWORD)


def test_session_ends_after_thirty_idle_minutes(client, referrer):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        client.force_login(referrer)
        assert client.get(reverse("home")).status_code == 200
    with time_machine.travel(start + datetime.timedelta(minutes=29), tick=False):
        assert client.get(reverse("home")).status_code == 200  # moves the idle clock on
    with time_machine.travel(start + datetime.timedelta(minutes=58), tick=False):
        assert client.get(reverse("home")).status_code == 200
    with time_machine.travel(start + datetime.timedelta(minutes=89), tick=False):
        response = client.get(reverse("referrals:list"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert "_auth_user_id" not in client.session


def test_idle_timeout_comes_from_the_settings(client, referrer, settings):
    settings.SESSION_IDLE_TIMEOUT = 5 * 60
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        client.force_login(referrer)
    with time_machine.travel(start + datetime.timedelta(minutes=6), tick=False):
        assert client.get(reverse("home")).status_code == 302


def test_session_ends_after_twelve_hours_even_when_active(client, referrer):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        client.force_login(referrer)
    for minutes in range(20, 12 * 60, 20):
        with time_machine.travel(start + datetime.timedelta(minutes=minutes), tick=False):
            assert client.get(reverse("directory")).status_code == 200
    with time_machine.travel(start + datetime.timedelta(hours=12, minutes=5), tick=False):
        assert client.get(reverse("directory")).status_code == 302


def test_session_cookie_is_not_persistent(client, referrer, settings):
    assert settings.SESSION_EXPIRE_AT_BROWSER_CLOSE is True
    assert settings.SESSION_COOKIE_AGE <= 12 * 60 * 60
    response = client.post(reverse("login"), {"username": referrer.username, "password": PASSWORD})
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert not cookie["expires"] and not cookie["max-age"]


def test_a_session_from_before_the_timeout_rules_must_log_in_again(client, referrer):
    client.force_login(referrer)
    session = client.session
    for key in ("accounts_started", "accounts_last_seen"):
        session.pop(key, None)
    session.save()
    assert client.get(reverse("home")).status_code == 302


def test_new_passwords_need_twelve_characters(client, referrer):
    client.force_login(referrer)
    response = client.post(reverse("accounts:password-change"), {
        "old_password": PASSWORD, "new_password1": "Kurz-Pw-123", "new_password2": "Kurz-Pw-123"},
        HTTP_ACCEPT_LANGUAGE="de")
    assert response.status_code == 200
    assert "12 Zeichen" in response.content.decode()


def test_the_user_is_told_by_email_when_the_password_changes(client, referrer, django_capture_on_commit_callbacks):
    client.force_login(referrer)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("accounts:password-change"), {
            "old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert [message.to for message in mail.outbox] == [[referrer.email]]
    assert "Passwort" in mail.outbox[0].body and "geändert" in mail.outbox[0].body
