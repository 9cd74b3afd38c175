"""The audit trail: who read, changed or was refused what, and when (nDSG, DSV Art. 4).

Generic (floor 1): a record's target is a model label plus an id, so any app can write here without
audit/ knowing it. The one domain hook is the nullable ``referral`` foreign key: it exists only so that a
referral cannot be deleted while records about it exist (PROTECT). It is declared by label, so no code of
referrals/ is imported here.

Append-only: on PostgreSQL a trigger refuses UPDATE and DELETE (django-pgtrigger). The only way past it is
``audit.services.audit_purge`` (retention), which opens a pgtrigger ignore context for exactly that delete.
"""

import pgtrigger
from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Outcome(models.TextChoices):
    OK = "ok", _("allowed")
    DENIED = "denied", _("denied")


class Action(models.TextChoices):
    """What was done. Other apps may record further actions; these are the ones the product writes today."""

    VIEW = "view", _("opened the case page")
    EDIT = "edit", _("opened the application for editing")
    LIST = "list", _("saw it in a list")
    SEARCH = "search", _("found it in a search")
    HOME = "home", _("saw it on the start page")
    DOWNLOAD = "download", _("downloaded a document")
    AHV_REVEAL = "ahv_reveal", _("displayed the full AHV number")
    API_LIST = "api_list", _("API: saw it in a list")
    API_VIEW = "api_view", _("API: read the referral")
    API_COMMENTS = "api_comments", _("API: read the comments")
    API_DOCUMENTS = "api_documents", _("API: read the document list")
    API_COST_APPROVALS = "api_cost_approvals", _("API: read the cost approvals")
    EXPORT = "export", _("exported")
    KPI_VIEW = "kpi_view", _("opened the key figures")
    KPI_TEXTS = "kpi_texts", _("read its explanation on the key figures page")
    AUDIT_READ = "audit_read", _("read the audit trail")
    ACCESS = "access", _("tried to open")
    STEP = "step", _("tried a step it may not take")


PROTECTED_TARGET = "referrals.Referral"  # the model whose rows cannot be deleted while records point to them


class AuditRecord(models.Model):
    at = models.DateTimeField(_("when"), default=timezone.now, db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                              related_name="+", verbose_name=_("user"))
    action = models.CharField(_("action"), max_length=40)
    outcome = models.CharField(_("outcome"), max_length=10, choices=Outcome.choices, default=Outcome.OK)
    target_type = models.CharField(_("target type"), max_length=100, blank=True)  # model label, lower case
    target_id = models.CharField(_("target id"), max_length=64, blank=True)
    referral = models.ForeignKey(PROTECTED_TARGET, on_delete=models.PROTECT, null=True, blank=True,
                                 related_name="+", db_constraint=True, verbose_name=_("referral"))

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["target_type", "target_id", "at"], name="audit_target_at"),
            # "Has this user opened this referral since it changed?" (the start page's unread rejections and
            # withdrawals): one probe per referral. Without it PostgreSQL read every record of the user, and a
            # user gets up to 50 with every list they open (issue 14, seventh pass). Only opened case pages.
            models.Index(fields=["referral", "actor", "at"], name="audit_opened_case",
                         condition=models.Q(action=Action.VIEW, outcome=Outcome.OK)),
        ]
        verbose_name = _("audit record")
        verbose_name_plural = _("audit records")
        triggers = [
            pgtrigger.Protect(name="protect_updates", operation=pgtrigger.Update),
            pgtrigger.Protect(name="protect_deletes", operation=pgtrigger.Delete),
        ]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_id} {self.action} {self.target_type}#{self.target_id}"
