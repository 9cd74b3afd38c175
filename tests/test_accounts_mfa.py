"""Second factor (TOTP with recovery codes): enrolment at the next log-in, the gate, verification, API `otp`."""

import pytest
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from knox.models import AuthToken
from rest_framework.test import APIClient

from accounts import services
from institutions.models import User
from tests.conftest import PASSWORD


def code_for(device, offset=0):
    """The code the user's app shows now (offset in time steps)."""
    return f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift + offset):06d}"


def enrol(user):
    """A confirmed second factor for ``user`` through the services; returns (device, recovery codes)."""
    device = services.mfa_enrolment_start(actor=user)
    codes = services.mfa_enrolment_confirm(actor=user, code=code_for(device))
    device.refresh_from_db()
    return device, codes


def verified_login(client, user):
    """Logged in with the second factor already given (as after the verification page)."""
    client.force_login(user)
    session = client.session
    session.pop(services.SESSION_MFA_STATE, None)
    session.save()


def login(client, user, language="de"):
    return client.post(reverse("login"), {"username": user.username, "password": PASSWORD},
                       HTTP_ACCEPT_LANGUAGE=language)


@pytest.fixture
def enforced(settings):
    settings.MFA_REQUIRED = True
    return settings


def test_signatory_must_set_up_a_second_factor_before_any_other_page(client, signatory, enforced):
    response = login(client, signatory)
    assert response.status_code == 302
    home = client.get(reverse("home"))
    assert home.status_code == 302 and home["Location"] == reverse("accounts:mfa-enrol")
    for url in (reverse("referrals:list"), reverse("accounts:account"), reverse("directory")):
        assert client.get(url)["Location"] == reverse("accounts:mfa-enrol")
    assert client.get("/api/v1/me/").status_code == 403
    page = client.get(reverse("accounts:mfa-enrol"), HTTP_ACCEPT_LANGUAGE="de")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'src="data:image/svg+xml;base64,' in html
    assert "zweiten Faktor" in html


def test_enrolment_with_a_wrong_code_keeps_the_gate_closed(client, signatory, enforced):
    login(client, signatory)
    client.get(reverse("accounts:mfa-enrol"))
    device = TOTPDevice.objects.get(user=signatory)
    wrong = f"{(int(code_for(device)) + 1) % 1_000_000:06d}"
    response = client.post(reverse("accounts:mfa-enrol"), {"code": wrong}, HTTP_ACCEPT_LANGUAGE="de")
    assert response.status_code == 400
    assert "falsch" in response.content.decode()
    device.refresh_from_db()
    assert device.confirmed is False
    assert client.get(reverse("home"))["Location"] == reverse("accounts:mfa-enrol")


def test_enrolment_with_the_right_code_shows_recovery_codes_once_and_opens_the_pages(client, signatory, enforced):
    login(client, signatory)
    client.get(reverse("accounts:mfa-enrol"))
    device = TOTPDevice.objects.get(user=signatory)
    response = client.post(reverse("accounts:mfa-enrol"), {"code": code_for(device)})
    assert response["Location"] == reverse("accounts:recovery-codes")
    codes_page = client.get(reverse("accounts:recovery-codes")).content.decode()
    tokens = StaticToken.objects.filter(device__user=signatory)
    assert tokens.count() == 10
    assert all(token.token in codes_page for token in tokens)
    assert client.get(reverse("accounts:recovery-codes"))["Location"] == reverse("accounts:account")  # once
    assert client.get(reverse("home")).status_code == 200


def test_without_enforcement_the_demo_logs_in_with_the_password(client, signatory, settings):
    settings.MFA_REQUIRED = False
    login(client, signatory)
    assert client.get(reverse("home")).status_code == 200


@pytest.mark.parametrize("role_user", ["coordinator", "signatory", "administrator"])
def test_roles_that_need_a_second_factor(role_user, request, enforced):
    user = request.getfixturevalue(role_user)
    assert services.mfa_required_for(user) is True


def test_case_workers_may_choose_a_second_factor(client, referrer, enforced):
    assert services.mfa_required_for(referrer) is False
    login(client, referrer)
    assert client.get(reverse("home")).status_code == 200


def test_data_protection_role_needs_a_second_factor(signatory, enforced):
    enforced.MFA_REQUIRED_ROLES = ["data_protection"]
    assert services.mfa_required_for(signatory) is False
    enforced.MFA_REQUIRED_ROLES = ["signatory", "data_protection"]
    assert services.mfa_required_for(signatory) is True


def test_superuser_must_enrol_before_the_admin(client, directory, enforced):
    User.objects.create_superuser("root", "root@example.ch", PASSWORD)
    client.post(reverse("admin:login"), {"username": "root", "password": PASSWORD})
    assert client.get(reverse("admin:index"))["Location"] == reverse("accounts:mfa-enrol")


