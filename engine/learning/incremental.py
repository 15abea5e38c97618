"""Incremental revenue against a holdout, pure: what a program's messages earned
beyond what its control group earned without them.

A program is measured against the holdout that withholds its marketing
messages: a holdout of its own (``programs: [...]``; the narrowest if several),
else one that covers every program (the global holdout). Over a report's
``[from, to)`` (local days of the pack's timezone) and for each arm:

- ``units``: the members that joined the experiment before ``to`` (a member
  counts for the whole period even if it joined during it, in both arms alike);
- ``revenue``: the value of every goal event (``goal: {event, value}``) its
  members posted on the days of the period, each event once.

Then, with ``m`` the revenue per unit of an arm and ``N`` its units,

    incremental = (m_treatment - m_control) * N_treatment

and its 95 % interval ``incremental +- 1.96 * N_treatment * sqrt(s_t**2 / N_t +
s_c**2 / N_c)`` (normal approximation of a difference of two means; ``N_t``
taken as fixed), where ``s**2`` is the sample variance of the revenue per unit
over the period. That variance needs each unit's squared revenue over the
period, which daily counters cannot keep for any range of days. The stores
keep instead, per day, the growth of the units' squared running goal value
``(r + v)**2 - r**2``; summed over the period's days it is
``sum(C_to**2 - C_from**2)`` over units, with ``C`` a unit's running value.
With values that are never negative that is at least ``sum((C_to - C_from)**2)``,
the squared revenue of the period: the variance is over-estimated, the
interval conservative (wider, never narrower, than with exact squares), and
exact for a period that starts before the experiment's first goal event.
Revenue is heavy-tailed and the control group small (a 2 % holdout): the
interval is an approximation, refused below ``MIN_CONTROL_UNITS``.

A holdout that covers several programs measures them together: each of them
reports that one figure, which must not be added up across programs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Any, Iterable, Mapping

from engine.learning.experiments import CONTROL, TREATMENT, ExperimentPlan
from engine.learning.tracking import ArmDay

MIN_CONTROL_UNITS = 30
Z95 = 1.959964
PRECISION = 6


@dataclass(frozen=True)
class ArmPeriod:
    """One arm over a period: units, goal events, their revenue, and the bound of the
    units' squared revenue (see the module's docstring)."""

    units: int = 0
    goal_events: int = 0
    revenue: float = 0.0
    square: float = 0.0

    @property
    def per_unit(self) -> float:
        return self.revenue / self.units if self.units else 0.0

    def variance(self) -> float:
        """The sample variance of the revenue per unit (0 under two units)."""
        if self.units < 2:
            return 0.0
        return max(0.0, (self.square - self.revenue ** 2 / self.units) / (self.units - 1))


@dataclass(frozen=True)
class Incremental:
    """The figure with its 95 % interval, or None and the reason why not."""

    revenue: float | None
    low: float | None = None
    high: float | None = None
    reason: str | None = None


def arm_period(days: Mapping[tuple[str, date], ArmDay], arm: str, start: date,
               end: date) -> ArmPeriod:
    """``arm``'s counters over ``[start, end)``: units joined before ``end``, goal
    events, revenue and squares of the days in the range."""
    units, events, revenue, square = 0, 0, 0.0, 0.0
    for (name, day), counters in days.items():
        if name != arm or day >= end:
            continue
        units += counters.joined
        if day >= start:
            events += counters.goal_events
            revenue += counters.goal_revenue
            square += counters.goal_square
    return ArmPeriod(units, events, revenue, square)


def incremental_revenue(treatment: ArmPeriod, control: ArmPeriod,
                        min_control: int = MIN_CONTROL_UNITS) -> Incremental:
    """``(m_t - m_c) * N_t`` with its 95 % interval, or None with a reason when the
    control group is too small or has no goal event to compare with."""
    if control.units < min_control:
        return Incremental(None, reason=f"the control group has {control.units} contacts; "
                                        f"at least {min_control} are needed")
    if control.goal_events == 0:
        return Incremental(None, reason="no goal event from the control group over the "
                                        "period: nothing to compare with")
    if treatment.units == 0:
        return Incremental(None, reason="no contact in the treatment group")
    figure = (treatment.per_unit - control.per_unit) * treatment.units
    error = treatment.units * math.sqrt(treatment.variance() / treatment.units
                                        + control.variance() / control.units)
    return Incremental(_money(figure), _money(figure - Z95 * error),
                       _money(figure + Z95 * error))


def covering_holdout(plan: Any, program: str) -> ExperimentPlan | None:
    """The holdout that withholds ``program``'s marketing actions: its own (the one
    naming the fewest programs), else one covering every program; None if none."""
    held = {e for a in plan.actions if a.program == program for e in a.holdouts}
    candidates = [e for e in plan.experiments if e.id in held]
    own = [e for e in candidates if e.programs]
    if own:
        return min(own, key=lambda e: len(e.programs))
    return candidates[0] if candidates else None


def no_holdout_reason(plan: Any, program: str) -> str:
    actions = [a for a in plan.actions if a.program == program]
    if not actions:
        return f"program {program} is not in the active pack"
    if not any(a.marketing for a in actions):
        return "its messages are service or transactional: no holdout withholds them"
    return "no holdout withholds this program's messages"


class HoldoutBaselines:
    """engine.reports.report.HoldoutBaseline over an ExperimentStore (anything with
    ``arm_days``): each holdout's daily counters are read once per report."""

    def __init__(self, plan: Any, store: Any) -> None:
        self.plan = plan
        self.store = store
        self._days: dict[str, Mapping[tuple[str, date], ArmDay]] = {}
        self._used: dict[str, list[str]] = {}  # holdout id -> programs measured by it

    def incremental(self, program: str, start: date, end: date) -> dict[str, Any]:
        """The program row's ``incremental_*`` fields and ``holdout`` (its id)."""
        holdout = covering_holdout(self.plan, program)
        if holdout is None:
            return _fields(Incremental(None, reason=no_holdout_reason(self.plan, program)),
                           None)
        self._used.setdefault(holdout.id, []).append(program)
        treatment, control = self._arms(holdout, start, end)
        return _fields(incremental_revenue(treatment, control), holdout.id)

    def holdouts(self, start: date, end: date) -> list[dict[str, Any]]:
        """Each holdout that measured a program of the report: its arms over the period
        and the programs that report its figure."""
        by_id = {e.id: e for e in self.plan.experiments}
        return [_holdout_row(by_id[hid], *self._arms(by_id[hid], start, end), programs)
                for hid, programs in sorted(self._used.items())]

    def _arms(self, holdout: ExperimentPlan, start: date, end: date
              ) -> tuple[ArmPeriod, ArmPeriod]:
        if holdout.id not in self._days:
            self._days[holdout.id] = self.store.arm_days(holdout.id)
        days = self._days[holdout.id]
        return arm_period(days, TREATMENT, start, end), arm_period(days, CONTROL, start, end)


def _fields(found: Incremental, holdout: str | None) -> dict[str, Any]:
    return {"incremental_revenue": found.revenue, "incremental_low": found.low,
            "incremental_high": found.high, "incremental_reason": found.reason,
            "holdout": holdout}


def _holdout_row(holdout: ExperimentPlan, treatment: ArmPeriod, control: ArmPeriod,
                 programs: Iterable[str]) -> dict[str, Any]:
    found = incremental_revenue(treatment, control)
    return {"experiment": holdout.id, "share": holdout.share,
            "covers": sorted(holdout.programs) or None, "programs": sorted(programs),
            "goal": {"event": holdout.goal.event, "value": holdout.goal.value},
            "treatment": _arm_row(treatment), "control": _arm_row(control),
            "incremental_revenue": found.revenue, "incremental_low": found.low,
            "incremental_high": found.high, "incremental_reason": found.reason}


def _arm_row(arm: ArmPeriod) -> dict[str, Any]:
    return {"units": arm.units, "goal_events": arm.goal_events,
            "revenue": _money(arm.revenue), "revenue_per_unit": _money(arm.per_unit)}


def _money(amount: float) -> float:
    return round(amount, PRECISION) + 0.0
