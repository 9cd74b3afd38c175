"""E-mails about changes to a user's own log-in security (OWASP ASVS 2.2.3/2.5.5): the user learns of a change
they did not make. Sent after the commit through institutions' e-mail task, like every other e-mail."""

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from institutions.tasks import enqueue_email

PASSWORD_CHANGED = "password_changed"
MFA_ENABLED = "mfa_enabled"
MFA_REMOVED = "mfa_removed"
RECOVERY_CODES_RENEWED = "recovery_codes_renewed"


def _what(change):
    return {
        PASSWORD_CHANGED: _("The password of your OPTIMA account was changed."),
        MFA_ENABLED: _("A second factor (authenticator app) was set up for your OPTIMA account."),
        MFA_REMOVED: _("The second factor of your OPTIMA account was removed."),
        RECOVERY_CODES_RENEWED: _("New recovery codes were made for your OPTIMA account; the old ones no longer "
                                  "work."),
    }[change]


def security_change(*, user, change):
    """Tell the user, after the commit, about a change to their log-in security."""
    if not user.email:
        return
    with translation.override(settings.LANGUAGE_CODE):
        subject = _("OPTIMA: your account was changed")
        body = "\n\n".join([
            _what(change),
            _("If it was you, there is nothing to do. If not, change your password at once (%(link)s) and tell "
              "the OPTIMA administrator of your institution.") % {
                "link": settings.SITE_URL.rstrip("/") + reverse("accounts:password-reset")},
            _("This e-mail contains no client data on purpose. Please do not reply to it."),
        ])
    recipients = [user.email]
    transaction.on_commit(lambda: enqueue_email(subject=subject, body=body, recipients=recipients))
