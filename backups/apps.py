from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BackupsConfig(AppConfig):
    """Backups of the database and the documents together (issue 10): ``manage.py backup`` and ``restore``."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "backups"
    verbose_name = _("Backups")
