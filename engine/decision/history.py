"""A contact's history as expressions and policies read it during one decision."""
from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from datetime import datetime, timedelta
from operator import itemgetter
from typing import Any, Sequence

from engine.model import HistoryEntry


@dataclass(frozen=True)
class HistoryFilter:
    """Which entries a ``history.count`` / ``history.last`` call looks at."""

    channel: str | None = None
    action: str | None = None
    program: str | None = None
    kind: str | None = None
    outcome: str | None = None
    within: timedelta | None = None

    def matches(self, entry: HistoryEntry) -> bool:
        return (
            (self.channel is None or entry.channel == self.channel)
            and (self.action is None or entry.action_id == self.action)
            and (self.program is None or entry.program == self.program)
            and (self.kind is None or entry.kind == self.kind)
            and (self.outcome is None or entry.has_outcome(self.outcome))
        )


_first = itemgetter(0)  # the time of an outcome log item, as a bisection key (in C)


class HistoryView:
    """Counts over one contact's history, cached for the length of a decision."""

    __slots__ = ("entries", "outcome_log", "now", "stamps", "_cache", "_since")

    def __init__(self, entries: Sequence[HistoryEntry], now: datetime,
                 outcome_log: Sequence[tuple[float, Any, HistoryEntry]] = (),
                 stamps: Sequence[float] | None = None):
        self.entries = entries
        self.outcome_log = outcome_log
        self.now = now
        self.stamps = stamps if stamps is not None else [e.ts for e in entries]
        self._cache: dict[tuple, object] = {}
        self._since: dict[float, Sequence[HistoryEntry]] = {}

    def outcomes_since(self, moment: datetime) -> Sequence[tuple[float, Any, HistoryEntry]]:
        """(time, outcome, entry) for every outcome recorded at or after ``moment``."""
        log = self.outcome_log
        return log[bisect_left(log, moment.timestamp(), key=_first):]

    def since(self, moment: datetime) -> Sequence[HistoryEntry]:
        """Entries recorded at or after ``moment`` (later ones included)."""
        stamp = moment.timestamp()
        found = self._since.get(stamp)
        if found is None:
            found = self._since[stamp] = self.entries[bisect_left(self.stamps, stamp):]
        return found

    def count(self, flt: HistoryFilter) -> int:
        key = ("count", flt)
        if key not in self._cache:
            pool = self.since(self.now - flt.within) if flt.within else self.entries
            self._cache[key] = sum(1 for e in pool if not e.failed and flt.matches(e))
        return self._cache[key]  # type: ignore[return-value]

    def last(self, flt: HistoryFilter) -> datetime | None:
        key = ("last", flt)
        if key not in self._cache:
            found = next((e.at for e in reversed(self.entries)
                          if not e.failed and flt.matches(e)), None)
            self._cache[key] = found
        return self._cache[key]  # type: ignore[return-value]


HISTORY_FILTERS_FIELDS = ("channel", "action", "program", "kind", "outcome", "within")
