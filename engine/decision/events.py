"""A contact's events as expressions read them: ``events.count`` and ``events.last``."""
from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Sequence

EVENTS_METHODS = {
    "count": "how many of the contact's events match (type=, within=)",
    "last": "the latest matching event, with .at, .type and .data (null if none)",
}
EVENTS_FILTERS = ("type", "within")


@dataclass(frozen=True)
class EventFilter:
    type: str | None = None
    within: timedelta | None = None


class EventsView:
    """The contact's events up to the decision time, oldest first."""

    __slots__ = ("events", "now", "_cache")

    def __init__(self, events: Sequence[Any], now: datetime):
        stamps = [e.at for e in events]
        self.events = events[:bisect_right(stamps, now)] if events else ()
        self.now = now
        self._cache: dict[tuple, Any] = {}

    def count(self, flt: EventFilter) -> int:
        key = ("count", flt)
        if key not in self._cache:
            since = self.now - flt.within if flt.within else None
            self._cache[key] = sum(1 for e in self.events
                                   if (flt.type is None or e.type == flt.type)
                                   and (since is None or e.at >= since))
        return self._cache[key]

    def last(self, flt: EventFilter) -> dict[str, Any] | None:
        key = ("last", flt)
        if key not in self._cache:
            found = next((e for e in reversed(self.events)
                          if flt.type is None or e.type == flt.type), None)
            self._cache[key] = None if found is None else found.as_value()
        return self._cache[key]
