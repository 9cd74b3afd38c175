from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from backups.services import BackupError, backup_restore, read_manifest


class Command(BaseCommand):
    help = gettext_lazy("Restore the database and the documents from an archive written by 'manage.py backup'. "
             "The configured database and MEDIA folder are REPLACED.")
    # Restoring is how a broken or empty installation is repaired: it must run before the start-up checks pass.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("archive", help=_("The backup archive (.tar.gz)."))
        parser.add_argument("--yes", action="store_true", help=_("Do not ask for confirmation."))
        parser.add_argument("--allow-other-key", action="store_true",
                            help=_("Restore even though the archive was made with another OPTIMA_AHV_KEY "
                                   "(its AHV numbers will not be readable)."))

    def handle(self, *args, **options):
        try:
            manifest = read_manifest(options["archive"])
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(_("Backup of %(created)s: %(referrals)s referrals, %(documents)s documents.") % {
            "created": manifest["created_at"], "referrals": manifest["referrals"], "documents": manifest["documents"]})
        if not options["yes"]:
            answer = input(_("This replaces the current database and documents. Type 'yes' to continue: "))
            if answer.strip().lower() not in ("yes", "ja"):
                raise CommandError(_("Nothing was restored."))
        try:
            backup_restore(archive_path=options["archive"], allow_other_key=options["allow_other_key"])
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(_("Restored. Check a few referrals and documents, then restart the "
                                               "application (web, worker, beat).")))
