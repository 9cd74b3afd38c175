"""Lucerne working days: Monday to Friday without the public holidays of the canton of Lucerne.

Deadlines ("decided within 5 working days") count these days; the `holidays` library knows the
Swiss holidays by canton (subdivision LU: Good Friday, Easter Monday, Ascension, Whit Monday, Corpus
Christi, Assumption, All Saints, Immaculate Conception, Christmas, St Stephen's Day ...).
"""

from datetime import date, timedelta
from functools import lru_cache

import holidays


@lru_cache(maxsize=64)
def _holidays(year):
    return frozenset(holidays.country_holidays("CH", subdiv="LU", years=year))


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _holidays(day.year)


def add_working_days(start: date, days: int) -> date:
    """The date `days` Lucerne working days after `start` (start itself does not count)."""
    day = start
    while days > 0:
        day += timedelta(days=1)
        if is_working_day(day):
            days -= 1
    return day


def working_days_between(start: date, end: date) -> int:
    """How many working days lie after `start` up to and including `end` (0 if end <= start)."""
    count, day = 0, start
    while day < end:
        day += timedelta(days=1)
        if is_working_day(day):
            count += 1
    return count
