"""Simulation: a population of contacts, day by day, through the real decision
path (``DecisionService`` on a throwaway in-memory store), so that an author
sees what a pack would send before it is served.

Each day, at the same local hour, every contact is asked for on every outbound
channel; what is chosen is recorded, so pressure, repeat and gaps apply over
the days as they would in production. No outcomes are simulated (nobody
clicks or refuses), so suppression only applies to history the contacts bring.
"""
from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any, Callable, Iterable

from engine.backends import ExecutionBackend
from engine.memory import MemoryStore
from engine.model import ContactRecord, DecisionRequest
from engine.plan import Plan
from engine.service import ActivePack, DecisionService

DECISION_HOUR = time(10, 0)
Progress = Callable[[int, int], None]


@dataclass
class SimulationReport:
    """What one pack sent to a population over some days, and what held it back."""

    pack: str
    name: str
    contacts: int
    days: int
    start: datetime
    decisions: int = 0
    sent: Counter = field(default_factory=Counter)          # (action, channel) -> messages
    per_day: dict[str, Counter] = field(default_factory=dict)  # ISO day -> channel -> messages
    policy_hits: Counter = field(default_factory=Counter)   # policy category -> exclusions
    rule_hits: Counter = field(default_factory=Counter)     # (policy, rule) -> exclusions
    reached: set[str] = field(default_factory=set)

    @property
    def nothing(self) -> int:
        """Contacts who got no message at all over the period."""
        return self.contacts - len(self.reached)

    def as_dict(self) -> dict[str, Any]:
        return {
            "pack": self.pack, "name": self.name, "contacts": self.contacts, "days": self.days,
            "start": self.start.isoformat(), "decisions": self.decisions,
            "sent": [{"action": a, "channel": c, "messages": n}
                     for (a, c), n in sorted(self.sent.items())],
            "per_channel": dict(sorted(_per_channel(self.sent).items())),
            "per_day": {day: dict(sorted(counts.items())) for day, counts in self.per_day.items()},
            "pressure_hits": _rules_of(self.rule_hits, "pressure"),
            "suppression_hits": _rules_of(self.rule_hits, "suppression"),
            "exclusions": dict(sorted(self.policy_hits.items())),
            "contacts_with_nothing": self.nothing,
        }


def _per_channel(sent: Counter) -> Counter:
    totals: Counter = Counter()
    for (_, channel), count in sent.items():
        totals[channel] += count
    return totals


def _rules_of(hits: Counter, policy: str) -> dict[str, int]:
    return {rule: n for (p, rule), n in sorted(hits.items()) if p == policy}


def decisions_needed(plan: Plan, contacts: int, days: int) -> int:
    """How many decisions a simulation of ``contacts`` over ``days`` makes."""
    return contacts * days * sum(not c.inbound for c in plan.channels.values())


def simulate(plan: Plan, contacts: Iterable[ContactRecord], days: int, start: datetime,
             backend: ExecutionBackend, progress: Progress | None = None) -> SimulationReport:
    """Run ``contacts`` for ``days`` days from the day of ``start`` through ``plan``."""
    population = list(contacts)
    store = MemoryStore()
    for contact in population:
        store.put_contact(contact)
    counter = itertools.count(1)
    service = DecisionService(store, ActivePack(plan), backend,
                              new_id=lambda: f"sim-{next(counter)}")
    outbound = [name for name, channel in plan.channels.items() if not channel.inbound]
    first = datetime.combine(start.astimezone(plan.tz).date(), DECISION_HOUR, tzinfo=plan.tz)
    report = SimulationReport(plan.hash, f"{plan.name} {plan.version}", len(population), days,
                              first)
    for day in range(days):
        moment = first + timedelta(days=day)
        today = report.per_day.setdefault(moment.date().isoformat(), Counter())
        for contact, channel in itertools.product(population, outbound):
            _decide(service, report, today, contact.contact_id, channel, moment)
        if progress is not None:
            progress(day + 1, days)
    return report


def _decide(service: DecisionService, report: SimulationReport, today: Counter,
            contact_id: str, channel: str, moment: datetime) -> None:
    result = service.decide(DecisionRequest(contact_id, channel, moment, explain=True))
    report.decisions += 1
    for action in result.decision.actions if result.recorded else ():
        report.sent[(action.action_id, action.channel)] += 1
        today[action.channel] += 1
        report.reached.add(contact_id)
    for exclusion in result.decision.excluded:
        report.policy_hits[exclusion.policy] += 1
        report.rule_hits[(exclusion.policy, exclusion.rule)] += 1


def compare(report: SimulationReport, other: SimulationReport) -> dict[str, Any]:
    """Per action and channel, and per channel, the messages of each pack and the difference."""
    keys = sorted(set(report.sent) | set(other.sent))
    mine, theirs = _per_channel(report.sent), _per_channel(other.sent)
    return {
        "against": other.pack,
        "sent": [{"action": a, "channel": c, "messages": report.sent[(a, c)],
                  "against": other.sent[(a, c)], "difference": report.sent[(a, c)]
                  - other.sent[(a, c)]} for a, c in keys],
        "per_channel": {c: {"messages": mine[c], "against": theirs[c],
                            "difference": mine[c] - theirs[c]}
                        for c in sorted(set(mine) | set(theirs))},
        "contacts_with_nothing": {"messages": report.nothing, "against": other.nothing},
    }
