"""manage.py benchmark [--repeat N] [--skip-events] [--output FILE]: the table of issue 14, item 4."""

from django.core.management.base import BaseCommand

from scale import benchmark


class Command(BaseCommand):
    help = ("Measure the KPI queries against hand-written SQL, every page's server time against the login page "
            "(with query counts) and the report task's time and peak memory; print a Markdown table. "
            "Reads the database; creates and deletes one report snapshot.")

    def add_arguments(self, parser):
        parser.add_argument("--repeat", type=int, default=3, help="Runs per measurement (median is shown).")
        parser.add_argument("--skip-events", action="store_true",
                            help="Do not time the old computation from the events (slow on big datasets).")
        parser.add_argument("--output", help="Also write the table to this file.")

    def handle(self, *args, repeat, skip_events, output, **options):
        rows = benchmark.run(repeat=repeat, include_events=not skip_events)
        table = benchmark.as_markdown(rows, benchmark.dataset_size())
        self.stdout.write(table)
        if output:
            with open(output, "w", encoding="utf-8") as file:
                file.write(table + "\n")
