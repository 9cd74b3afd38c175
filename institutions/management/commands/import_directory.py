"""manage.py import_directory FILE.yaml: create or update municipalities, institutions and users.

The format and the rules are described in institutions/directory_import.py; demo/directory.yaml is an
example. Nothing is written unless the whole file is valid.
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from institutions.directory_import import DirectoryImportError, apply_directory, load_directory


class Command(BaseCommand):
    help = gettext_lazy(
        "Creates or updates municipalities, institutions and users with their roles from a YAML file. "
        "Running it again with the same file changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help=gettext_lazy("The YAML file to import, e.g. demo/directory.yaml."))
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help=gettext_lazy("Check the file and report what would change, without saving anything."),
        )

    def handle(self, *args, file, dry_run=False, **options):
        text = self._read(file)
        try:
            plan = load_directory(text)
            summary = apply_directory(plan, dry_run=dry_run)
        except DirectoryImportError as exc:
            raise CommandError(str(exc)) from exc

        if options["verbosity"] >= 1:
            for line in summary.lines():
                self.stdout.write(line)
            self.stdout.write(self.style.SUCCESS(summary.totals()))
            if not summary.has_changes:
                self.stdout.write(_("Nothing changed: the directory already matches the file."))
            if dry_run:
                self.stdout.write(self.style.WARNING(_("Dry run: nothing was saved.")))

    def _read(self, file):
        path = Path(file)
        try:
            return path.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise CommandError(_("File not found: %(file)s") % {"file": file}) from None
        except UnicodeDecodeError:
            raise CommandError(_("%(file)s is not a UTF-8 text file.") % {"file": file}) from None
        except OSError as exc:
            raise CommandError(
                _("Cannot read %(file)s: %(error)s") % {"file": file, "error": exc.strerror or exc}
            ) from None
