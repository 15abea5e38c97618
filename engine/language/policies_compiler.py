"""Compiling the ``policies`` section of a pack (the ``tests`` section is
engine/language/pack_tests.py)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.language.checks import Checker
from engine.language.expressions import Expression, compile_expression
from engine.language.loader import Path
from engine.language.vocabulary import ARBITRATION_NAMES, ARBITRATION_ROOTS
from engine.model import MARKETING_KINDS, OUTCOMES
from engine.plan import ActionPlan, PressureRule, SuppressRule

DEFAULT_ARBITRATION = "propensity * value * priority / 100 - cost"
PRESSURE_KEYS = ("id", "kinds", "channels", "programs", "max", "per", "calendar", "min_gap",
                 "budget", "weights", "description")
SUPPRESS_KEYS = ("id", "after", "same_action_for", "same_program_for", "for", "kinds",
                 "channels", "programs", "description")
PRESSURE_REQUIRED = ("id",)
SUPPRESS_REQUIRED = ("after",)
SUPPRESS_SCOPES = {"same_action_for": "action", "same_program_for": "program", "for": "all"}
@dataclass(frozen=True)
class CompiledPolicies:
    pressure: tuple[PressureRule, ...]
    suppress: tuple[SuppressRule, ...]
    arbitration: Expression
    min_score: float | None = None


def compile_policies(checker: Checker, raw: Any, channels: tuple[str, ...],
                     actions: tuple[ActionPlan, ...]) -> CompiledPolicies:
    spec = checker.mapping(("policies",), raw, ("pressure", "suppress", "arbitration",
                                                "min_score")) or {}
    programs = tuple(sorted({a.program for a in actions}))
    seen: dict[str, Path] = {}
    pressure = tuple(
        rule for index, item in enumerate(checker.sequence(("policies", "pressure"),
                                                           spec.get("pressure")))
        if (rule := _pressure(checker, ("policies", "pressure", index), item, channels,
                              programs, seen)) is not None)
    suppress = tuple(
        rule for index, item in enumerate(checker.sequence(("policies", "suppress"),
                                                           spec.get("suppress")))
        if (rule := _suppress(checker, ("policies", "suppress", index), item, channels,
                              programs, seen)) is not None)
    arbitration = checker.expression(("policies", "arbitration"),
                                     spec.get("arbitration", DEFAULT_ARBITRATION),
                                     ARBITRATION_NAMES, ARBITRATION_ROOTS)
    min_score = None
    if spec.get("min_score") is not None:
        min_score = checker.number(("policies", "min_score"), spec["min_score"])
    return CompiledPolicies(pressure, suppress,
                            arbitration or compile_expression(DEFAULT_ARBITRATION,
                                                              ARBITRATION_NAMES), min_score)


def _pressure(checker: Checker, path: Path, item: Any, channels, programs,
              seen: dict[str, Path]) -> PressureRule | None:
    spec = checker.mapping(path, item, PRESSURE_KEYS, PRESSURE_REQUIRED)
    if spec is None:
        return None
    rule_id = checker.identifier(path + ("id",), spec.get("id"))
    checker.unique(path + ("id",), seen, rule_id, "policy")
    kinds = checker.names(path + ("kinds",), spec.get("kinds", sorted(MARKETING_KINDS)),
                          sorted(MARKETING_KINDS), "marketing kind (transactional and service "
                                                   "actions never count toward pressure)")
    if "budget" in spec or "weights" in spec:
        return _budget(checker, path, spec, rule_id, kinds, channels, programs)
    cap = "max" in spec or "per" in spec
    if cap == ("min_gap" in spec):
        checker.problem(path, "a pressure rule has either max and per, min_gap, or budget, "
                              "per and weights")
        return None
    calendar = _calendar(checker, path, spec) if cap else None
    rule = PressureRule(
        id=rule_id or "", kinds=kinds,
        channels=checker.names(path + ("channels",), spec.get("channels", []), channels, "channel"),
        programs=checker.names(path + ("programs",), spec.get("programs", []), programs, "program"),
        max=checker.integer(path + ("max",), spec.get("max"), 1) if cap else None,
        per=checker.duration(path + ("per",), spec.get("per")) if cap else None,
        calendar=calendar,
        min_gap=None if cap else checker.duration(path + ("min_gap",), spec.get("min_gap")),
    )
    return rule if rule_id else None


def _budget(checker: Checker, path: Path, spec: dict[str, Any], rule_id, kinds, channels,
            programs) -> PressureRule | None:
    """``{budget: 10, per: 7d, weights: {call: 5, sms: 3, email: 1}}``: each contact counts
    its channel's weight; channels without a weight do not count."""
    for key in ("budget", "per", "weights"):
        if key not in spec:
            checker.problem(path, f"a weighted budget has budget, per and weights; {key} is "
                                  "missing")
            return None
    for key in ("max", "min_gap", "channels"):
        if key in spec:
            checker.problem(path + (key,), f"a weighted budget has no {key}: the weights say "
                                           "which channels count and how much")
    budget = checker.number(path + ("budget",), spec["budget"], 0.001)
    weights_spec = spec["weights"]
    if not isinstance(weights_spec, dict) or not weights_spec:
        checker.problem(path + ("weights",), "weights map channels to what one contact costs, "
                                             "like {call: 5, sms: 3, email: 1}")
        return None
    weights = {}
    for channel, weight in weights_spec.items():
        if channel not in channels:
            checker.problem(path + ("weights", channel),
                            f"unknown channel {channel!r}; known: {', '.join(channels)}")
            continue
        number = checker.number(path + ("weights", channel), weight, 0)
        if number:
            weights[channel] = number
    calendar = _calendar(checker, path, spec)
    per = checker.duration(path + ("per",), spec["per"])
    if budget is None or per is None or not rule_id:
        return None
    return PressureRule(id=rule_id, kinds=kinds, channels=frozenset(weights),
                        programs=checker.names(path + ("programs",), spec.get("programs", []),
                                               programs, "program"),
                        per=per, calendar=calendar, budget=budget, weights=weights)


