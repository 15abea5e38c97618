"""The arbitration formula applied to one candidate."""
from __future__ import annotations

from typing import Any

from engine.language.expressions import Expression
from engine.language.vocabulary import Scope

_NUMBER = (int, float)


def as_number(value: object) -> float:
    """A number, or 0 for null and anything that is not a number."""
    return float(value) if type(value) in _NUMBER else 0.0


def arbitration_score(formula: Expression, propensity: float, action: Any, cost: float,
                      scope: Scope | None = None) -> float:
    """The formula's value for a candidate, with its propensity, value, priority and cost."""
    scope = scope or Scope({}, {}, {}, None, None, None)  # type: ignore[arg-type]
    names = scope.names
    names["propensity"] = propensity
    names["value"] = action.value
    names["priority"] = action.priority
    names["cost"] = cost
    return as_number(formula.evaluate(scope))
