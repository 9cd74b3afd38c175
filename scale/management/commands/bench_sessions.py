"""manage.py bench_sessions [--users a,b] [--force]: logged-in sessions for the load scenario (issue 14)."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from scale import benchmark


class Command(BaseCommand):
    help = ("Print session ids of logged-in users (second factor counted as done) for scripts/locustfile.py: the "
            "coordinator and the contact person of the busiest institution unless --users names others. For "
            "measurements only: refuses when DJANGO_DEBUG is off unless --force is given.")

    def add_arguments(self, parser):
        parser.add_argument("--users", default="", help="Comma-separated user names (default: the personas).")
        parser.add_argument("--sample", type=int, default=0,
                            help="Instead: this many users, the coordinator and case workers drawn at random.")
        parser.add_argument("--seed", type=int, default=0, help="Random seed of --sample.")
        parser.add_argument("--force", action="store_true", help="Run even with DJANGO_DEBUG off.")

    def handle(self, *args, users, sample, seed, force, **options):
        if not settings.DEBUG and not force:
            raise CommandError("DJANGO_DEBUG is off: this looks like production. Sessions without a password are for "
                               "measurements only; add --force if you really mean it.")
        try:
            sessions = benchmark.sessions_for([u for u in users.split(",") if u], sample=sample, seed=seed)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(",".join(sessions))
