from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from backups.services import BackupError, backup_create

KEY_WARNING = gettext_lazy(
    "The AHV numbers in this backup are encrypted with OPTIMA_AHV_KEY, which is NOT in the archive. Keep the key "
    "in a separate safe place (e.g. the password manager of the operations team): without it the AHV numbers of "
    "a restored backup cannot be read. The archive contains client data: store it encrypted and access-controlled.")


class Command(BaseCommand):
    help = gettext_lazy("Back up the database and the uploaded documents together into one archive (.tar.gz).")

    def add_arguments(self, parser):
        parser.add_argument("--output", help=_("Archive file or folder (default: OPTIMA_BACKUP_DIR, ./backups)."))

    def handle(self, *args, **options):
        try:
            path = backup_create(output=options.get("output"))
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(_("Backup written: %(path)s") % {"path": path}))
        self.stdout.write(self.style.WARNING(KEY_WARNING))
