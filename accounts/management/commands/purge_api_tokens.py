from django.core.management.base import BaseCommand

from accounts import services


class Command(BaseCommand):
    help = "Delete expired API tokens (they no longer authenticate anyway)."

    def handle(self, *args, **options):
        count = services.api_tokens_purge_expired()
        self.stdout.write(f"{count} expired API token(s) deleted.")
