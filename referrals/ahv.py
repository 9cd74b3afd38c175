"""The AHV number (Swiss social security number): validation, encryption at rest, masking."""

import base64
import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from stdnum.ch import ssn
from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidFormat, InvalidLength

AHV_EXAMPLE = "756.1234.5678.97"


def normalize_ahv(value):
    """Validate an AHV number and return it formatted 756.XXXX.XXXX.XX, or raise a helpful ValidationError."""
    digits = "".join(ch for ch in str(value) if ch.isdigit())
    if any(not (ch.isdigit() or ch in ". ") for ch in str(value).strip()):
        # Checked first: "756-9217-0769-85" would otherwise read "13 digits (you entered 13)".
        raise ValidationError(
            _("The AHV number may contain only digits and dots, e.g. %(example)s."),
            code="ahv_format", params={"example": AHV_EXAMPLE},
        )
    if not digits.startswith("756"):
        raise ValidationError(
            _("The AHV number must start with 756 and have 13 digits, e.g. %(example)s."),
            code="ahv_prefix", params={"example": AHV_EXAMPLE},
        )
    try:
        return ssn.format(ssn.validate(value))
    except InvalidLength as exc:
        raise ValidationError(
            _("The AHV number has 13 digits (you entered %(count)s), e.g. %(example)s."),
            code="ahv_length", params={"count": len(digits), "example": AHV_EXAMPLE},
        ) from exc
    except InvalidChecksum as exc:
        raise ValidationError(
            _("The check digit (last digit) of this AHV number is wrong. Please check the number."),
            code="ahv_checksum",
        ) from exc
    except (InvalidFormat, InvalidComponent) as exc:
        raise ValidationError(
            _("The AHV number may contain only digits and dots, e.g. %(example)s."),
            code="ahv_format", params={"example": AHV_EXAMPLE},
        ) from exc


def _fernet():
    return Fernet(settings.AHV_ENCRYPTION_KEY.encode())


def encrypt_ahv(formatted):
    return _fernet().encrypt(formatted.encode()).decode()


def decrypt_ahv(ciphertext):
    try:
        return _fernet().decrypt(ciphertext.encode()).decode()
    except InvalidToken:
        return ""


CANARY_TEXT = "OPTIMA AHV key canary"


def decrypts(ciphertext):
    """True when the configured key decrypts this token (False for a wrong key or a damaged token)."""
    try:
        _fernet().decrypt(ciphertext.encode())
    except (InvalidToken, ValueError):
        return False
    return True


def ahv_digest(formatted):
    """Keyed hash to find a client again without decrypting every row."""
    key = base64.urlsafe_b64decode(settings.AHV_ENCRYPTION_KEY.encode())
    digits = "".join(ch for ch in formatted if ch.isdigit())
    return hmac.new(key, digits.encode(), hashlib.sha256).hexdigest()


def mask_ahv(formatted):
    """756.****.****.97: enough to recognise a number, not enough to use it."""
    if not formatted:
        return ""
    return f"{formatted[:3]}.****.****.{formatted[-2:]}"


__all__ = ["normalize_ahv", "encrypt_ahv", "decrypt_ahv", "decrypts", "ahv_digest", "mask_ahv", "CANARY_TEXT"]
