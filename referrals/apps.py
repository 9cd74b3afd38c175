from django.apps import AppConfig
from django.db.backends.signals import connection_created


class ReferralsConfig(AppConfig):
    default_auto_field = 'django.db.models.BigAutoField'
    name = 'referrals'

    def ready(self):
        from . import checks, dbtypes  # noqa: F401, PLC0415 - registers the AHV key check

        connection_created.connect(dbtypes.install_lenient_timestamp_loader,
                                   dispatch_uid="referrals.lenient_timestamps")
