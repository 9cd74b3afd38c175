"""Reads of the outbox (for the admin and monitoring)."""

from django.db.models import Count

from .models import Message, MessageStatus


def outbox_counts():
    counts = dict(Message.objects.values_list("status").annotate(n=Count("id")).order_by())
    return {status: counts.get(status, 0) for status in MessageStatus.values}