def test_a_user_with_a_second_factor_gives_the_code_at_every_log_in(client, referrer, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # no waiting after the wrong code in this test
    device, _codes = enrol(referrer)
    login(client, referrer)
    assert client.get(reverse("home"))["Location"] == reverse("accounts:mfa-verify")
    wrong = client.post(reverse("accounts:mfa-verify"), {"code": "000000" if code_for(device) != "000000"
                                                         else "111111"}, HTTP_ACCEPT_LANGUAGE="de")
    assert wrong.status_code == 400
    assert "falsch" in wrong.content.decode()
    assert client.get(reverse("home")).status_code == 302
    # The right code opens the pages (drift: the code of the next time step is accepted too).
    response = client.post(reverse("accounts:mfa-verify"), {"code": code_for(device, offset=1)})
    assert response.status_code == 302
    assert client.get(reverse("home")).status_code == 200


def test_a_used_code_is_refused_the_second_time(referrer):
    device, _codes = enrol(referrer)  # enrolment used the current code
    with pytest.raises(services.ValidationError) as error:
        services.mfa_verify(actor=referrer, code=code_for(device))
    assert "code" in error.value.message_dict


def test_a_recovery_code_works_once(client, referrer):
    _device, codes = enrol(referrer)
    login(client, referrer)
    response = client.post(reverse("accounts:mfa-verify"), {"code": codes[0]})
    assert response.status_code == 302
    assert client.get(reverse("home")).status_code == 200
    client.post(reverse("logout"))
    login(client, referrer)
    again = client.post(reverse("accounts:mfa-verify"), {"code": codes[0]})
    assert again.status_code == 400
    assert StaticToken.objects.filter(device__user=referrer).count() == 9


def test_too_many_wrong_codes_are_slowed_down(referrer):
    device, _codes = enrol(referrer)
    for _ in range(3):
        with pytest.raises(services.ValidationError):
            services.mfa_verify(actor=referrer, code="999999" if code_for(device) != "999999" else "888888")
    with pytest.raises(services.ValidationError) as error:
        services.mfa_verify(actor=referrer, code=code_for(device, offset=1))
    assert "Too many" in str(error.value) or "Zu viele" in str(error.value)


def test_token_needs_a_valid_otp_with_a_second_factor(referrer, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # no waiting after the wrong code in this test
    device, _codes = enrol(referrer)
    client = APIClient(HTTP_ACCEPT_LANGUAGE="de")
    body = {"username": referrer.username, "password": PASSWORD}
    missing = client.post("/api/v1/auth/token/", body, format="json")
    assert missing.status_code == 400 and "otp" in missing.json()
    reused = client.post("/api/v1/auth/token/", {**body, "otp": code_for(device)}, format="json")
    assert reused.status_code == 400 and "otp" in reused.json()
    assert not AuthToken.objects.filter(user=referrer).exists()
    ok = client.post("/api/v1/auth/token/", {**body, "otp": code_for(device, offset=1)}, format="json")
    assert ok.status_code == 200, ok.content
    assert AuthToken.objects.filter(user=referrer).count() == 1


def test_token_refused_until_a_required_second_factor_is_set_up(signatory, enforced):
    response = APIClient(HTTP_ACCEPT_LANGUAGE="de").post(
        "/api/v1/auth/token/", {"username": signatory.username, "password": PASSWORD}, format="json")
    assert response.status_code == 403
    assert "zweiten Faktor" in response.json()["detail"]


def test_optional_second_factor_can_be_removed_with_a_code(client, referrer):
    device, _codes = enrol(referrer)
    verified_login(client, referrer)
    response = client.post(reverse("accounts:mfa-remove"), {"code": code_for(device, offset=1)})
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=referrer).exists()
    assert not StaticToken.objects.filter(device__user=referrer).exists()


def test_required_second_factor_cannot_be_removed(client, signatory, enforced):
    device, _codes = enrol(signatory)
    verified_login(client, signatory)
    response = client.post(reverse("accounts:mfa-remove"), {"code": code_for(device, offset=1)})
    assert response.status_code == 400
    assert TOTPDevice.objects.filter(user=signatory, confirmed=True).exists()


def test_admin_shows_no_second_factor_secret(client, referrer, directory):
    device, _codes = enrol(referrer)
    admin = User.objects.create_superuser("root", "root@example.ch", PASSWORD)
    client.force_login(admin)
    listing = client.get(reverse("admin:otp_totp_totpdevice_changelist")).content.decode()
    detail = client.get(reverse("admin:otp_totp_totpdevice_change", args=[device.pk])).content.decode()
    assert device.key not in listing and device.key not in detail
    assert "otpauth" not in detail


def test_after_the_code_the_user_lands_where_they_wanted_to_go_but_never_elsewhere(client, referrer, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    device, _codes = enrol(referrer)
    login(client, referrer)
    response = client.get(reverse("referrals:list"))
    assert response["Location"] == f"{reverse('accounts:mfa-verify')}?next=%2Ffaelle%2F"
    done = client.post(response["Location"], {"code": code_for(device, offset=1)})
    assert done["Location"] == reverse("referrals:list")
    client.post(reverse("logout"))
    login(client, referrer)
    evil = client.post(f"{reverse('accounts:mfa-verify')}?next=https://evil.example.com/",
                       {"code": code_for(device, offset=2)})
    assert evil["Location"] == reverse("home")


def test_the_user_is_told_by_email_when_the_second_factor_changes(referrer, django_capture_on_commit_callbacks,
                                                                  mailoutbox):
    with django_capture_on_commit_callbacks(execute=True):
        device, _codes = enrol(referrer)
    with django_capture_on_commit_callbacks(execute=True):
        services.mfa_remove(actor=referrer, code=code_for(device, offset=1))
    assert len(mailoutbox) == 2
    assert all(message.to == [referrer.email] for message in mailoutbox)
