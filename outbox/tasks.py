"""Thin tasks: take ids, call the outbox services. The row decides; a redelivered task finds it sent."""

from celery import shared_task

from . import services


@shared_task(ignore_result=True)
def send_message_task(message_id):
    return services.message_send(message_id=message_id)


@shared_task(ignore_result=True)
def send_due_messages_task():
    """Beat, every minute: whatever the broker lost, the worker dropped or the mail server refused."""
    return services.messages_send_due()
