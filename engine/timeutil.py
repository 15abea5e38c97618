"""Reading times the way rule authors and channels write them."""
from __future__ import annotations

from datetime import date, datetime, timezone, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

UTC = timezone.utc


def to_datetime(value: object, tz: tzinfo) -> datetime | None:
    """An aware datetime for an ISO string, date or datetime; naive ones are
    read in ``tz``. None for anything else (a missing or malformed value)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=tz)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=tz)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)
    return None


def to_date(value: object) -> date | None:
    """The calendar date of an ISO string, date or datetime, else None."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value).date()
        except ValueError:
            return None
    return None


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo | None:
    """The zone called ``name``, or None if there is no such zone."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        return None


def isoformat(moment: datetime) -> str:
    """UTC ISO-8601 with a ``Z``, as the API writes times."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
