"""The audit trail for the data-protection officer: a German page filtered by case, user and period, and CSV."""

import csv

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _

from . import selectors, services
from .forms import AuditFilterForm
from .models import Action, Outcome

PAGE_SIZE = 100


def _require_audit_reader(user):
    if not selectors.can_read_audit(user):
        raise PermissionDenied(_("The audit trail is for the data-protection officer only."))


def _filtered(request):
    form = AuditFilterForm(request.GET or None)
    if form.is_bound and form.is_valid():
        return form, selectors.audit_records(**form.filters())
    if form.is_bound:
        return form, selectors.audit_records().none()
    return form, selectors.audit_records()


def _rows(records):
    labels = selectors.target_labels(records)
    actions = dict(Action.choices)
    outcomes = dict(Outcome.choices)
    for record in records:
        yield {
            "at": timezone.localtime(record.at),
            "user": (record.actor.get_full_name() or record.actor.username) if record.actor else "—",
            "username": record.actor.username if record.actor else "",
            "action": actions.get(record.action, record.action),
            "outcome": record.outcome,
            "outcome_label": outcomes.get(record.outcome, record.outcome),
            "target": labels.get((record.target_type, record.target_id))
            or (f"{record.target_type} #{record.target_id}" if record.target_type else "—"),
            "referral_id": record.referral_id,
        }


@login_required
def audit_log(request):
    _require_audit_reader(request.user)
    form, records = _filtered(request)
    page = Paginator(records, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = list(_rows(page.object_list))
    services.audit_record(actor=request.user, action=Action.AUDIT_READ, target=None)  # reading is recorded too
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "audit/log.html", {
        "form": form, "page": page, "rows": rows, "query": query.urlencode(),
    }, status=400 if form.errors else 200)


class _Echo:
    def write(self, value):
        return value


@login_required
def audit_export(request):
    _require_audit_reader(request.user)
    form, records = _filtered(request)
    if form.errors:
        return audit_log(request)
    services.audit_record(actor=request.user, action=Action.EXPORT, target=None)
    writer = csv.writer(_Echo(), delimiter=";")

    def lines():
        yield "\ufeff" + writer.writerow([_("When"), _("User name"), _("Name"), _("Action"), _("Outcome"),
                                          _("Target"), _("Case number")])
        chunk = []
        for record in records.iterator(chunk_size=2000):
            chunk.append(record)
            if len(chunk) == 2000:
                yield from _csv_lines(writer, chunk)
                chunk = []
        yield from _csv_lines(writer, chunk)

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-{timezone.localdate():%Y-%m-%d}.csv"'
    return response


def _cell(value):
    """No spreadsheet formulas from names typed into the directory (CSV injection)."""
    value = str(value)
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _csv_lines(writer, records):
    for row in _rows(records):
        yield writer.writerow([_cell(v) for v in (
            row["at"].strftime("%d.%m.%Y %H:%M:%S"), row["username"], row["user"], row["action"],
            row["outcome_label"], row["target"], row["referral_id"] or "")])
