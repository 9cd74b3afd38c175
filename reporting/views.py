"""The key figures page for the IIZ coordinator, and the report snapshots behind it."""

import datetime
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from audit.models import Action
from audit.services import audit_record
from billing import selectors as billing_selectors

from . import kpi, layout, selectors, services
from .exports import counting_rule, generated_label, period_label
from .forms import PeriodForm
from .models import SnapshotStatus

CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}


def _require_reports(user):
    if not selectors.can_see_reports(user):
        raise PermissionDenied(_("The key figures are for the IIZ coordinator and administrators."))


def _quick_periods(today):
    first_this_month = today.replace(day=1)
    last_month = services.last_month(today)
    return [
        (_("Whole time"), kpi.Period()),
        (_("Last month"), last_month),
        (_("This year"), kpi.Period(today.replace(month=1, day=1), today)),
        (_("Last year"), kpi.Period(datetime.date(today.year - 1, 1, 1), datetime.date(today.year - 1, 12, 31))),
        (_("Last 12 months"), kpi.Period((first_this_month - datetime.timedelta(days=365)).replace(day=1),
                                         today)),
    ]


def _query(period):
    params = {k: v for k, v in period.as_json().items() if v}
    return "?" + urlencode(params) if params else ""


@login_required
def dashboard(request):
    _require_reports(request.user)
    form = PeriodForm(request.GET or None)
    period = form.period if form.is_bound else kpi.Period()
    figures = kpi.compute(period)
    details = kpi.page_details(period)
    sections = _with_chart_ids(_for_the_page(layout.all_sections(figures)))
    sheet = figures["sheet"]
    today = timezone.localdate()
    audit_record(actor=request.user, action=Action.KPI_VIEW, target=None)
    quick = [{"label": label, "url": reverse("reporting:dashboard") + _query(p),
              "current": p == period} for label, p in _quick_periods(today)]
    context = {
        "form": form, "period": period, "figures": figures, "sheet": sheet,
        "period_label": period_label(figures["period"]), "generated_label": generated_label(figures),
        "counting_rule": counting_rule(),
        "grid": _grid(sections),
        "charts": {s.chart_id: s.chart for s in sections if s.chart},
        "tiles": [
            (_("Anzahl Anmeldungen"), sheet["applications"], "applications"),
            (_("Angenommene Aufträge"), sheet["accepted"], "accepted"),
            (_("Abgelehnte Aufträge"), sheet["rejected"]["total"], "rejected.total"),
            (_("Abgeschlossene Fälle"), sheet["closed"]["total"], "closed.total"),
        ],
        "waiting": [dict(w, status_label=_status_label(w["status"]),
                         days=(today - timezone.localtime(w["status_changed_at"]).date()).days)
                    for w in details["waiting"]],
        "quick_periods": quick,
        "period_query": _query(period),
        **_snapshot_context(),
    }
    return render(request, "reporting/dashboard.html", context, status=400 if form.errors else 200)


# Model C rows shown per year; the ones left out are counted on the page.
MODEL_C_ROWS_PER_YEAR = 100


@login_required
def model_c(request):
    """Model C on its own request (issue 14): it is computed from every case active in the years of the period,
    so the key figures page loads it after its figures (htmx) instead of waiting for it."""
    _require_reports(request.user)
    form = PeriodForm(request.GET or None)
    period = form.period if form.is_bound else kpi.Period()
    balance, left_out = billing_selectors.model_c_largest(_model_c_years(period, timezone.localdate()),
                                                          MODEL_C_ROWS_PER_YEAR)
    context = {"model_c": balance, "model_c_left_out": left_out, "period_query": _query(period),
               "period_label": period_label(period.as_json()),
               "user_is_admin": billing_selectors.can_configure_fees(request.user)}
    fragment = request.headers.get("HX-Request") == "true"
    return render(request, "reporting/_model_c.html" if fragment else "reporting/model_c.html", context)


def _for_the_page(sections):
    """The page names the 25 financing institutions with the largest amounts and sums up the others, like the
    PDF (issue 14: a national list is hundreds of rows); the CSV and Excel exports keep every institution."""
    for section in sections:
        if section.key == "money":
            section.rows = layout.money_rows_for_print(section.rows)
    return sections


