"""Writes of the reporting app: report snapshots and the monthly report.

A snapshot is requested from the page (or by Celery beat), built by a Celery task, and keeps the figures
of its period with the CSV, XLSX and PDF exports. Building never raises: a failure is recorded on the
snapshot with the reason, and the coordinator can retry it.
"""

import datetime
import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from outbox.services import message_enqueue

from . import exports, kpi, selectors
from .models import ReportSnapshot, SnapshotStatus, SnapshotTrigger

logger = logging.getLogger(__name__)

# (format, file field, function in reporting.exports)
EXPORTS = (("csv", "csv_file", "to_csv"), ("xlsx", "xlsx_file", "to_xlsx"), ("pdf", "pdf_file", "to_pdf"))


def _check_allowed(actor):
    if actor is not None and not selectors.can_see_reports(actor):
        raise PermissionDenied(_("Only the IIZ coordinator and administrators can create reports."))


def snapshot_request(*, actor, period, trigger=SnapshotTrigger.MANUAL):
    """Record the request and hand the work to Celery once the transaction commits."""
    _check_allowed(actor)
    if period.date_from and period.date_to and period.date_from > period.date_to:
        raise ValidationError({"to": [_("The end of the period must not be before its start.")]})
    snapshot = ReportSnapshot.objects.create(requested_by=actor, trigger=trigger, period_from=period.date_from,
                                             period_to=period.date_to)
    transaction.on_commit(lambda: enqueue_build(snapshot.pk))
    return snapshot


def snapshot_retry(*, actor, snapshot):
    _check_allowed(actor)
    with transaction.atomic():
        snapshot = ReportSnapshot.objects.select_for_update().get(pk=snapshot.pk)
        if snapshot.status != SnapshotStatus.FAILED:
            raise ValidationError(_("Only a failed report can be tried again."))
        snapshot.status, snapshot.progress, snapshot.error = SnapshotStatus.PENDING, 0, ""
        snapshot.save(update_fields=["status", "progress", "error"])
        transaction.on_commit(lambda: enqueue_build(snapshot.pk))
    return snapshot


def enqueue_build(snapshot_id):
    """Queue the build. If the broker cannot be reached, build here instead: the report must not get lost."""
    from .tasks import build_snapshot_task

    try:
        result = build_snapshot_task.delay(snapshot_id)
    except Exception:  # kombu OperationalError and anything else raised while publishing
        if build_snapshot_task.app.conf.task_always_eager:
            logger.exception("Building report snapshot %s failed.", snapshot_id)
            return
        logger.exception("Could not queue report snapshot %s; building it in this process.", snapshot_id)
        snapshot_build(snapshot_id)
        return
    ReportSnapshot.objects.filter(pk=snapshot_id, task_id="").update(task_id=result.id or "")


def _progress(snapshot, percent, **fields):
    for name, value in fields.items():
        setattr(snapshot, name, value)
    snapshot.progress = percent
    snapshot.save(update_fields=["progress", *fields])


def snapshot_build(snapshot_id):
    """Compute the figures and write the exports. Returns the snapshot; records why if anything fails."""
    snapshot = ReportSnapshot.objects.filter(pk=snapshot_id).first()
    if snapshot is None or snapshot.status == SnapshotStatus.DONE:
        return snapshot
    step = _("computing the figures")
    # The files speak the language of whoever asked for them (issue 12); the monthly report German.
    requester = snapshot.requested_by if snapshot.requested_by_id else None
    with translation.override(getattr(requester, "language", "") or settings.LANGUAGE_CODE):
        try:
            _progress(snapshot, 5, status=SnapshotStatus.RUNNING, started_at=timezone.now(), error="",
                      attempts=snapshot.attempts + 1, finished_at=None)
            period = kpi.Period(snapshot.period_from, snapshot.period_to)
            figures = kpi.compute(period)
            _progress(snapshot, 25, figures=figures)
            for index, (fmt, field_name, function) in enumerate(EXPORTS, start=1):
                step = _("writing the %(format)s file") % {"format": fmt.upper()}
                content = getattr(exports, function)(figures)
                file = getattr(snapshot, field_name)
                if file:
                    file.delete(save=False)
                file.save(f"{snapshot.file_stem}.{fmt}", ContentFile(content), save=False)
                _progress(snapshot, 25 + 25 * index, **{field_name: file.name})
            _progress(snapshot, 100, status=SnapshotStatus.DONE, finished_at=timezone.now())
        except Exception as exc:
            logger.exception("Report snapshot %s failed while %s.", snapshot_id, step)
            reason = _("Failed while %(step)s: %(error)s") % {"step": step, "error": f"{type(exc).__name__}: {exc}"}
            ReportSnapshot.objects.filter(pk=snapshot_id).update(
                status=SnapshotStatus.FAILED, error=reason[:2000], finished_at=timezone.now())
            snapshot.refresh_from_db()
    return snapshot


def last_month(today):
    first_of_this_month = today.replace(day=1)
    last_day = first_of_this_month - datetime.timedelta(days=1)
    return kpi.Period(last_day.replace(day=1), last_day)


def monthly_snapshot(*, today=None):
    """Beat, on the 1st: build last month's snapshot and e-mail the coordinators a link to it."""
    period = last_month(today or timezone.localdate())
    snapshot = ReportSnapshot.objects.filter(
        trigger=SnapshotTrigger.SCHEDULED, period_from=period.date_from, period_to=period.date_to,
        status=SnapshotStatus.DONE).first()
    if snapshot is not None:
        return snapshot  # already built and announced (beat fired twice, or the task was redelivered)
    snapshot = ReportSnapshot.objects.create(trigger=SnapshotTrigger.SCHEDULED, period_from=period.date_from,
                                             period_to=period.date_to)
    snapshot = snapshot_build(snapshot.pk)  # we are in the worker already
    _announce(snapshot)
    return snapshot


def _announce(snapshot):
    recipients = selectors.coordinator_addresses()
    if not recipients:
        return
    with translation.override(settings.LANGUAGE_CODE):
        link = settings.SITE_URL.rstrip("/") + reverse("reporting:snapshot", args=[snapshot.pk])
        month = snapshot.period_from.strftime("%m.%Y")
        if snapshot.status == SnapshotStatus.DONE:
            subject = _("OPTIMA key figures %(month)s") % {"month": month}
            lines = [_("The OPTIMA key figures of %(month)s are ready (PDF, Excel and CSV).") % {"month": month}]
        else:
            subject = _("OPTIMA key figures %(month)s could not be created") % {"month": month}
            lines = [_("The monthly report of %(month)s could not be created. The page says why and lets you "
                       "try again.") % {"month": month}]
        lines += [_("Open the report: %(link)s") % {"link": link},
                  _("The report contains figures only, no client data. Please do not reply to this e-mail.")]
        message_enqueue(subject=subject, body="\n\n".join(lines), recipients=recipients)
