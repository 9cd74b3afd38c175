"""Background tasks of the accounts app (thin: they call the services)."""

from celery import shared_task

from . import services


@shared_task
def purge_api_tokens_task():
    """Daily (beat): delete expired API tokens; they are refused anyway, this keeps the table small."""
    return services.api_tokens_purge_expired()
