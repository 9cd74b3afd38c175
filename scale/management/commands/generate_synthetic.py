"""manage.py generate_synthetic --referrals N [--seed S] [--institutions M] [--years Y] [--force]"""

import contextlib
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from reporting import rollup
from scale import synthetic


class Command(BaseCommand):
    help = ("Fill the database with a synthetic, domain-consistent history of referrals for measurements "
            "(bulk COPY on PostgreSQL). Never on a production database: refuses when DJANGO_DEBUG is off "
            "unless --force is given.")

    def add_arguments(self, parser):
        parser.add_argument("--referrals", type=int, required=True, help="How many referrals to add.")
        parser.add_argument("--seed", type=int, default=0, help="Random seed (same seed, same data).")
        parser.add_argument("--institutions", type=int, default=0,
                            help="Create this many extra institutions with people (default: use the directory).")
        parser.add_argument("--years", type=int, default=10, help="Spread the referrals over this many years.")
        parser.add_argument("--force", action="store_true", help="Run even with DJANGO_DEBUG off.")
        parser.add_argument("--no-rollup", action="store_true", help="Skip rebuilding the KPI rollup.")
        parser.add_argument("--keep-indexes", action="store_true",
                            help="Keep the indexes during the load (by default they are dropped and built again "
                                 "afterwards when the load at least doubles the referrals, on PostgreSQL).")

    def handle(self, *args, referrals, seed, institutions, years, force, no_rollup, keep_indexes, **options):
        if not settings.DEBUG and not force:
            raise CommandError("DJANGO_DEBUG is off: this looks like production. Synthetic data is for measurements "
                               "only; add --force if you really mean it.")
        if referrals < 1:
            raise CommandError("--referrals must be at least 1.")
        began = time.monotonic()

        def log(done):
            elapsed = time.monotonic() - began
            self.stdout.write(f"{done:>10,} referrals  {elapsed:7.1f} s  ({done / max(elapsed, 0.001):,.0f}/s)")

        def say(message):
            self.stdout.write(f"{message}  ({time.monotonic() - began:.1f} s)")

        defer = not keep_indexes and synthetic.worth_deferring_indexes(referrals)
        try:
            with synthetic.deferred_indexes(log=say) if defer else contextlib.nullcontext():
                counts = synthetic.generate(referrals=referrals, seed=seed, institutions=institutions, years=years,
                                            log=log)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        for label, n in counts.items():
            self.stdout.write(f"  {label:<28} {n:>12,}")
        if not no_rollup:
            rows = rollup.rebuild()
            rollup.refresh_statistics()
            say(f"KPI rollup rebuilt: {rows:,} rows.")
        if connection.vendor == "postgresql":
            # Fresh statistics: with the planner's guesses from before the load, lists of a few hundred ids were
            # answered with sequential scans over millions of rows.
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
            self.stdout.write("Statistics updated (ANALYZE).")
        self.stdout.write(self.style.SUCCESS(f"Done in {time.monotonic() - began:.1f} s."))
