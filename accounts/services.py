"""Writes of the accounts app: second factor enrolment and verification, API tokens, session state.

Keyword-only, the acting user first, as everywhere. Devices and tokens belong to their user: a user acts
on their own only (administrators reset someone else's second factor in the admin, by deleting the device).
"""


from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from knox.models import AuthToken
from knox.settings import knox_settings

from institutions.selectors import user_roles

from . import notifications

# Session keys. MFA_STATE: "verify" (has a second factor, code not yet given), "enrol" (must set one up),
# absent when nothing is pending.
SESSION_MFA_STATE = "accounts_mfa_state"
SESSION_STARTED = "accounts_started"
SESSION_LAST_SEEN = "accounts_last_seen"
MFA_VERIFY = "verify"
MFA_ENROL = "enrol"

DEVICE_NAME = "Authenticator"


# --- Second factor ---------------------------------------------------------------------------------------

def mfa_required_for(user):
    """Whether this user must have a second factor (their roles, and whether the deployment enforces it)."""
    if not settings.MFA_REQUIRED:
        return False
    if user.is_superuser or user.is_staff:
        return True
    return bool(set(user_roles(user)) & set(settings.MFA_REQUIRED_ROLES))


def mfa_confirmed_device(user):
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def mfa_state_for(user):
    if mfa_confirmed_device(user) is not None:
        return MFA_VERIFY
    if mfa_required_for(user):
        return MFA_ENROL
    return None


def session_start_receiver(sender, request, user, **kwargs):
    """user_logged_in: remember when the session started and whether a second factor is pending."""
    if request is None or not hasattr(request, "session"):
        return
    now = int(timezone.now().timestamp())
    request.session[SESSION_STARTED] = now
    request.session[SESSION_LAST_SEEN] = now
    state = mfa_state_for(user)
    if state:
        request.session[SESSION_MFA_STATE] = state
    else:
        request.session.pop(SESSION_MFA_STATE, None)


def mfa_enrolment_start(*, actor):
    """An unconfirmed TOTP device for the QR code (the same one again until it is confirmed)."""
    if mfa_confirmed_device(actor) is not None:
        raise ValidationError(_("You already have a second factor. Remove it first to set up a new one."))
    device = TOTPDevice.objects.filter(user=actor, confirmed=False).order_by("-id").first()
    if device is None:
        device = TOTPDevice.objects.create(user=actor, name=DEVICE_NAME, confirmed=False)
    return device


def _check_code_format(code):
    code = (code or "").strip().replace(" ", "")
    if not code:
        raise ValidationError({"code": _("Enter the code from your authenticator app.")})
    if len(code) > 16:
        raise ValidationError({"code": _("This code is too long. Enter the six digits from your app.")})
    return code


def _verify_device(device, code):
    """None when the code is right, else the message. The device records the attempt (throttling, last code)."""
    allowed, _data = device.verify_is_allowed()
    if not allowed:
        return _("Too many wrong codes. Wait a minute and try again.")
    if not device.verify_token(code):
        return _("This code is wrong or has already been used. Enter the current code from your app.")
    return None


def mfa_enrolment_confirm(*, actor, code):
    """Confirm the device with a first code; returns the new recovery codes (shown once).

    A wrong code is recorded on the device (throttling) before the error is raised, outside the transaction.
    """
    code = _check_code_format(code)
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().filter(user=actor, confirmed=False).order_by("-id").first()
        if device is None:
            raise ValidationError({"code": _("Start the set-up again: no authenticator is waiting for "
                                             "confirmation.")})
        error = _verify_device(device, code)
        if error is None:
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            TOTPDevice.objects.filter(user=actor, confirmed=False).delete()
            notifications.security_change(user=actor, change=notifications.MFA_ENABLED)
            return _recovery_codes_make(actor)
    raise ValidationError({"code": error})


def mfa_recovery_codes_renew(*, actor):
    """New recovery codes, the old ones no longer work. Returns the codes (they are shown once)."""
    if mfa_confirmed_device(actor) is None:
        raise PermissionDenied(_("Set up a second factor first."))
    with transaction.atomic():
        codes = _recovery_codes_make(actor)
        notifications.security_change(user=actor, change=notifications.RECOVERY_CODES_RENEWED)
    return codes


