"""Validation of a pack's ``learning:`` section and of ``propensity: learned(p)``."""
from __future__ import annotations

import re
from typing import Any

from engine.learning.model import EXPLORATIONS, Learned, LearningPlan
from engine.model import OUTCOMES

LEARNING_KEYS = ("success", "prior_weight", "half_life", "segment_by", "exploration")
LEARNED = re.compile(r"^\s*learned\(\s*([0-9]*\.?[0-9]+(?:[eE]-?[0-9]+)?)\s*\)\s*$")
MAX_SEGMENT_ATTRIBUTES = 4


def is_learned(value: Any) -> bool:
    """Whether a propensity is written ``learned(...)`` (well formed or not)."""
    return isinstance(value, str) and value.strip().startswith("learned(")


def compile_learning(checker, raw: Any) -> LearningPlan:
    """The ``learning:`` section (defaults when absent); problems go to ``checker``."""
    path = ("learning",)
    spec = checker.mapping(path, raw, LEARNING_KEYS)
    if not spec:
        return LearningPlan()
    defaults = LearningPlan()
    success = _outcome(checker, path + ("success",), spec.get("success", defaults.success))
    weight = checker.number(path + ("prior_weight",), spec.get("prior_weight", 20), 0.001, 1e6)
    half_life_text = spec.get("half_life", defaults.half_life_text)
    half_life = checker.duration(path + ("half_life",), half_life_text)
    exploration = spec.get("exploration", defaults.exploration)
    if exploration not in EXPLORATIONS:
        checker.problem(path + ("exploration",), f"exploration is one of "
                                                 f"{', '.join(EXPLORATIONS)}, not {exploration!r}")
        exploration = defaults.exploration
    if half_life is not None and half_life.total_seconds() < 3600:
        checker.problem(path + ("half_life",), "half_life is at least 1h")
        half_life = None
    return LearningPlan(success=success or defaults.success,
                        prior_weight=weight if weight is not None else defaults.prior_weight,
                        half_life=half_life or defaults.half_life,
                        half_life_text=str(half_life_text) if half_life else "30d",
                        segment_by=_segments(checker, path + ("segment_by",),
                                             spec.get("segment_by")),
                        exploration=exploration)


def compile_learned(checker, path, value: str, success: Any, learning: LearningPlan) -> Learned | None:
    """``learned(0.08)``: a prior mean strictly between 0 and 1."""
    match = LEARNED.match(value)
    prior = float(match.group(1)) if match else None
    if prior is None or not 0 < prior < 1:
        checker.problem(path, "learned(p) takes the prior mean of the action's success rate, "
                              f"a number between 0 and 1 exclusive, like learned(0.08); got {value!r}")
        return None
    outcome = learning.success if success is None else _outcome(
        checker, path[:-1] + ("success",), success)
    return Learned(prior, outcome or learning.success)


def _outcome(checker, path, value: Any) -> str | None:
    if value not in OUTCOMES:
        checker.problem(path, f"success is an outcome: one of {', '.join(OUTCOMES)}, not {value!r}")
        return None
    return value


def _segments(checker, path, raw: Any) -> tuple[tuple[str, Any], ...]:
    items = checker.sequence(path, raw)
    if len(items) > MAX_SEGMENT_ATTRIBUTES:
        checker.problem(path, f"segment_by takes at most {MAX_SEGMENT_ATTRIBUTES} attributes "
                              "(each combination of values gets its own posterior)")
        return ()
    compiled = []
    for index, item in enumerate(items):
        if not isinstance(item, str) or not re.fullmatch(r"(facts|contact)\.[A-Za-z_][\w.]*", item):
            checker.problem(path + (index,), "segment_by lists attributes such as "
                                             f"facts.lifecycle or contact.segment, not {item!r}")
            continue
        expression = checker.expression(path + (index,), item)
        if expression is not None:
            compiled.append((item.rsplit(".", 1)[-1], expression))
    return tuple(compiled)
