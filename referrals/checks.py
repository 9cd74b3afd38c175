"""Start-up check: the configured OPTIMA_AHV_KEY must decrypt the AHV numbers already stored.

With a wrong key the pages used to show empty AHV numbers and new clients were stored under the wrong key,
mixing two keys in one database. Now ``manage.py`` commands (runserver, migrate, ...) stop with a system
check error and the WSGI application refuses to load (optima/wsgi.py). A fresh database (no tables, or no
canary and no AHV number yet) passes, so migrations and tests work as before.
"""

from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connections
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .ahv import decrypts
from .models import AhvKeyCanary, Client

MESSAGE = gettext_lazy("OPTIMA_AHV_KEY cannot decrypt the AHV numbers stored in this database (%(what)s). "
            "Start with the key the data was encrypted with (see README, 'Backups'); "
            "a lost key means the AHV numbers cannot be recovered.")


def ahv_key_problem(using="default"):
    """A message when the key does not fit the stored data, else ''."""
    try:
        canary = AhvKeyCanary.objects.using(using).order_by("pk").values_list("ciphertext", flat=True).first()
        sample = (Client.objects.using(using).exclude(ahv_ciphertext="").order_by("-pk")
                  .values_list("ahv_ciphertext", flat=True).first())
    except DatabaseError:
        return ""  # tables not there yet: a fresh database before its first migrate
    if canary is not None and not decrypts(canary):
        return MESSAGE % {"what": _("the key canary")}
    if sample is not None and not decrypts(sample):
        return MESSAGE % {"what": _("the newest client's AHV number")}
    return ""


@checks.register("optima")
def check_ahv_key(app_configs=None, **kwargs):
    problem = ahv_key_problem()
    return [checks.Critical(problem, id="optima.E001")] if problem else []


def refuse_to_start_on_wrong_ahv_key():
    """For the WSGI/ASGI entry points, which run no system checks."""
    problem = ahv_key_problem()
    connections.close_all()  # no connection opened at import time is carried into forked workers
    if problem:
        raise ImproperlyConfigured(problem)