def _model_c_years(period, today):
    """Model C (issue 11) shows the balance per year and pair of institutions for the years of the chosen period."""
    first = period.date_from.year if period.date_from else None
    last = period.date_to.year if period.date_to else today.year
    return list(range(first, last + 1)) if first else None


# How the page arranges the sections: columns of one or more stacked cards, half or full width.
# The amounts of the cost approvals stand under their counts; the open referrals beside the oldest ones.
PAGE_GRID = {
    "sheet": [["parties"], ["decisions"], ["cost_approvals", "cost_amounts", "money"], ["closures"]],
    "extra": [["flows"], ["waiting_times"], ["target_groups"], ["case_durations"], ["closure_grounds"],
              ["trend"]],
}


def _grid(sections):
    by_key = {s.key: s for s in sections}
    grid = {}
    for part, columns in PAGE_GRID.items():
        grid[part] = [{"sections": [by_key[k] for k in keys if k in by_key],
                       "wide": any(by_key[k].wide for k in keys if k in by_key)} for keys in columns]
    placed = {k for columns in PAGE_GRID.values() for keys in columns for k in keys}
    grid["other"] = {s.key: s for s in sections if s.key not in placed}
    return grid


def _with_chart_ids(sections):
    for section in sections:
        section.chart_id = f"chart-{section.key}" if section.chart else ""
    return sections


def _status_label(code):
    from referrals.models import Status

    return Status(code).label if code in Status.values else code


@login_required
@require_POST
def snapshot_create(request):
    _require_reports(request.user)
    form = PeriodForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Please correct the period first."))
        return redirect(reverse("reporting:dashboard") + "#reports")
    try:
        snapshot = services.snapshot_request(actor=request.user, period=form.period)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect(reverse("reporting:dashboard") + "#reports")
    snapshot.refresh_from_db()
    if snapshot.is_done:
        messages.success(request, _("The report for %(period)s is ready to download.")
                         % {"period": snapshot.period_label})
    else:
        messages.info(request, _("The report for %(period)s is being created. This page shows when it is ready.")
                      % {"period": snapshot.period_label})
    return redirect(reverse("reporting:dashboard") + _query(form.period) + "#reports")


@login_required
@require_POST
def snapshot_retry(request, pk):
    snapshot = selectors.snapshot_for_user(request.user, pk)
    if snapshot is None:
        _require_reports(request.user)
        raise Http404
    try:
        services.snapshot_retry(actor=request.user, snapshot=snapshot)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.info(request, _("The report is being created again."))
    if request.POST.get("next") == "detail":
        return redirect("reporting:snapshot", pk=snapshot.pk)
    return redirect(reverse("reporting:dashboard") + "#reports")


@login_required
def snapshot_list(request):
    """htmx: the list of reports, polled while one is being built."""
    _require_reports(request.user)
    return render(request, "reporting/_snapshots.html", _snapshot_context())


def _snapshot_context():
    snapshots = list(selectors.recent_snapshots())
    return {"snapshots": snapshots, "any_working": any(s.is_working for s in snapshots)}


@login_required
def snapshot_detail(request, pk):
    snapshot = selectors.snapshot_for_user(request.user, pk)
    if snapshot is None:
        _require_reports(request.user)
        raise Http404
    sections = _with_chart_ids(_for_the_page(layout.all_sections(snapshot.figures))) if snapshot.figures else []
    return render(request, "reporting/snapshot.html", {
        "snapshot": snapshot, "charts": {s.chart_id: s.chart for s in sections if s.chart},
        "grid": _grid(sections) if sections else None,
        "period_label": period_label(snapshot.figures.get("period")) if snapshot.figures else snapshot.period_label,
        "generated_label": generated_label(snapshot.figures) if snapshot.figures else "",
        "counting_rule": counting_rule(),
    })


@login_required
def snapshot_download(request, pk, fmt):
    snapshot = selectors.snapshot_for_user(request.user, pk)
    if snapshot is None:
        _require_reports(request.user)
        raise Http404
    file = snapshot.file_for(fmt)
    if snapshot.status != SnapshotStatus.DONE or not file:
        raise Http404
    audit_record(actor=request.user, action=Action.EXPORT, target=snapshot)
    return FileResponse(file.open("rb"), as_attachment=True, filename=f"{snapshot.file_stem}.{fmt}",
                        content_type=CONTENT_TYPES[fmt])

