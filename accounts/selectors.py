from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from knox.models import AuthToken


def api_tokens_of(user):
    """The user's own API tokens: when issued and until when valid (never the key: the server does not know it)."""
    return AuthToken.objects.filter(user=user).order_by("-created").only("digest", "created", "expiry", "user_id")


def second_factor_of(user):
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    remaining = StaticToken.objects.filter(device__user=user, device__confirmed=True).count() if device else 0
    return {"enabled": device is not None, "recovery_codes_left": remaining}
