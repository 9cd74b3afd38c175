"""API tokens (knox): hashed, expiring, revocable by their owner, never shown again; throttled token endpoint."""

import datetime

from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.settings import api_settings
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle

from accounts import services
from institutions.models import User
from tests.conftest import PASSWORD


def issue(user, language="en"):
    response = APIClient(HTTP_ACCEPT_LANGUAGE=language).post(
        "/api/v1/auth/token/", {"username": user.username, "password": PASSWORD}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def me(token, language="en"):
    client = APIClient(HTTP_ACCEPT_LANGUAGE=language)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client.get("/api/v1/me/")


def test_token_is_stored_hashed_and_expires_after_thirty_days(referrer):
    body = issue(referrer)
    row = AuthToken.objects.get(user=referrer)
    assert body["token"] not in (row.digest, row.token_key)
    assert len(row.digest) == 128  # sha512 hex
    expected = timezone.now() + datetime.timedelta(days=30)
    assert abs((row.expiry - expected).total_seconds()) < 60
    assert body["expiry"]
    assert me(body["token"]).status_code == 200


def test_expired_token_is_refused_with_a_german_message(referrer):
    body = issue(referrer)
    AuthToken.objects.filter(user=referrer).update(expiry=timezone.now() - datetime.timedelta(seconds=1))
    response = me(body["token"], language="de")
    assert response.status_code == 401
    assert "abgelaufen" in response.json()["detail"]


def test_token_lifetime_comes_from_the_settings(referrer, settings):
    settings.REST_KNOX = {**settings.REST_KNOX, "TOKEN_TTL": datetime.timedelta(days=2)}
    issue(referrer)
    row = AuthToken.objects.get(user=referrer)
    assert row.expiry < timezone.now() + datetime.timedelta(days=2, minutes=1)


def test_owner_revokes_a_token_on_the_account_page(client, referrer):
    body = issue(referrer)
    client.force_login(referrer)
    page = client.get(reverse("accounts:account")).content.decode()
    assert body["token"] not in page and body["token"][:15] not in page
    row = AuthToken.objects.get(user=referrer)
    response = client.post(reverse("accounts:token-revoke"), {"token": row.digest})
    assert response.status_code == 302
    assert me(body["token"]).status_code == 401


def test_nobody_else_can_revoke_a_token(client, referrer, contact_person):
    issue(referrer)
    row = AuthToken.objects.get(user=referrer)
    client.force_login(contact_person)
    client.post(reverse("accounts:token-revoke"), {"token": row.digest})
    assert AuthToken.objects.filter(user=referrer).exists()


def test_revoke_all(client, referrer):
    first, second = issue(referrer), issue(referrer)
    client.force_login(referrer)
    client.post(reverse("accounts:token-revoke-all"))
    assert me(first["token"]).status_code == 401 and me(second["token"]).status_code == 401


def test_admin_shows_no_token(client, referrer, directory):
    body = issue(referrer)
    admin = User.objects.create_superuser("root", "root@example.ch", PASSWORD)
    client.force_login(admin)
    row = AuthToken.objects.get(user=referrer)
    listing = client.get(reverse("admin:knox_authtoken_changelist")).content.decode()
    detail = client.get(reverse("admin:knox_authtoken_change", args=[row.pk])).content.decode()
    for html in (listing, detail):
        assert body["token"] not in html and row.token_key not in html  # only the hash identifies the row
    assert client.get("/admin/authtoken/tokenproxy/").status_code == 404


def test_token_endpoint_has_a_stricter_throttle(referrer, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {
        **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "auth_token": "3/min"}}
    ScopedRateThrottle.THROTTLE_RATES = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    try:
        client = APIClient(HTTP_ACCEPT_LANGUAGE="de")
        body = {"username": referrer.username, "password": PASSWORD}
        codes = [client.post("/api/v1/auth/token/", body, format="json").status_code for _ in range(4)]
    finally:
        ScopedRateThrottle.THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES
    assert codes == [200, 200, 200, 429]


def test_expired_tokens_are_purged_by_the_command_and_the_daily_task(referrer, settings):
    issue(referrer)
    fresh = issue(referrer)
    oldest = AuthToken.objects.filter(user=referrer).order_by("created").first()
    AuthToken.objects.filter(pk=oldest.pk).update(expiry=timezone.now() - datetime.timedelta(days=1))
    call_command("purge_api_tokens")
    assert AuthToken.objects.filter(user=referrer).count() == 1
    assert me(fresh["token"]).status_code == 200
    assert "accounts.tasks.purge_api_tokens_task" in {
        entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}


def test_a_user_keeps_at_most_ten_tokens_the_oldest_go(referrer):
    first = services.api_token_issue(actor=referrer)[1]  # the service: the endpoint allows 10 requests a minute
    for _ in range(10):
        last = services.api_token_issue(actor=referrer)[1]
    assert AuthToken.objects.filter(user=referrer).count() == 10
    assert me(first).status_code == 401
    assert me(last).status_code == 200
