"""Deadlines in working days (Dutch public holidays excluded) or in elapsed hours.

Working days are counted on the Dutch calendar (Europe/Amsterdam), whatever timezone the
start carries: a case opened at 01:30 on a Friday in Amsterdam is a Friday case, even
though it is still Thursday in UTC.
"""

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

from services.referral.domain.rules import Deadline

NL = ZoneInfo("Europe/Amsterdam")


@lru_cache(maxsize=32)
def _dutch_holidays(year: int) -> holidays.HolidayBase:
    return holidays.country_holidays("NL", years=year)


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _dutch_holidays(day.year)


def add_working_days(start: datetime, days: int) -> datetime:
    """The same Dutch wall-clock time, `days` Dutch working days later."""
    local = start.astimezone(NL)
    day = local.date()
    remaining = days
    while remaining > 0:
        day += timedelta(days=1)
        if is_working_day(day):
            remaining -= 1
    return datetime.combine(day, local.timetz().replace(tzinfo=None), tzinfo=NL)


def due(start: datetime, deadline: Deadline) -> datetime:
    if deadline.hours is not None:  # elapsed time, also across a DST change
        return start.astimezone(UTC) + timedelta(hours=deadline.hours)
    return add_working_days(start, deadline.working_days or 0)
