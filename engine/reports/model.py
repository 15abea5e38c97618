"""The daily counters behind the ROI report."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Mapping

# (local day, program, action, channel): one row of counters.
DayKey = tuple[date, str, str, str]
# (program, action, channel): one row of the report.
RowKey = tuple[str, str, str]
MESSAGES = "messages"
COST = "cost"
REVENUE = "revenue"
OUTCOME_PREFIX = "outcome:"


@dataclass(frozen=True)
class Tally:
    """Sums that only grow: messages recorded, their channel cost, revenue from
    ``converted`` outcomes, and how many of each outcome followed."""

    messages: int = 0
    cost: float = 0.0
    revenue: float = 0.0
    outcomes: Mapping[str, int] = field(default_factory=dict)

    def plus(self, other: Tally) -> Tally:
        outcomes = dict(self.outcomes)
        for name, count in other.outcomes.items():
            outcomes[name] = outcomes.get(name, 0) + count
        return Tally(self.messages + other.messages, self.cost + other.cost,
                     self.revenue + other.revenue, outcomes)

    def measures(self) -> dict[str, float]:
        """The non-zero sums by measure name, as stores keep them."""
        named = {MESSAGES: float(self.messages), COST: self.cost, REVENUE: self.revenue,
                 **{OUTCOME_PREFIX + o: float(n) for o, n in self.outcomes.items()}}
        return {name: amount for name, amount in named.items() if amount}

    @classmethod
    def from_measures(cls, measures: Mapping[str, float]) -> Tally:
        """The inverse of ``measures`` (counts are stored as floats by Redis)."""
        outcomes = {name[len(OUTCOME_PREFIX):]: int(round(amount))
                    for name, amount in measures.items() if name.startswith(OUTCOME_PREFIX)}
        return cls(int(round(measures.get(MESSAGES, 0.0))), float(measures.get(COST, 0.0)),
                   float(measures.get(REVENUE, 0.0)), outcomes)


@dataclass(frozen=True)
class ReportData:
    """What a ReportStore reads for a range of days: the counters per day and row,
    and distinct contacts sent a message over the whole range, per row and per
    program (not sums of days: a contact reached on two days counts once)."""

    tallies: Mapping[DayKey, Tally] = field(default_factory=dict)
    contacts: Mapping[RowKey, int] = field(default_factory=dict)
    program_contacts: Mapping[str, int] = field(default_factory=dict)
    # "exact" (memory, SQLite) or "estimated" (Redis HyperLogLog, about 0.8 % error).
    contacts_method: str = "exact"
