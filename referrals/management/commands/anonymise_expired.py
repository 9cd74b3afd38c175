"""manage.py anonymise_expired [--dry-run]: remove the client data of referrals past the retention period."""

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils import timezone

from referrals import services


class Command(BaseCommand):
    help = ("Anonymise referrals that ended more than OPTIMA_RETENTION_MONTHS ago: names, birth date (the year "
            "stays), AHV number, contact data, address, free texts and documents are removed; codes, dates, "
            "institutions and amounts stay. A person with a running referral is left alone.")

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Only list what would be anonymised.")

    def handle(self, *args, dry_run=False, **options):
        cutoff = services.retention_cutoff()
        due = services.referrals_anonymise_expired(dry_run=dry_run)
        verb = "Would anonymise" if dry_run else "Anonymised"
        self.stdout.write(f"Retention {settings.OPTIMA_RETENTION_MONTHS} months: referrals that ended before "
                          f"{timezone.localtime(cutoff):%d.%m.%Y %H:%M}.")
        for referral in due:
            documents = f", {referral.documents.count()} document(s) to delete" if dry_run else ""
            self.stdout.write(f"{verb} {referral.reference} ({referral.status}, ended "
                              f"{timezone.localtime(referral.status_changed_at):%d.%m.%Y}{documents})")
        self.stdout.write(f"{verb} {len(due)} referral(s).")
