"""manage.py rebuild_kpi_rollup: recompute the KPI rollup from the event log."""

import time

from django.core.management.base import BaseCommand

from reporting import rollup


class Command(BaseCommand):
    help = ("Recompute the KPI rollup (daily counts and durations) from the referral events: after a bulk load, "
            "a restore or a change in how a figure is counted. New events wait while it runs.")

    def handle(self, *args, **options):
        began = time.monotonic()
        rows = rollup.rebuild()
        rollup.refresh_statistics()
        self.stdout.write(self.style.SUCCESS(f"KPI rollup rebuilt: {rows:,} rows in {time.monotonic() - began:.1f} s."))
