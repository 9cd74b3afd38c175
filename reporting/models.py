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


# --- KPI rollup (issue 14) -------------------------------------------------------------------------------
# Maintained aggregates of the event log, so the KPIs of any period cost the same at 50 or 12 million events.
# Written by ``reporting.rollup`` in the same transaction as the event (hook: ``referrals.signals.event_recorded``)
# and rebuilt from the events by ``manage.py rebuild_kpi_rollup``. Figures only, never client data.


class KpiCounts(models.Model):
    """The rollup's dimensions and measures, shared by the daily and the monthly table.

    Generic on purpose: every event kind is counted, with its status code, reason code and closure ground, so a
    new KPI over events (a new kind, a new code) reads its counts here without a schema change.
    """

    kind = models.CharField(max_length=20)
    to_status = models.CharField(max_length=20, blank=True)
    reason = models.CharField(max_length=40, blank=True)
    ground = models.CharField(max_length=40, blank=True)  # the closure ground (payload "ground") of a closing
    referrer_kind = models.CharField(max_length=10, blank=True)
    receiver_kind = models.CharField(max_length=10, blank=True)
    requester_kind = models.CharField(max_length=10, blank=True)  # cost approvals: the requesting institution
    target_group = models.CharField(max_length=1, blank=True)
    count = models.PositiveIntegerField(default=0)
    amount_chf = models.DecimalField(max_digits=14, decimal_places=2, default=0)  # cost approvals

    KEYS = ("kind", "to_status", "reason", "ground", "referrer_kind", "receiver_kind", "requester_kind",
            "target_group")

    class Meta:
        abstract = True


class KpiDaily(KpiCounts):
    """How many events of each kind happened on one day (Zurich) between institutions of two kinds."""

    day = models.DateField()

    DIMENSIONS = ("day", *KpiCounts.KEYS)

    class Meta:
        constraints = [models.UniqueConstraint(
            fields=["day", "kind", "to_status", "reason", "ground", "referrer_kind", "receiver_kind",
                    "requester_kind", "target_group"], name="kpi_daily_unique_key")]
        indexes = [models.Index(fields=["day"], name="kpi_daily_day")]

    def __str__(self):
        return f"{self.day} {self.kind} {self.to_status} {self.count}"


class KpiMonthly(KpiCounts):
    """The same counts per calendar month (Zurich): whole months of a period are read here, its edge days
    from ``KpiDaily``, so even "all time" over ten years sums a few thousand rows."""

    month = models.DateField()  # the first day of the month

    DIMENSIONS = ("month", *KpiCounts.KEYS)

    class Meta:
        constraints = [models.UniqueConstraint(
            fields=["month", "kind", "to_status", "reason", "ground", "referrer_kind", "receiver_kind",
                    "requester_kind", "target_group"], name="kpi_monthly_unique_key")]
        indexes = [models.Index(fields=["month"], name="kpi_monthly_month")]

    def __str__(self):
        return f"{self.month:%Y-%m} {self.kind} {self.to_status} {self.count}"


class DurationMeasure(models.TextChoices):
    DECISION = "decision", _("Submission to decision")
    HANDOVER = "handover", _("Acceptance to handover meeting")
    CASE = "case", _("Start of case work to closing")


# KpiDurationMonthly's pseudo-measure counting closed cases by their planned months (no label: never shown).
DURATION_PLANNED = "planned"


