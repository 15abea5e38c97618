"""Everything an expression may call: the one registry packs are checked against.

Rules are data, vocabulary is code. ``export_vocabulary`` describes the
registry for documentation, editors and the CLI.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import Any, Callable, Mapping

from engine.decision.events import EVENTS_FILTERS, EVENTS_METHODS, EventsView
from engine.decision.history import HistoryView
from engine.timeutil import to_date, to_datetime

NUMBER = (int, float)


class Scope:
    """What one evaluation can see. Built once per decision, cheap to extend."""

    __slots__ = ("contact", "context", "facts", "history", "now", "tz", "names", "events")

    def __init__(self, contact: Mapping[str, Any], context: Mapping[str, Any],
                 facts: dict[str, Any], history: HistoryView, now: datetime, tz: tzinfo,
                 events: EventsView | None = None):
        self.contact = contact
        self.context = context
        self.facts = facts
        self.history = history
        self.now = now
        self.tz = tz
        self.names: dict[str, Any] = {}
        self.events = events if events is not None else EventsView((), now)


def is_number(value: object) -> bool:
    return type(value) in NUMBER


def _seconds_since(scope: Scope, value: object) -> float | None:
    moment = to_datetime(value, scope.tz)
    return None if moment is None else (scope.now - moment).total_seconds()


def days_since(scope: Scope, value: object) -> float | None:
    seconds = _seconds_since(scope, value)
    return None if seconds is None else seconds / 86400


def hours_since(scope: Scope, value: object) -> float | None:
    seconds = _seconds_since(scope, value)
    return None if seconds is None else seconds / 3600


def days_until(scope: Scope, value: object) -> float | None:
    seconds = _seconds_since(scope, value)
    return None if seconds is None else -seconds / 86400


def days_to_anniversary(scope: Scope, value: object) -> int | None:
    born = to_date(value)
    if born is None:
        return None
    today = scope.now.astimezone(scope.tz).date()
    for year in (today.year, today.year + 1):
        day = min(born.day, 28) if (born.month, born.day) == (2, 29) else born.day
        next_one = date(year, born.month, day)
        if next_one >= today:
            return (next_one - today).days
    return None  # pragma: no cover - the loop always returns


def length(scope: Scope, value: object) -> int | None:
    return len(value) if isinstance(value, (str, list, dict)) else None


def lower(scope: Scope, value: object) -> str | None:
    return value.lower() if isinstance(value, str) else None


def upper(scope: Scope, value: object) -> str | None:
    return value.upper() if isinstance(value, str) else None


def minimum(scope: Scope, *values: object) -> float | None:
    return min(values) if values and all(is_number(v) for v in values) else None


def maximum(scope: Scope, *values: object) -> float | None:
    return max(values) if values and all(is_number(v) for v in values) else None


def absolute(scope: Scope, value: object) -> float | None:
    return abs(value) if is_number(value) else None


def rounded(scope: Scope, value: object, digits: object = 0) -> float | None:
    if not is_number(value) or type(digits) is not int:
        return None
    return round(value, digits)


def coalesce(scope: Scope, *values: object) -> object:
    return next((v for v in values if v is not None), None)


@dataclass(frozen=True)
class Function:
    """A function packs may call, with its arity and what it does."""

    name: str
    impl: Callable[..., Any]
    min_args: int
    max_args: int | None
    doc: str


FUNCTIONS: dict[str, Function] = {f.name: f for f in (
    Function("days_since", days_since, 1, 1, "days from a date or date-time to the decision time"),
    Function("hours_since", hours_since, 1, 1, "hours from a date or date-time to the decision time"),
    Function("days_until", days_until, 1, 1, "days from the decision time to a date or date-time"),
    Function("days_to_anniversary", days_to_anniversary, 1, 1,
             "whole days until the next anniversary of a date (0 on the day)"),
    Function("len", length, 1, 1, "length of a string, list or object"),
    Function("lower", lower, 1, 1, "lower-case string"),
    Function("upper", upper, 1, 1, "upper-case string"),
    Function("min", minimum, 1, None, "smallest of numbers"),
    Function("max", maximum, 1, None, "largest of numbers"),
    Function("abs", absolute, 1, 1, "absolute value"),
    Function("round", rounded, 1, 2, "number rounded to digits (default 0)"),
    Function("coalesce", coalesce, 1, None, "first argument that is not null"),
)}

HISTORY_METHODS = {
    "count": "how many history entries match (failed deliveries excluded)",
    "last": "time of the latest matching history entry, or null",
}
HISTORY_FILTERS = ("channel", "action", "program", "kind", "outcome", "within")
ROOTS = {
    "contact": "the contact's profile, consents included (contact.consents.email)",
    "context": "what the calling channel sent with the request",
    "facts": "facts derived by the pack's facts rules",
}
ARBITRATION_NAMES = ("propensity", "value", "priority", "cost")
# Dotted roots the arbitration formula may also read: risk.unsubscribe and
# risk.complaint (engine.learning.risk), costs.<outcome> (the pack's costs:).
ARBITRATION_ROOTS = ("risk", "costs")


def export_vocabulary() -> dict[str, Any]:
    """The registry as plain data, for documentation and editors."""
    return {
        "roots": dict(ROOTS),
        "functions": {
            f.name: {"min_args": f.min_args, "max_args": f.max_args, "doc": f.doc}
            for f in FUNCTIONS.values()
        },
        "history": {"methods": dict(HISTORY_METHODS), "filters": list(HISTORY_FILTERS)},
        "events": {"methods": dict(EVENTS_METHODS), "filters": list(EVENTS_FILTERS)},
        "arbitration_names": list(ARBITRATION_NAMES),
    }
