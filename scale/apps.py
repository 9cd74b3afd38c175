from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ScaleConfig(AppConfig):
    """Tooling to measure the product at national scale: synthetic data and benchmarks (issue 14).

    The top floor: it reads and writes the apps below (referrals, reporting) and nothing imports it.
    Never used on the production path; its commands refuse to run with DJANGO_DEBUG off unless forced.
    """

    default_auto_field = "django.db.models.BigAutoField"
    name = "scale"
    verbose_name = _("Scale and benchmarks")
