"""Stored report snapshots: the KPI sheet of a period, frozen when it was built, with its exports.

A snapshot holds figures only (counts, sums, durations): never a client's name, AHV number or free text.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class SnapshotStatus(models.TextChoices):
    PENDING = "pending", _("Waiting for the background worker")
    RUNNING = "running", _("Being built")
    DONE = "done", _("Ready")
    FAILED = "failed", _("Failed")


class SnapshotTrigger(models.TextChoices):
    MANUAL = "manual", _("Requested")
    SCHEDULED = "scheduled", _("Monthly report")


def snapshot_upload_to(instance, filename):
    # Names carry the period and the snapshot number only.
    return f"reports/{instance.pk or 'new'}/{filename}"


class ReportSnapshot(models.Model):
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name=_("requested by"),
    )
    requested_at = models.DateTimeField(_("requested at"), default=timezone.now)
    trigger = models.CharField(max_length=10, choices=SnapshotTrigger.choices, default=SnapshotTrigger.MANUAL)
    period_from = models.DateField(_("from"), null=True, blank=True)
    period_to = models.DateField(_("to"), null=True, blank=True)
    status = models.CharField(max_length=10, choices=SnapshotStatus.choices, default=SnapshotStatus.PENDING)
    progress = models.PositiveSmallIntegerField(default=0)  # percent, shown while it is built
    attempts = models.PositiveSmallIntegerField(default=0)
    task_id = models.CharField(max_length=50, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(_("why it failed"), blank=True)
    figures = models.JSONField(default=dict, blank=True)
    csv_file = models.FileField(upload_to=snapshot_upload_to, blank=True)
    xlsx_file = models.FileField(upload_to=snapshot_upload_to, blank=True)
    pdf_file = models.FileField(upload_to=snapshot_upload_to, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        verbose_name = _("report snapshot")
        verbose_name_plural = _("report snapshots")

    def __str__(self):
        return f"{self.pk} {self.period_label}"

    @property
    def period_label(self):
        if self.period_from is None and self.period_to is None:
            return str(_("all time"))
        start = self.period_from.strftime("%d.%m.%Y") if self.period_from else "…"
        end = self.period_to.strftime("%d.%m.%Y") if self.period_to else "…"
        return f"{start} – {end}"

    @property
    def is_working(self):
        return self.status in (SnapshotStatus.PENDING, SnapshotStatus.RUNNING)

    @property
    def is_done(self):
        return self.status in (SnapshotStatus.DONE,)

    @property
    def file_stem(self):
        start = self.period_from.isoformat() if self.period_from else "beginn"
        end = self.period_to.isoformat() if self.period_to else "heute"
        return f"optima-kennzahlen_{start}_{end}"

    def file_for(self, fmt):
        return {"csv": self.csv_file, "xlsx": self.xlsx_file, "pdf": self.pdf_file}.get(fmt)
