"""Deadlines in working days (Dutch public holidays excluded) or in calendar hours."""

from datetime import date, datetime, timedelta
from functools import lru_cache

import holidays

from services.referral.domain.rules import Deadline


@lru_cache(maxsize=32)
def _dutch_holidays(year: int) -> holidays.HolidayBase:
    return holidays.country_holidays("NL", years=year)


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _dutch_holidays(day.year)


def add_working_days(start: datetime, days: int) -> datetime:
    """The same time of day, `days` working days later."""
    current = start
    remaining = days
    while remaining > 0:
        current += timedelta(days=1)
        if is_working_day(current.date()):
            remaining -= 1
    return current


def due(start: datetime, deadline: Deadline) -> datetime:
    if deadline.hours is not None:
        return start + timedelta(hours=deadline.hours)
    return add_working_days(start, deadline.working_days or 0)
