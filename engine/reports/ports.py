"""Where the daily report counters are kept."""
from __future__ import annotations

from datetime import date
from typing import Mapping, Protocol

from engine.reports.model import DayKey, ReportData, Tally


class ReportStore(Protocol):
    """Per pack, per local day, program, action and channel: sums that only grow,
    and the contacts reached."""

    def add(self, pack: str, batch_id: str, increments: Mapping[DayKey, Tally],
            contacts: Mapping[DayKey, frozenset[str]]) -> bool:
        """Add every increment and contact atomically (no update lost to a
        concurrent process; a batch is applied whole or not at all), once per
        ``batch_id``: False, and nothing added, when that batch was applied before
        (a retry after a timeout whose first try went through)."""

    def read(self, pack: str, start: date, end: date) -> ReportData:
        """Counters of the days in ``[start, end)``, and distinct contacts over them."""

    def close(self) -> None:
        """Release connections."""
