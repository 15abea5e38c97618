"""The ROI report per program, action and channel, from daily counters.

For each row over ``[from, to)``: ``messages`` recorded, distinct ``contacts``
reached, ``cost`` (the channel's cost per message), ``conversions`` and
``revenue`` (``converted`` outcomes and their values), ``unsubscriptions`` and
``complaints``, ``churn_cost`` (every outcome the pack's ``costs:`` prices,
times its price), ``net_value = revenue - cost - churn_cost`` and
``roi = net_value / cost`` (None when nothing was spent). Outcomes count on
the day of the message they follow.

Each program row also says what its messages earned beyond its holdout's
control group over the same days (``incremental_revenue`` with a 95 %
interval, or None and ``incremental_reason``), from a ``HoldoutBaseline``
(engine.learning.incremental reads it from the experiments' daily counters);
``holdouts`` lists the arms of each holdout used.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Mapping, Protocol

from engine.learning.incremental import HoldoutBaselines
from engine.reports.model import DayKey, ReportData, Tally

MAX_DAYS = 400
DEFAULT_DAYS = 28
PRECISION = 6


class HoldoutBaseline(Protocol):
    """What a program's holdout says its messages earned beyond its control group
    (engine.learning.incremental.HoldoutBaselines)."""

    def incremental(self, program: str, start: date, end: date) -> Mapping[str, Any]:
        """The program row's ``incremental_revenue``, ``incremental_low``,
        ``incremental_high``, ``incremental_reason`` and ``holdout`` (its id)."""

    def holdouts(self, start: date, end: date) -> list[dict[str, Any]]:
        """Each holdout ``incremental`` used: its arms over the range."""


NOT_READ = {"incremental_revenue": None, "incremental_low": None, "incremental_high": None,
            "incremental_reason": "no experiment counters were read", "holdout": None}


@dataclass(frozen=True)
class ReportRange:
    start: date
    end: date  # exclusive


class InvalidRange(ValueError):
    """A report range that is not ``from <= to``, at most MAX_DAYS days."""


def report_range(start: date, end: date, max_days: int = MAX_DAYS) -> ReportRange:
    """``[start, end)`` checked: InvalidRange when reversed or too long."""
    if start > end:
        raise InvalidRange(f"from ({start}) is after to ({end})")
    if (end - start).days > max_days:
        raise InvalidRange(f"a report covers at most {max_days} days; {start} to {end} is "
                           f"{(end - start).days}")
    return ReportRange(start, end)


def default_range(today: date, start: date | None = None,
                  end: date | None = None) -> ReportRange:
    """``[start, end)`` with what is missing filled in: ``end`` the day after
    ``today`` (today included), ``start`` DEFAULT_DAYS days before ``end``."""
    try:
        end = end or today + timedelta(days=1)
        start = start or end - timedelta(days=DEFAULT_DAYS)
    except OverflowError as exc:
        raise InvalidRange(f"no report range of {DEFAULT_DAYS} days ends on {end}") from exc
    return report_range(start, end)


def read_report(plan: Any, store: Any, period: ReportRange,
                experiments: Any = None) -> dict[str, Any]:
    """The report of ``plan``'s pack over ``period`` from a ReportStore, valued at
    the plan's ``costs``, with incremental revenue against the holdouts counted in
    ``experiments`` (an ExperimentStore, or the tracker in front of one): what the
    API and the CLI both call."""
    data = store.read(plan.name, period.start, period.end)
    holdouts = HoldoutBaselines(plan, experiments) if experiments is not None else None
    return program_report(plan.name, plan.costs, data, period, holdouts)


def figures(tally: Tally, costs: Mapping[str, float], contacts: int | None) -> dict[str, Any]:
    """One row's figures from its summed counters."""
    churn = sum(tally.outcomes.get(outcome, 0) * price for outcome, price in costs.items())
    net = tally.revenue - tally.cost - churn
    return {
        "messages": tally.messages, "contacts": contacts,
        "cost": _money(tally.cost), "conversions": tally.outcomes.get("converted", 0),
        "revenue": _money(tally.revenue),
        "unsubscriptions": tally.outcomes.get("unsubscribed", 0),
        "complaints": tally.outcomes.get("complained", 0),
        "churn_cost": _money(churn), "net_value": _money(net),
        "roi": _money(net / tally.cost) if tally.cost > 0 else None,
        # Measured per program against its holdout (program rows); None for actions
        # and totals, which no holdout measures on their own.
        "incremental_revenue": None,
    }


def program_report(pack: str, costs: Mapping[str, float], data: ReportData,
                   period: ReportRange, holdouts: HoldoutBaseline | None = None) -> dict[str, Any]:
    """Per program (then per action and channel) over ``period``, with totals and
    net value per program per week."""
    rows: dict[str, dict[tuple[str, str], Tally]] = {}
    for (_day, program, action, channel), tally in sorted(data.tallies.items()):
        program_rows = rows.setdefault(program, {})
        key = (action, channel)
        program_rows[key] = program_rows[key].plus(tally) if key in program_rows else tally
    programs = [_program(name, actions, costs, data, period, holdouts)
                for name, actions in sorted(rows.items())]
    total = _sum(t for actions in rows.values() for t in actions.values())
    return {
        "pack": pack, "from": period.start.isoformat(), "to": period.end.isoformat(),
        "costs": dict(costs), "contacts_method": data.contacts_method,
        "programs": programs, "totals": figures(total, costs, None),
        "weeks": weekly_net_value(data.tallies, costs, period),
        "holdouts": holdouts.holdouts(period.start, period.end) if holdouts else [],
    }


def weekly_net_value(tallies: Mapping[DayKey, Tally], costs: Mapping[str, float],
                     period: ReportRange) -> list[dict[str, Any]]:
    """Net value per program per week (weeks start on Monday; the first and last may
    be cut by the range), every week of the range listed for every program."""
    weeks = _week_starts(period)
    programs = sorted({program for (_d, program, _a, _c) in tallies})
    sums = {(w, p): Tally() for w in weeks for p in programs}
    for (day, program, _action, _channel), tally in tallies.items():
        key = (day - timedelta(days=day.weekday()), program)
        if key in sums:
            sums[key] = sums[key].plus(tally)
    return [{"week": w.isoformat(), "program": p,
             "net_value": figures(sums[(w, p)], costs, None)["net_value"]}
            for w in weeks for p in programs]


def _program(name: str, actions: Mapping[tuple[str, str], Tally], costs: Mapping[str, float],
             data: ReportData, period: ReportRange,
             holdouts: HoldoutBaseline | None) -> dict[str, Any]:
    total = _sum(actions.values())
    row = {"program": name, **figures(total, costs, data.program_contacts.get(name))}
    row.update(holdouts.incremental(name, period.start, period.end) if holdouts is not None
               else NOT_READ)
    row["actions"] = [{"action": action, "channel": channel,
                       **figures(tally, costs, data.contacts.get((name, action, channel)))}
                      for (action, channel), tally in sorted(actions.items())]
    return row


def _week_starts(period: ReportRange) -> list[date]:
    if period.start >= period.end:
        return []
    week = period.start - timedelta(days=period.start.weekday())
    starts = []
    while week < period.end:
        starts.append(week)
        week += timedelta(weeks=1)
    return starts


def _sum(tallies) -> Tally:
    total = Tally()
    for tally in tallies:
        total = total.plus(tally)
    return total


def _money(amount: float) -> float:
    return round(amount, PRECISION) + 0.0  # + 0.0: no -0.0 in answers
