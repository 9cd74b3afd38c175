"""The directory: institutions, the municipalities they serve, users and their roles."""

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from optima.languages import PRODUCT_LANGUAGES


class InstitutionKind(models.TextChoices):
    RAV = "rav", _("RAV (regional employment office)")
    IV = "iv", _("IV-Stelle (disability insurance)")
    SOCIAL = "social", _("Social services")


# How the KPI sheet names the kinds (pilot sheet "OPTIMA-Kennzahlen").
KPI_KIND_LABELS = {
    InstitutionKind.IV: _("IV"),
    InstitutionKind.RAV: _("RAV/ALV"),
    InstitutionKind.SOCIAL: _("Sozialhilfe"),
}


class ProblemArea(models.TextChoices):
    """Topics a social service works on; also the problem areas of an OPTIMA-SH referral."""

    ADDICTION = "addiction", _("Addiction")
    FAMILY_CONFLICT = "family_conflict", _("Family conflict")
    CHILDCARE = "childcare", _("Missing childcare")
    DISTRESSING_EVENTS = "distressing_events", _("Distressing events")
    DEBTS = "debts", _("Debts or financial problems")


class Role(models.TextChoices):
    CASE_WORKER = "case_worker", _("Case worker")
    CONTACT_PERSON = "contact_person", _("OPTIMA contact person")
    SIGNATORY = "signatory", _("Signatory")
    COORDINATOR = "coordinator", _("IIZ coordinator")
    ADMIN = "admin", _("Administrator")
    DATA_PROTECTION = "data_protection", _("Data protection")


class User(AbstractUser):
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    language = models.CharField(
        _("language"), max_length=10, blank=True, choices=PRODUCT_LANGUAGES,
        help_text=_("The language of the pages and of the e-mails to this person. Empty: German."),
    )
    # Every change of a person is recorded (who, when, what); not the password hash or log-in times.
    history = HistoricalRecords(excluded_fields=["password", "last_login"])

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self):
        return self.get_full_name() or self.username


class Municipality(models.Model):
    bfs_number = models.PositiveIntegerField(_("BFS number"), unique=True)
    name = models.CharField(_("name"), max_length=100)

    class Meta:
        ordering = ["name"]
        verbose_name = _("municipality")
        verbose_name_plural = _("municipalities")

    def __str__(self):
        return f"{self.name} ({self.bfs_number})"


class Institution(models.Model):
    key = models.SlugField(_("key"), max_length=60, unique=True, help_text=_("Stable identifier used by imports."))
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=10, choices=InstitutionKind.choices)
    address = models.TextField(_("address"), blank=True)
    email = models.EmailField(_("shared e-mail"), blank=True)
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    active = models.BooleanField(_("active"), default=True)
    integral_case_management = models.BooleanField(
        _("offers integral case management"),
        default=False,
        help_text=_("Social services only: OPTIMA-SH referrals are possible only where this is offered."),
    )
    topics = models.JSONField(
        _("topics"), default=list, blank=True, help_text=_("Social services: the problem areas it works on.")
    )
    municipalities = models.ManyToManyField(
        Municipality, related_name="institutions", blank=True, verbose_name=_("municipalities served")
    )
    history = HistoricalRecords(m2m_fields=[municipalities])

    class Meta:
        ordering = ["name"]
        verbose_name = _("institution")
        verbose_name_plural = _("institutions")

    def __str__(self):
        return self.name

    @property
    def kpi_label(self):
        return KPI_KIND_LABELS[InstitutionKind(self.kind)]

    def topic_labels(self):
        return [ProblemArea(code).label for code in self.topics if code in ProblemArea.values]


class Membership(models.Model):
    """A user's place in an institution and the roles they hold there (roles combine)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("user"))
    institution = models.ForeignKey(
        Institution, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("institution")
    )
    is_case_worker = models.BooleanField(_("case worker"), default=True)
    is_contact_person = models.BooleanField(_("OPTIMA contact person"), default=False)
    is_signatory = models.BooleanField(_("signatory"), default=False)
    is_coordinator = models.BooleanField(_("IIZ coordinator"), default=False)
    is_admin = models.BooleanField(_("administrator"), default=False)
    is_data_protection = models.BooleanField(
        _("data protection"), default=False,
        help_text=_("Reads the audit trail (who saw which case when); sees no client data otherwise."))
    history = HistoricalRecords()

    ROLE_FIELDS = {
        Role.CASE_WORKER: "is_case_worker",
        Role.CONTACT_PERSON: "is_contact_person",
        Role.SIGNATORY: "is_signatory",
        Role.COORDINATOR: "is_coordinator",
        Role.ADMIN: "is_admin",
        Role.DATA_PROTECTION: "is_data_protection",
    }

    class Meta:
        ordering = ["institution__name", "user__last_name"]
        constraints = [models.UniqueConstraint(fields=["user", "institution"], name="unique_membership")]
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")

    def __str__(self):
        return f"{self.user} – {self.institution}"

    @property
    def roles(self):
        return [role for role, field in self.ROLE_FIELDS.items() if getattr(self, field)]

    def role_labels(self):
        return [Role(role).label for role in self.roles]