class KpiDuration(models.Model):
    """One measured duration per event that ends it (a decision, a handover, a closing).

    Medians and percentiles cannot be summed, so each duration is kept once (a narrow row, read by day)
    instead of being recomputed with a subquery per event.
    """

    event_id = models.BigIntegerField(unique=True)  # the ReferralEvent ending the duration (no FK: kept if pruned)
    day = models.DateField()
    measure = models.CharField(max_length=10, choices=DurationMeasure.choices)
    receiver_kind = models.CharField(max_length=10, blank=True)
    days = models.FloatField(null=True)  # null: the start is not in the log
    planned_months = models.PositiveSmallIntegerField(null=True)
    # ``rollup.duration_bucket(days)``: monotone in ``days``, so the rows of one bucket ordered by ``days`` are a
    # contiguous run of all the rows ordered by ``days``; a median is then read from one bucket (see kpi.py).
    bucket = models.PositiveSmallIntegerField(null=True)  # null: no duration (days is null)
    within_plan = models.BooleanField(default=False)  # closed within the planned months (+ half a month)

    class Meta:
        indexes = [
            models.Index(fields=["measure", "day"], name="kpi_duration_measure_day"),
            # The order statistics (kpi._duration_values): one bucket's rows in the order of their duration, with
            # the day for the period's filter (an index-only scan).
            models.Index(fields=["measure", "bucket", "days", "day"], name="kpi_duration_bucket"),
            models.Index(fields=["measure", "receiver_kind", "bucket", "days", "day"],
                         name="kpi_duration_kind_bucket"),
            # The histogram of a period's edge days (kpi._duration_histogram): a few weeks of rows by day, read from
            # the index alone on PostgreSQL (without it: a scan of every duration, ~0.2 s at 1 M referrals).
            models.Index(fields=["day"], name="kpi_duration_day",
                         include=["measure", "receiver_kind", "bucket", "within_plan", "planned_months"]),
        ]

    def __str__(self):
        return f"{self.day} {self.measure} {self.days}"


class KpiDurationMonthly(models.Model):
    """How many durations fell into each bucket per calendar month (Zurich), a histogram per measure and kind of
    the receiving institution. Whole months of a period are counted here, its edge days from ``KpiDuration``;
    the counts say in which bucket the median and the 90th percentile lie, so only those few rows are read.

    ``bucket`` -1 counts the rows without a duration (the start is not in the log). The pseudo-measure
    ``planned`` (``rollup.PLANNED``) counts the closed cases by their planned months (``bucket`` = the months, a
    whole number: its histogram gives the median exactly). ``within_plan`` sums ``KpiDuration.within_plan``.
    """

    month = models.DateField()  # the first day of the month
    measure = models.CharField(max_length=10)
    receiver_kind = models.CharField(max_length=10, blank=True)
    bucket = models.SmallIntegerField()
    count = models.PositiveIntegerField(default=0)
    within_plan = models.PositiveIntegerField(default=0)

    DIMENSIONS = ("month", "measure", "receiver_kind", "bucket")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["month", "measure", "receiver_kind", "bucket"],
                                               name="kpi_duration_monthly_unique_key")]

    def __str__(self):
        return f"{self.month:%Y-%m} {self.measure} {self.bucket} {self.count}"


class KpiMoney(models.Model):
    """Approved and invoiced CHF per financing institution (issue 11's money table), shared by day and month.

    Approved: cost approvals signed ('approved' events); invoiced: provider invoices recorded ('recorded' events).
    A row exists as soon as one such event happened, so the institution is listed even with 0.00.
    """

    financing_institution = models.ForeignKey("institutions.Institution", on_delete=models.CASCADE, null=True,
                                              related_name="+")
    approved_chf = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    invoiced_chf = models.DecimalField(max_digits=14, decimal_places=2, default=0)

    class Meta:
        abstract = True


class KpiMoneyDaily(KpiMoney):
    day = models.DateField()

    DIMENSIONS = ("day", "financing_institution_id")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "financing_institution"],
                                               name="kpi_money_daily_unique_key")]

    def __str__(self):
        return f"{self.day} {self.financing_institution_id} {self.approved_chf} {self.invoiced_chf}"


class KpiMoneyMonthly(KpiMoney):
    month = models.DateField()  # the first day of the month

    DIMENSIONS = ("month", "financing_institution_id")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["month", "financing_institution"],
                                               name="kpi_money_monthly_unique_key")]

    def __str__(self):
        return f"{self.month:%Y-%m} {self.financing_institution_id} {self.approved_chf} {self.invoiced_chf}"
