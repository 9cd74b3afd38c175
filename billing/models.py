"""Case fees (Fallpauschalen, concept 5.1): the model per pair of institution kinds, the monthly rate per leading
institution kind - both with validity periods - and the monthly statements built from them.

Configuration is written only through ``billing.services``; an issued statement is never changed (a correction
is a new statement that refers to it), and its lines keep the rate they were built with.
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from institutions.models import Institution, InstitutionKind
from referrals.models import Referral


class FeeModel(models.TextChoices):
    A = "A", _("Model A – the leading institution bills the referrer a monthly flat fee")
    B = "B", _("Model B – each institution carries its own costs")


class FeeModelRule(models.Model):
    """Which model applies when an institution of `referrer_kind` hands a case to one of `leader_kind`."""

    referrer_kind = models.CharField(_("referring institution kind"), max_length=10, choices=InstitutionKind.choices)
    leader_kind = models.CharField(_("leading institution kind"), max_length=10, choices=InstitutionKind.choices)
    model = models.CharField(_("model"), max_length=1, choices=FeeModel.choices)
    valid_from = models.DateField(_("valid from"))
    valid_until = models.DateField(_("valid until"), null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["referrer_kind", "leader_kind", "valid_from"]
        verbose_name = _("fee model")
        verbose_name_plural = _("fee models")

    def __str__(self):
        return f"{self.referrer_kind} -> {self.leader_kind}: {self.model} ({self.valid_from})"


class FeeRate(models.Model):
    """The monthly flat fee a leading institution of `leader_kind` bills per case (model A)."""

    leader_kind = models.CharField(_("leading institution kind"), max_length=10, choices=InstitutionKind.choices)
    monthly_rate_chf = models.DecimalField(_("monthly rate (CHF)"), max_digits=8, decimal_places=2)
    valid_from = models.DateField(_("valid from"))
    valid_until = models.DateField(_("valid until"), null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["leader_kind", "valid_from"]
        verbose_name = _("fee rate")
        verbose_name_plural = _("fee rates")

    def __str__(self):
        return f"{self.leader_kind}: {self.monthly_rate_chf} ({self.valid_from})"


class FeeStatement(models.Model):
    """A numbered monthly statement from the billing (leading) to the billed (referring) institution."""

    number = models.CharField(_("number"), max_length=20, unique=True)
    billing_institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="+",
                                            verbose_name=_("billing institution"))
    billed_institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="+",
                                           verbose_name=_("billed institution"))
    month = models.DateField(_("month"), help_text=_("The first day of the billed month."))
    issued_at = models.DateTimeField(_("issued at"))
    issued_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                  related_name="+")
    case_count = models.PositiveIntegerField(_("cases"))
    total_chf = models.DecimalField(_("total (CHF)"), max_digits=12, decimal_places=2)
    corrects = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="corrections",
                                 verbose_name=_("corrects statement"))

    class Meta:
        ordering = ["-month", "number"]
        verbose_name = _("fee statement")
        verbose_name_plural = _("fee statements")

    def __str__(self):
        return self.number


class FeeStatementLine(models.Model):
    """One case on a statement: its reference, the months billed, the rate and the amount. No client name."""

    statement = models.ForeignKey(FeeStatement, on_delete=models.PROTECT, related_name="lines")
    referral = models.ForeignKey(Referral, on_delete=models.PROTECT, related_name="+")
    reference = models.CharField(_("reference"), max_length=20)
    months = models.PositiveSmallIntegerField(_("months"))
    rate_chf = models.DecimalField(_("rate (CHF)"), max_digits=8, decimal_places=2)
    amount_chf = models.DecimalField(_("amount (CHF)"), max_digits=10, decimal_places=2)

    class Meta:
        ordering = ["reference", "id"]

    def __str__(self):
        return f"{self.statement_id} {self.reference}"
