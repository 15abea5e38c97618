"""An experiment's report, pure: per arm, the units (contacts, or runs for a journey
split), conversions and their rate with Wilson's 95 % interval, revenue,
unsubscriptions and complaints, and the lift against the baseline arm (the
control group of a holdout, else the first arm) with a 95 % interval.

The difference of two rates is judged with the normal approximation (its
interval is the rates' difference plus or minus 1.96 standard errors); it is
significant when that interval excludes zero. ``auto_optimise`` concludes an
experiment when every arm has its minimum sample and the best arm beats every
other significantly. Looking again and again at a fixed 95 % level inflates
false positives; the minimum sample (100 per arm by default) limits how early
it can look, and the report says how many units each arm had when it concluded.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

from engine.learning.experiments import CONTROL, ExperimentPlan
from engine.learning.posterior import interval
from engine.learning.tracking import ArmCounts

Z95 = 1.959964


def baseline(experiment: ExperimentPlan) -> str:
    return CONTROL if experiment.kind == "holdout" else experiment.arms[0]


def experiment_report(experiment: ExperimentPlan, arms: Mapping[str, ArmCounts],
                      winner: str | None = None,
                      split_units: Mapping[str, int] | None = None) -> dict[str, Any]:
    """The report; ``split_units``: a split's runs per branch (journey counts)."""
    counts = {arm: arms.get(arm, ArmCounts()) for arm in experiment.arms}
    if split_units is not None:
        counts = {arm: _with_units(c, split_units.get(arm, 0)) for arm, c in counts.items()}
    base = counts[baseline(experiment)]
    rows = [_arm_row(name, c, base, name == baseline(experiment)) for name, c in counts.items()]
    return {"id": experiment.id, "kind": experiment.kind,
            "unit": "run" if experiment.kind == "split" else "contact",
            "goal": {k: v for k, v in vars(experiment.goal).items() if v is not None},
            "baseline": baseline(experiment), "arms": rows,
            "auto_optimise": experiment.auto_optimise is not None,
            "winner": winner}


def winner(experiment: ExperimentPlan, arms: Mapping[str, ArmCounts]) -> str | None:
    """The arm auto_optimise keeps, once it is significantly the best."""
    minimum = experiment.auto_optimise or 0
    counts = {arm: arms.get(arm, ArmCounts()) for arm in experiment.arms}
    if any(c.units < minimum for c in counts.values()):
        return None
    best = max(counts, key=lambda arm: _rate(counts[arm]))
    for arm, c in counts.items():
        if arm != best and _difference(counts[best], c)[1] <= 0:
            return None
    return best


def _with_units(counts: ArmCounts, units: int) -> ArmCounts:
    return ArmCounts(max(units, counts.conversions), counts.conversions, counts.revenue,
                     counts.unsubscribed, counts.complained)


def _arm_row(name: str, c: ArmCounts, base: ArmCounts, is_base: bool) -> dict[str, Any]:
    low, high = interval(c.conversions, c.units)
    row: dict[str, Any] = {
        "arm": name, "units": c.units, "conversions": c.conversions,
        "rate": round(_rate(c), 6), "rate_low": round(low, 6), "rate_high": round(high, 6),
        "revenue": round(c.revenue, 2),
        "revenue_per_unit": round(c.revenue / c.units, 4) if c.units else 0.0,
        "unsubscribed": c.unsubscribed, "complained": c.complained,
        "lift": None, "lift_low": None, "lift_high": None, "relative_lift": None,
        "significant": None}
    if not is_base and c.units and base.units:
        difference, low, high = _difference(c, base)
        row.update(lift=round(difference, 6), lift_low=round(low, 6), lift_high=round(high, 6),
                   relative_lift=round(difference / _rate(base), 4) if _rate(base) else None,
                   significant=low > 0 or high < 0)
    return row


def _rate(c: ArmCounts) -> float:
    return c.conversions / c.units if c.units else 0.0


def _difference(a: ArmCounts, b: ArmCounts) -> tuple[float, float, float]:
    """Rate of ``a`` minus rate of ``b``, with its 95 % interval."""
    if not a.units or not b.units:
        return 0.0, -1.0, 1.0
    pa, pb = _rate(a), _rate(b)
    error = math.sqrt(pa * (1 - pa) / a.units + pb * (1 - pb) / b.units)
    difference = pa - pb
    return difference, difference - Z95 * error, difference + Z95 * error


def report_of(plan: Any, experiment: ExperimentPlan, arms: Mapping[str, ArmCounts],
              journey_counts: Mapping[str, int] | None = None) -> dict[str, Any]:
    """``experiment_report`` with what the plan and the journey counters add: a split's
    runs per branch, and the winner an auto_optimise experiment concluded on."""
    split_units = None
    if experiment.kind == "split":
        prefix = f"{experiment.split}.branch."
        split_units = {name[len(prefix):]: n for name, n in (journey_counts or {}).items()
                       if name.startswith(prefix)}
    return experiment_report(experiment, arms, plan.winners.get(experiment.id), split_units)
