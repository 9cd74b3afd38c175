"""Every write of the billing app: fee configuration and statements. Keyword-only, acting user first.

Configuration rows are history: a new rate from a date on ends the open-ended rate before it and never touches
an issued statement (its lines keep the rate they were built with). Statements are immutable once issued; a
rebuild that finds different lines issues a correction statement that refers to the previous one.
"""

import datetime
from dataclasses import dataclass, field
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from institutions.models import InstitutionKind, Role
from institutions.selectors import user_has_role
from referrals import selectors as referral_selectors

from . import notifications
from .fees import Config, fee_for_month, first_of_month, is_billable_month, last_of_month
from .models import FeeModel, FeeModelRule, FeeRate, FeeStatement, FeeStatementLine

# A monthly flat fee above this is a typing error (the concept's rates are 125-300 CHF).
MAX_MONTHLY_RATE_CHF = Decimal("10000.00")


def _require_admin(actor):
    if actor is None or not user_has_role(actor, Role.ADMIN):
        raise PermissionDenied(_("Only administrators configure case fees."))


def _validity_errors(valid_from, valid_until):
    errors = {}
    if valid_from is None:
        errors["valid_from"] = [_("Enter the first day the setting applies.")]
    elif valid_from.day != 1:
        errors["valid_from"] = [_("Case fees are billed by month: a setting starts on the 1st of a month, "
                                  "e.g. 01.01.2026.")]
    if valid_until is not None and valid_from is not None:
        if valid_until < valid_from:
            errors["valid_until"] = [_("The end must be after the start.")]
        elif valid_until != last_of_month(valid_until):
            errors["valid_until"] = [_("A setting ends on the last day of a month, e.g. 31.12.2026.")]
    return errors


def _place_in_history(queryset, *, valid_from, valid_until):
    """Fit a new period into the history: an open-ended period starting earlier ends the day before;
    any other overlap is an error (nothing is saved)."""
    overlapping = queryset.filter(Q(valid_until__isnull=True) | Q(valid_until__gte=valid_from))
    if valid_until is not None:
        overlapping = overlapping.filter(valid_from__lte=valid_until)
    to_close = []
    for row in overlapping.select_for_update():
        if row.valid_until is None and row.valid_from < valid_from:
            to_close.append(row)
        else:
            until = row.valid_until.strftime("%d.%m.%Y") if row.valid_until else _("open-ended")
            raise ValidationError({"valid_from": [_(
                "This period overlaps with the one from %(start)s to %(end)s. Choose a start after it, or one "
                "that does not overlap.") % {"start": row.valid_from.strftime("%d.%m.%Y"), "end": until}]})
    for row in to_close:
        row.valid_until = valid_from - datetime.timedelta(days=1)
        row.save(update_fields=["valid_until"])


@transaction.atomic
def fee_rate_create(*, actor, leader_kind, monthly_rate_chf, valid_from, valid_until=None):
    """The monthly rate an institution kind bills per case from `valid_from` on (model A)."""
    _require_admin(actor)
    errors = _validity_errors(valid_from, valid_until)
    if leader_kind not in InstitutionKind.values:
        errors["leader_kind"] = [_("Choose the kind of the leading institution.")]
    if monthly_rate_chf is None or monthly_rate_chf <= 0 or monthly_rate_chf > MAX_MONTHLY_RATE_CHF:
        errors["monthly_rate_chf"] = [_("Enter a monthly rate in CHF greater than 0 and at most %(max)s, "
                                        "e.g. 300.00.") % {"max": "10'000.00"}]
    if errors:
        raise ValidationError(errors)
    _place_in_history(FeeRate.objects.filter(leader_kind=leader_kind), valid_from=valid_from, valid_until=valid_until)
    return FeeRate.objects.create(leader_kind=leader_kind, monthly_rate_chf=monthly_rate_chf, valid_from=valid_from,
                                  valid_until=valid_until, created_by=actor)


@transaction.atomic
def fee_model_rule_create(*, actor, referrer_kind, leader_kind, model, valid_from, valid_until=None):
    """Which model (A or B) applies to cases from `referrer_kind` to `leader_kind` from `valid_from` on."""
    _require_admin(actor)
    errors = _validity_errors(valid_from, valid_until)
    if referrer_kind not in InstitutionKind.values:
        errors["referrer_kind"] = [_("Choose the kind of the referring institution.")]
    if leader_kind not in InstitutionKind.values:
        errors["leader_kind"] = [_("Choose the kind of the leading institution.")]
    if model not in FeeModel.values:
        errors["model"] = [_("Choose model A or model B.")]
    if errors:
        raise ValidationError(errors)
    _place_in_history(FeeModelRule.objects.filter(referrer_kind=referrer_kind, leader_kind=leader_kind),
                      valid_from=valid_from, valid_until=valid_until)
    return FeeModelRule.objects.create(referrer_kind=referrer_kind, leader_kind=leader_kind, model=model,
                                       valid_from=valid_from, valid_until=valid_until, created_by=actor)