def _calendar(checker: Checker, path: Path, spec: dict[str, Any]) -> str | None:
    if not checker.boolean(path + ("calendar",), spec.get("calendar", False)):
        return None
    per = str(spec.get("per", "")).strip()
    if per.endswith("d"):
        return "days"
    if per.endswith("w"):
        return "weeks"
    checker.problem(path + ("per",), "calendar windows are counted in days (1d) or weeks (1w)")
    return None


def _suppress(checker: Checker, path: Path, item: Any, channels, programs,
              seen: dict[str, Path]) -> SuppressRule | None:
    spec = checker.mapping(path, item, SUPPRESS_KEYS, SUPPRESS_REQUIRED)
    if spec is None:
        return None
    rule_id = spec.get("id", f"suppress_{path[-1] + 1}")
    checker.identifier(path + ("id",), rule_id)
    checker.unique(path + ("id",), seen, rule_id, "policy")
    after = checker.names(path + ("after",), spec.get("after"), OUTCOMES, "outcome")
    scopes = [key for key in SUPPRESS_SCOPES if key in spec]
    if len(scopes) != 1:
        checker.problem(path, "a suppression rule has exactly one of same_action_for, "
                              "same_program_for or for")
        return None
    period = checker.duration(path + (scopes[0],), spec[scopes[0]])
    if period is None or not after:
        return None
    return SuppressRule(
        id=rule_id, after=after, scope=SUPPRESS_SCOPES[scopes[0]], period=period,
        kinds=checker.names(path + ("kinds",), spec.get("kinds", []),
                            ("transactional", "service", "relational", "commercial"), "kind"),
        channels=checker.names(path + ("channels",), spec.get("channels", []), channels, "channel"),
        programs=checker.names(path + ("programs",), spec.get("programs", []), programs, "program"),
    )
