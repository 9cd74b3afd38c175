"""Beat task: last month's case-fee statements on the first Lucerne working day of the month. Thin."""

import datetime

import holidays
from celery import shared_task
from django.utils import timezone

from . import services
from .fees import first_of_month


def first_working_day(month):
    """The first day of `month` that is neither a weekend nor a public holiday in the canton of Lucerne."""
    lucerne = holidays.country_holidays("CH", subdiv="LU", years=month.year)
    day = first_of_month(month)
    while day.weekday() >= 5 or day in lucerne:
        day += datetime.timedelta(days=1)
    return day


@shared_task(ignore_result=True)
def monthly_fee_statements_task(today=None):
    """Runs every morning; on the month's first working day it builds the previous month's statements."""
    today = datetime.date.fromisoformat(today) if today else timezone.localdate()
    if today != first_working_day(today):
        return 0
    previous = first_of_month(first_of_month(today) - datetime.timedelta(days=1))
    return len(services.statements_build(month=previous))