def _recovery_codes_make(actor):
    with transaction.atomic():
        StaticDevice.objects.filter(user=actor).delete()
        device = StaticDevice.objects.create(user=actor, name="Recovery codes", confirmed=True)
        codes = [StaticToken.random_token() for _ in range(settings.MFA_RECOVERY_CODE_COUNT)]
        StaticToken.objects.bulk_create([StaticToken(device=device, token=code) for code in codes])
    return codes


def mfa_verify(*, actor, code):
    """Check a TOTP code or a recovery code of the actor's; raises ValidationError({"code": ...}) otherwise.

    Returns "totp" or "recovery". A TOTP code is accepted once only (django-otp remembers the last time step);
    a recovery code is used up. Failed attempts stay recorded (they slow down guessing).
    """
    code = _check_code_format(code)
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().filter(user=actor, confirmed=True).first()
        if device is None:
            raise ValidationError({"code": _("You have no second factor set up.")})
        if code.isdigit():
            kind, error = "totp", _verify_device(device, code)
        else:
            recovery = StaticDevice.objects.select_for_update().filter(user=actor, confirmed=True).first()
            if recovery is None:
                kind, error = "recovery", _("This code is wrong or has already been used. Enter the current "
                                            "code from your app.")
            else:
                kind, error = "recovery", _verify_device(recovery, code.lower())
    if error is not None:
        raise ValidationError({"code": error})
    return kind


def mfa_session_verified(*, request):
    request.session.pop(SESSION_MFA_STATE, None)
    request.session.cycle_key()


def mfa_remove(*, actor, code):
    """The user removes their own second factor after proving it once more (not possible while it is required)."""
    if mfa_required_for(actor):
        raise PermissionDenied(_("Your role requires a second factor; it cannot be removed."))
    mfa_verify(actor=actor, code=code)
    with transaction.atomic():
        TOTPDevice.objects.filter(user=actor).delete()
        StaticDevice.objects.filter(user=actor).delete()
        notifications.security_change(user=actor, change=notifications.MFA_REMOVED)


def password_changed(*, actor):
    """After Django's password forms saved a new password (change page or reset link): tell the user."""
    notifications.security_change(user=actor, change=notifications.PASSWORD_CHANGED)


# --- API tokens ------------------------------------------------------------------------------------------

def api_token_issue(*, actor):
    """A new API token for the actor. Returns (token row, clear text key): the key is never stored or shown again."""
    if not actor.is_active:
        raise PermissionDenied(_("This account is inactive."))
    limit = knox_settings.TOKEN_LIMIT_PER_USER
    if limit:
        # A program that asks for a new token each run does not pile them up: the oldest beyond the limit go.
        keep = AuthToken.objects.filter(user=actor).order_by("-created").values_list("digest", flat=True)[:limit - 1]
        AuthToken.objects.filter(user=actor).exclude(digest__in=list(keep)).delete()
    return AuthToken.objects.create(user=actor)


@transaction.atomic
def api_token_revoke(*, actor, digest):
    """The owner revokes one of their tokens (by its row; the key itself is unknown to the server)."""
    deleted, _rows = AuthToken.objects.filter(user=actor, digest=digest).delete()
    if not deleted:
        raise PermissionDenied(_("This token does not exist or is not yours."))


def api_token_revoke_all(*, actor):
    return AuthToken.objects.filter(user=actor).delete()[0]


def api_tokens_purge_expired(*, now=None):
    return AuthToken.objects.filter(expiry__lt=now or timezone.now()).delete()[0]


def session_expired(session, *, now=None):
    """Whether a session is past its idle timeout or its absolute lifetime (SESSION_COOKIE_AGE)."""
    now = int((now or timezone.now()).timestamp())
    started = session.get(SESSION_STARTED)
    last_seen = session.get(SESSION_LAST_SEEN)
    if started is None or last_seen is None:
        return True  # a session from before these rules (or not made by a log-in): log in again
    return now - last_seen > settings.SESSION_IDLE_TIMEOUT or now - started > settings.SESSION_COOKIE_AGE


def session_touch(session, *, now=None):
    """Move the idle clock on; at most once a minute, so that reading pages does not write the session each time."""
    now = int((now or timezone.now()).timestamp())
    last_seen = session.get(SESSION_LAST_SEEN)
    if last_seen is None or now - last_seen >= 60:
        session[SESSION_LAST_SEEN] = now
        session.setdefault(SESSION_STARTED, now)


