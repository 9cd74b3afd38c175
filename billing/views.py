"""Pages of the billing app: statements (list, detail, downloads, build on demand) and the fee configuration."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from referrals.forms import apply_service_errors

from . import exports, forms, selectors, services

CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}
RENDERERS = {"csv": exports.to_csv, "xlsx": exports.to_xlsx, "pdf": exports.to_pdf}


def _list_context(request, build_form=None):
    return {
        "statements": list(selectors.visible_statements(request.user).order_by("-month", "-issued_at")[:300]),
        "can_build": selectors.can_build_statements(request.user),
        "can_configure": selectors.can_configure_fees(request.user),
        "build_form": build_form or forms.BuildStatementsForm(),
        "previews": None,
    }


@login_required
def statement_list(request):
    return render(request, "billing/list.html", _list_context(request))


@login_required
@require_POST
def statement_build(request):
    if not selectors.can_build_statements(request.user):
        raise PermissionDenied(_("Only administrators and the IIZ coordinator build statements by hand."))
    form = forms.BuildStatementsForm(request.POST)
    if form.is_valid():
        try:
            previews = services.statements_build(month=form.cleaned_data["month"], actor=request.user,
                                                 dry_run=form.cleaned_data["dry_run"])
        except ValidationError as error:
            apply_service_errors(form, error)
        else:
            if form.cleaned_data["dry_run"]:
                context = _list_context(request, form)
                context["previews"] = previews
                return render(request, "billing/list.html", context)
            issued = sum(1 for p in previews if p.outcome in ("new", "correction"))
            messages.success(request, _("%(issued)s statement(s) issued, %(unchanged)s unchanged.") % {
                "issued": issued, "unchanged": sum(1 for p in previews if p.outcome == "unchanged")})
            return redirect("billing:statements")
    return render(request, "billing/list.html", _list_context(request, form), status=400)


def _statement_or_404(user, pk):
    statement = selectors.statement_for_user(user, pk)
    if statement is None:
        raise Http404
    return statement


@login_required
def statement_detail(request, pk):
    statement = _statement_or_404(request.user, pk)
    return render(request, "billing/detail.html", {
        "statement": statement, "lines": list(statement.lines.all()),
        "corrections": list(statement.corrections.order_by("issued_at")),
    })


@login_required
def statement_download(request, pk, fmt):
    if fmt not in RENDERERS:
        raise Http404
    statement = _statement_or_404(request.user, pk)
    response = HttpResponse(RENDERERS[fmt](statement), content_type=CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="{statement.number}.{fmt}"'
    return response


@login_required
def fee_settings(request):
    if not selectors.can_configure_fees(request.user):
        raise PermissionDenied(_("Only administrators configure case fees."))
    rate_form = forms.FeeRateForm(prefix="rate")
    rule_form = forms.FeeModelRuleForm(prefix="rule")
    status = 200
    if request.method == "POST":
        which = request.POST.get("which")
        form = forms.FeeRateForm(request.POST, prefix="rate") if which == "rate" else forms.FeeModelRuleForm(
            request.POST, prefix="rule")
        if form.is_valid():
            try:
                if which == "rate":
                    services.fee_rate_create(actor=request.user, **form.cleaned_data)
                else:
                    services.fee_model_rule_create(actor=request.user, **form.cleaned_data)
            except ValidationError as error:
                apply_service_errors(form, error)
            else:
                messages.success(request, _("Saved. Statements already issued keep their rates."))
                return redirect("billing:settings")
        if which == "rate":
            rate_form = form
        else:
            rule_form = form
        status = 400
    return render(request, "billing/settings.html", {
        **selectors.fee_configuration(), "rate_form": rate_form, "rule_form": rule_form}, status=status)
