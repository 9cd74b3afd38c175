from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.test.utils import override_settings
from django.utils.translation import gettext as _

from referrals.demo import build_demo_referrals

DEMO_USERS = [
    ("sd.beratung", "Case worker, social services city of Lucerne (files referrals)"),
    ("sd.kontakt", "OPTIMA contact person, social services city of Lucerne"),
    ("sd.zeichnung", "Signatory, social services city of Lucerne (signs cost approvals)"),
    ("iv.kontakt", "OPTIMA contact person, WAS IV Luzern (decides on referrals)"),
    ("iv.beratung", "Case worker, WAS IV Luzern (leads accepted cases)"),
    ("iv.zeichnung", "Signatory, WAS IV Luzern"),
    ("rav.beratung", "Case worker, RAV Luzern"),
    ("rav.kontakt", "OPTIMA contact person, RAV Luzern"),
    ("rav.zeichnung", "Signatory, RAV Luzern"),
    ("sobz.kontakt", "Case worker and contact person at SoBZ Sursee (a third institution)"),
    ("koordination", "IIZ coordinator (key figures)"),
    ("admin", "Administrator (directory, users and roles)"),
    ("datenschutz", "Data protection (audit trail: who saw which case when)"),
]


class Command(BaseCommand):
    help = "Load the demo directory and demo referrals in every status, then print the demo logins."

    def handle(self, *args, **options):
        call_command("import_directory", str(Path(settings.BASE_DIR) / "demo" / "directory.yaml"),
                     stdout=self.stdout)
        # The demo's e-mails would flood the console: keep them in memory.
        with override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"):
            created = build_demo_referrals()
        self.stdout.write(_("Demo referrals created: %(count)s") % {"count": created})
        self.stdout.write("")
        self.stdout.write(_("Demo logins (password for all: optima-demo):"))
        for username, role in DEMO_USERS:
            self.stdout.write(f"  {username:<14} {role}")
