from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    """Log-in security (floor 1, beside institutions/): lockout, second factor, API tokens, passwords, sessions.

    Imports only institutions/ (who holds which role) and the libraries; nothing above it.
    """

    name = "accounts"
    verbose_name = _("Accounts and log-in security")

    def ready(self):
        from django.contrib.auth.signals import user_logged_in

        from . import services

        # Where a log-in happens (login page, admin, password reset), the session learns once whether a
        # second factor is still to be given; the middleware then only reads the session.
        user_logged_in.connect(services.session_start_receiver, dispatch_uid="accounts-session-start")
