"""Compiling the ``policies`` and ``tests`` sections of a pack."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.checks import Checker
from engine.expressions import Expression, compile_expression
from engine.loader import Path
from engine.model import MARKETING_KINDS, OUTCOMES, POLICIES
from engine.plan import ActionPlan, PackTest, PressureRule, SuppressRule
from engine.vocabulary import ARBITRATION_NAMES

DEFAULT_ARBITRATION = "propensity * value * priority / 100 - cost"
PRESSURE_KEYS = ("id", "kinds", "channels", "programs", "max", "per", "calendar", "min_gap",
                 "description")
SUPPRESS_KEYS = ("id", "after", "same_action_for", "same_program_for", "for", "kinds",
                 "channels", "programs", "description")
SUPPRESS_SCOPES = {"same_action_for": "action", "same_program_for": "program", "for": "all"}
TEST_KEYS = ("name", "at", "contact", "history", "request", "expect", "description")
REQUEST_KEYS = ("channel", "placement", "context", "profile", "limit")
EXPECT_KEYS = ("actions", "excluded", "facts", "fallback")
HISTORY_KEYS = ("action", "channel", "at", "outcomes", "placement")


@dataclass(frozen=True)
class CompiledPolicies:
    pressure: tuple[PressureRule, ...]
    suppress: tuple[SuppressRule, ...]
    arbitration: Expression


def compile_policies(checker: Checker, raw: Any, channels: tuple[str, ...],
                     actions: tuple[ActionPlan, ...]) -> CompiledPolicies:
    spec = checker.mapping(("policies",), raw, ("pressure", "suppress", "arbitration")) or {}
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
                                     ARBITRATION_NAMES)
    return CompiledPolicies(pressure, suppress,
                            arbitration or compile_expression(DEFAULT_ARBITRATION,
                                                              ARBITRATION_NAMES))


def _pressure(checker: Checker, path: Path, item: Any, channels, programs,
              seen: dict[str, Path]) -> PressureRule | None:
    spec = checker.mapping(path, item, PRESSURE_KEYS, ("id",))
    if spec is None:
        return None
    rule_id = checker.identifier(path + ("id",), spec.get("id"))
    checker.unique(path + ("id",), seen, rule_id, "policy")
    kinds = checker.names(path + ("kinds",), spec.get("kinds", sorted(MARKETING_KINDS)),
                          sorted(MARKETING_KINDS), "marketing kind (transactional and service "
                                                   "actions never count toward pressure)")
    cap = "max" in spec or "per" in spec
    if cap == ("min_gap" in spec):
        checker.problem(path, "a pressure rule has either max and per, or min_gap")
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
    spec = checker.mapping(path, item, SUPPRESS_KEYS, ("after",))
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


def compile_tests(checker: Checker, raw: Any, channels: tuple[str, ...],
                  action_ids: tuple[str, ...]) -> tuple[PackTest, ...]:
    tests = []
    for index, item in enumerate(checker.sequence(("tests",), raw)):
        path = ("tests", index)
        spec = checker.mapping(path, item, TEST_KEYS, ("name", "at", "contact", "request", "expect"))
        if spec is None:
            continue
        _check_test(checker, path, spec, channels, action_ids)
        tests.append(PackTest(str(spec.get("name")), spec, checker.doc.line_of(path)))
    return tuple(tests)


def _check_test(checker: Checker, path: Path, spec: dict[str, Any], channels, action_ids) -> None:
    checker.text(path + ("name",), spec.get("name"))
    contact = checker.mapping(path + ("contact",), spec.get("contact"), _AnyKey(), ("id",))
    if contact is not None and "id" in contact:
        checker.text(path + ("contact", "id"), contact["id"])
    request = checker.mapping(path + ("request",), spec.get("request"), REQUEST_KEYS, ("channel",))
    if request and request.get("channel") not in channels:
        checker.problem(path + ("request", "channel"), f"unknown channel {request.get('channel')!r}")
    for number, entry in enumerate(checker.sequence(path + ("history",), spec.get("history"))):
        entry_path = path + ("history", number)
        entry = checker.mapping(entry_path, entry, HISTORY_KEYS, ("action", "channel", "at"))
        if entry:
            checker.names(entry_path + ("action",), entry.get("action"), action_ids, "action")
            checker.names(entry_path + ("channel",), entry.get("channel"), channels, "channel")
            checker.names(entry_path + ("outcomes",), entry.get("outcomes", []), OUTCOMES, "outcome")
    expect = checker.mapping(path + ("expect",), spec.get("expect"), EXPECT_KEYS) or {}
    if "actions" in expect:
        checker.names(path + ("expect", "actions"), expect["actions"], action_ids, "action")
    if "fallback" in expect and not isinstance(expect["fallback"], bool):
        checker.problem(path + ("expect", "fallback"), "expected true or false")
    excluded = checker.mapping(path + ("expect", "excluded"), expect.get("excluded"), action_ids)
    for action_id, policy in (excluded or {}).items():
        if policy not in POLICIES:
            checker.problem(path + ("expect", "excluded", action_id),
                            f"unknown policy {policy!r}; policies: {', '.join(POLICIES)}")


class _AnyKey(tuple):
    """Allows every key (a test contact's attributes are free)."""

    def __contains__(self, key: object) -> bool:
        return True
