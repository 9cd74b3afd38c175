"""python manage.py send_reminders [--today YYYY-MM-DD] [--dry-run]: the daily reminder job by hand."""

import datetime

from django.core.management.base import BaseCommand, CommandError

from reminders.services import send_reminders


class Command(BaseCommand):
    help = "Send the reminders due today (or on --today); one line per reminder sent (or, with --dry-run, due)."

    def add_arguments(self, parser):
        parser.add_argument("--today", help="run as if today were this date (YYYY-MM-DD)")
        parser.add_argument("--dry-run", action="store_true", help="only print what would be sent")

    def handle(self, *args, today=None, dry_run=False, **options):
        if today:
            try:
                today = datetime.date.fromisoformat(today)
            except ValueError as exc:
                raise CommandError(f"--today must be a date like 2026-12-02, not {today!r}") from exc
        reminders = send_reminders(today=today, dry_run=dry_run, force=True)
        for reminder in reminders:
            self.stdout.write(reminder.line())
        verb = "would be sent" if dry_run else "sent"
        self.stdout.write(self.style.SUCCESS(f"{len(reminders)} reminder(s) {verb}."))
