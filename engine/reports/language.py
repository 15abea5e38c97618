"""Validation of a pack's ``costs:`` section: what an outcome costs the business
beyond the message, such as the lifetime value lost with an unsubscription.

    costs: {unsubscribed: 40, complained: 60}
"""
from __future__ import annotations

from typing import Any

from engine.model import OUTCOMES

MAX_COST = 1e9


def compile_costs(checker, raw: Any) -> dict[str, float]:
    """``costs:`` as outcome name -> non-negative amount ({} when absent); every
    problem goes to ``checker`` with its line."""
    path = ("costs",)
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        checker.problem(path, "costs is a mapping of outcome to the value it loses, like "
                              "{unsubscribed: 40, complained: 60}")
        return {}
    costs: dict[str, float] = {}
    for outcome, amount in raw.items():
        if outcome not in OUTCOMES:
            checker.problem(path + (outcome,), f"unknown outcome {outcome!r}; costs are priced "
                                               f"per outcome: {', '.join(OUTCOMES)}")
            continue
        if isinstance(amount, bool) or not isinstance(amount, (int, float)) \
                or not 0 <= amount <= MAX_COST or amount != amount:
            checker.problem(path + (outcome,), f"the cost of {outcome} is a number from 0 to "
                                               f"{MAX_COST:g}, not {amount!r}")
            continue
        costs[outcome] = float(amount)
    return costs
