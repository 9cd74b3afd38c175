"""Thin: the daily beat task runs the reminder job."""

from celery import shared_task

from . import services


@shared_task(ignore_result=True)
def send_reminders_task():
    return len(services.send_reminders())
