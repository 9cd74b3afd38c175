"""manage.py build_fee_statements --month YYYY-MM [--dry-run]: a month's case-fee statements by hand."""

import datetime

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from billing import services


class Command(BaseCommand):
    help = "Build (or with --dry-run preview) the case-fee statements of a month that has ended."

    def add_arguments(self, parser):
        parser.add_argument("--month", required=True, help="the month, e.g. 2026-05")
        parser.add_argument("--dry-run", action="store_true", help="only print what would be issued")

    def handle(self, *args, month, dry_run, **options):
        try:
            first_day = datetime.datetime.strptime(month, "%Y-%m").date()
        except ValueError as exc:
            raise CommandError("--month must look like 2026-05") from exc
        try:
            previews = services.statements_build(month=first_day, dry_run=dry_run)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        for p in previews:
            number = p.statement.number if p.statement else "-"
            amount = f"{p.total_chf:,.2f}".replace(",", "'")
            self.stdout.write(f"{p.billing_institution.name} -> {p.billed_institution.name}: "
                              f"{len(p.lines)} cases, CHF {amount} [{p.outcome} {number}]")
        if not previews:
            self.stdout.write(f"No case is billed in {month}.")
