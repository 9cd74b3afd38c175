"""Celery tasks of the reporting app. Eager in the embedded shape; a worker (and beat) in production."""

from celery import shared_task

from . import services


# acks_late (settings): a worker that dies mid-build gets the task again; building is idempotent.
@shared_task(bind=True)
def build_snapshot_task(self, snapshot_id):
    snapshot = services.snapshot_build(snapshot_id)
    return snapshot.status if snapshot is not None else None


@shared_task
def monthly_snapshot_task():
    """Scheduled by beat on the 1st of each month (settings.CELERY_BEAT_SCHEDULE)."""
    snapshot = services.monthly_snapshot()
    return snapshot.pk
