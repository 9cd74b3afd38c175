"""Celery tasks of the referrals app: thin, they call a service."""

from celery import shared_task

from . import services


@shared_task
def anonymise_expired_task():
    """Daily (settings.CELERY_BEAT_SCHEDULE): anonymise referrals whose retention period ran out."""
    return [referral.pk for referral in services.referrals_anonymise_expired()]