# --- Statements ---------------------------------------------------------------------------------------------

@dataclass
class LinePreview:
    referral: object
    reference: str
    months: int
    rate_chf: Decimal
    amount_chf: Decimal

    def key(self):
        return (self.referral.pk, self.months, self.rate_chf, self.amount_chf)


@dataclass
class StatementPreview:
    """A statement as it would be issued; `statement` is set when it was (or already had been) issued."""

    billing_institution: object
    billed_institution: object
    month: datetime.date
    lines: list = field(default_factory=list)
    statement: FeeStatement | None = None
    outcome: str = ""  # "new", "correction", "unchanged" or "preview"

    @property
    def total_chf(self):
        return sum((line.amount_chf for line in self.lines), Decimal("0.00"))


def _check_month(month):
    if month is None:
        raise ValidationError({"month": [_("Enter the month as YYYY-MM, e.g. 2026-05.")]})
    month = first_of_month(month)
    if month >= first_of_month(timezone.localdate()):
        raise ValidationError({"month": [_(
            "Statements are built for months that have ended; %(month)s has not ended yet.")
            % {"month": month.strftime("%m.%Y")}]})
    return month


def statement_previews(*, month):
    """The statements a month would produce, grouped per billing -> billed institution (nothing written)."""
    month = _check_month(month)
    config = Config.load()
    groups = {}
    for referral in referral_selectors.cases_active_between(month, last_of_month(month)):
        if not is_billable_month(month, referral.active_from, referral.active_until):
            continue
        fee = fee_for_month(config, referral, month)
        if fee.rate is None:
            continue
        key = (referral.receiving_institution_id, referral.referring_institution_id)
        preview = groups.setdefault(key, StatementPreview(referral.receiving_institution,
                                                          referral.referring_institution, month))
        preview.lines.append(LinePreview(referral, referral.reference, 1, fee.rate, fee.rate))
    return [groups[key] for key in sorted(groups, key=lambda k: (groups[k].billing_institution.name,
                                                                 groups[k].billed_institution.name))]


def _next_number(today):
    prefix = f"FP-{today.year}-"
    numbers = FeeStatement.objects.select_for_update().filter(number__startswith=prefix).values_list("number",
                                                                                                       flat=True)
    last = max((int(n.removeprefix(prefix)) for n in numbers), default=0)
    return f"{prefix}{last + 1:04d}"


def _latest(billing, billed, month):
    return (FeeStatement.objects.filter(billing_institution=billing, billed_institution=billed, month=month)
            .prefetch_related("lines").order_by("-issued_at", "-id").first())


@transaction.atomic
def statements_build(*, month, actor=None, dry_run=False):
    """Build (or with dry_run preview) a month's statements. Idempotent: a rebuild with the same lines issues
    nothing; different lines issue a correction referring to the latest statement. actor None = the beat task."""
    if actor is not None and not (user_has_role(actor, Role.ADMIN) or user_has_role(actor, Role.COORDINATOR)):
        raise PermissionDenied(_("Only administrators and the IIZ coordinator build statements by hand."))
    previews = statement_previews(month=month)
    if dry_run:
        for preview in previews:
            preview.outcome = "preview"
        return previews
    month = first_of_month(month)
    seen = set()
    for preview in previews:
        seen.add((preview.billing_institution.pk, preview.billed_institution.pk))
        _issue(preview, actor)
    # A statement whose cases all dropped out (e.g. a corrected handover date) is corrected to zero.
    for statement in FeeStatement.objects.filter(month=month).select_related("billing_institution",
                                                                             "billed_institution"):
        key = (statement.billing_institution_id, statement.billed_institution_id)
        if key not in seen:
            seen.add(key)
            preview = StatementPreview(statement.billing_institution, statement.billed_institution, month)
            _issue(preview, actor)
            if preview.statement is not None:
                previews.append(preview)
    return previews


def _issue(preview, actor):
    latest = _latest(preview.billing_institution, preview.billed_institution, preview.month)
    if latest is not None:
        issued = sorted((line.referral_id, line.months, line.rate_chf, line.amount_chf)
                        for line in latest.lines.all())
        if issued == sorted(line.key() for line in preview.lines):
            preview.statement, preview.outcome = latest, "unchanged"
            return
    elif not preview.lines:
        return
    now = timezone.now()
    statement = FeeStatement.objects.create(
        number=_next_number(timezone.localdate()), billing_institution=preview.billing_institution,
        billed_institution=preview.billed_institution, month=preview.month, issued_at=now, issued_by=actor,
        case_count=len(preview.lines), total_chf=preview.total_chf, corrects=latest)
    FeeStatementLine.objects.bulk_create([
        FeeStatementLine(statement=statement, referral=line.referral, reference=line.reference, months=line.months,
                         rate_chf=line.rate_chf, amount_chf=line.amount_chf) for line in preview.lines])
    preview.statement, preview.outcome = statement, ("correction" if latest else "new")
    transaction.on_commit(lambda: notifications.statement_issued(statement.pk))
