"""Lint: what is not an error in a pack but what its author wants to know.

``lint_pack`` runs on a pack that compiles (the validator has the last word on
errors) and returns findings, each with its line, key path, a code and a
sentence saying why it matters. Every check reads the compiled plan and, for
lines and template texts, the pack's YAML; none runs a decision.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterator

from engine.language.loader import LocatedYAML, Path, format_path, read_yaml
from engine.plan import ActionPlan, Plan, PressureRule

_CONTACT_ATTRIBUTE = re.compile(r"\bcontact\.([A-Za-z_][A-Za-z0-9_]*)")
_FACT_READ = re.compile(r"\bfacts\.([A-Za-z_][A-Za-z0-9_]*)")
_COMPARISONS = {ast.Gt: ">", ast.GtE: ">=", ast.Lt: "<", ast.LtE: "<=", ast.Eq: "=="}


@dataclass(frozen=True)
class Finding:
    """One thing worth an author's attention, located in the pack."""

    line: int | None
    path: str
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.line or '?'}: {self.path}: {self.message} [{self.code}]"


def lint_pack(plan: Plan, now: datetime) -> list[Finding]:
    """Every finding about ``plan`` (compiled from ``plan.source``) as of ``now``."""
    doc, _ = read_yaml(plan.source, plan.name)
    if doc is None:
        return []
    checks = (_never_chosen(plan, now), _no_consent_path(plan), _pressure_findings(plan),
              _inbound_without_fallback(plan), _waits_past_their_window(plan),
              _unread_facts(plan, doc), _untested_attributes(doc))
    findings = [Finding(doc.line_of(path), format_path(path), code, message)
                for check in checks for path, code, message in check]
    return sorted(findings, key=lambda f: (f.line or 0, f.path, f.code))


Raw = Iterator[tuple[Path, str, str]]


# -- actions that can never be chosen ---------------------------------------------


def _never_chosen(plan: Plan, now: datetime) -> Raw:
    fallbacks = {a for slots in plan.fallbacks.values() for a in slots.values()}
    for action in plan.actions:
        path = ("actions", action.index)
        if action.valid_until is not None and action.valid_until <= now:
            last_day = (action.valid_until - timedelta(microseconds=1)).astimezone(plan.tz)
            yield path + ("valid", "until"), "validity_ended", (
                f"{action.id} can never be chosen: its validity ended on "
                f"{last_day.date().isoformat()}; remove it or extend valid.until")
        reason = _contradiction(action.when.source) \
            if action.when is not None and action.id not in fallbacks else None
        if reason:
            yield path + ("when",), "when_never_true", (
                f"{action.id} can never be chosen: its when is never true ({reason})")
        winner = _always_beaten_by(plan, action)
        if winner is not None:
            yield path, "always_outranked", (
                f"{action.id} can never be chosen: {winner.id}, in the same group "
                f"{action.group}, offers every one of its channels with a condition at least as "
                f"broad and always scores higher; only one action of a group is answered")


def _no_consent_path(plan: Plan) -> Raw:
    """Marketing actions whose ``when`` requires, on every one of their channels, the
    very consent that channel needs to be absent (an opt-in invitation written as a
    relational email: no contact can both lack the consent and receive it)."""
    for action in plan.actions:
        if not action.marketing or action.when is None:
            continue
        terms = _conjuncts(action.when.source)
        if all(_refuses_consent(terms, c, plan.channels[c].consent) for c in action.channels):
            channels = ", ".join(action.channels)
            yield ("actions", action.index, "when"), "consent_never_given", (
                f"{action.id} can never be chosen: it is {action.kind}, so {channels} "
                f"needs the contact's consent, and its when asks for contacts without it; "
                f"make it a service action if it asks for consent")


def _conjuncts(source: str) -> set[str]:
    """The terms a condition requires, as normalised text (``a and b``: both)."""
    try:
        tree = ast.parse(source.strip(), mode="eval").body
    except SyntaxError:
        return set()
    terms = tree.values if isinstance(tree, ast.BoolOp) and isinstance(tree.op, ast.And) \
        else [tree]
    return {ast.unparse(term) for term in terms}


def _refuses_consent(terms: set[str], channel: str, mode: str) -> bool:
    given = f"contact.consents.{channel}"
    refused = {f"{given} == false", f"{given} == False"}
    missing = {f"not {given}", f"{given} != true", f"{given} != True", f"{given} == null",
               f"{given} == None"}
    return bool(terms & (refused if mode == "opt_out" else refused | missing))


def _contradiction(source: str) -> str | None:
    """Why a condition is never true, when that can be seen from its text alone."""
    try:
        tree = ast.parse(source.strip(), mode="eval").body
    except SyntaxError:
        return None
    if isinstance(tree, ast.Name) and tree.id in ("false", "False"):
        return "it is false"
    if isinstance(tree, ast.Constant) and not tree.value:
        return "it is false"
    if isinstance(tree, ast.BoolOp) and isinstance(tree.op, ast.And):
        return _conflicting_bounds(tree.values)
    return None


def _conflicting_bounds(terms: list[ast.expr]) -> str | None:
    """``x > 5 and x < 3``: bounds of one value against numbers that no value meets."""
    low: dict[str, tuple[float, bool, str]] = {}
    high: dict[str, tuple[float, bool, str]] = {}
    for term in terms:
        bound = _bound(term)
        if bound is None:
            continue
        name, op, number, text = bound
        if op in (">", ">=", "=="):
            low[name] = max(low.get(name, (float("-inf"), True, "")), (number, op == ">", text))
        if op in ("<", "<=", "=="):
            high[name] = min(high.get(name, (float("inf"), True, "")),
                             (number, op == "<", text), key=lambda b: (b[0], not b[1]))
    for name in low.keys() & high.keys():
        (lo, lo_strict, lo_text), (hi, hi_strict, hi_text) = low[name], high[name]
        if lo > hi or (lo == hi and (lo_strict or hi_strict)):
            return f"{lo_text} and {hi_text} cannot both hold"
    return None


def _bound(term: ast.expr) -> tuple[str, str, float, str] | None:
    if not (isinstance(term, ast.Compare) and len(term.ops) == 1):
        return None
    op = _COMPARISONS.get(type(term.ops[0]))
    left, right = term.left, term.comparators[0]
    if op is None or not isinstance(right, ast.Constant) or isinstance(right.value, bool) \
            or not isinstance(right.value, (int, float)):
        return None
    return ast.unparse(left), op, float(right.value), ast.unparse(term)


def _always_beaten_by(plan: Plan, action: ActionPlan) -> ActionPlan | None:
    """A rival of its group that is eligible whenever it is and always scores higher."""
    if action.group is None or not action.fixed_scores:
        return None
    for rival in plan.actions:
        if rival is action or rival.group != action.group or not rival.fixed_scores:
            continue
        if _at_least_as_available(rival, action) and all(
                rival.fixed_scores.get(c, float("-inf")) > action.fixed_scores[c]
                for c in action.channels):
            return rival
    return None


def _at_least_as_available(rival: ActionPlan, action: ActionPlan) -> bool:
    broader = rival.when is None or (action.when is not None
                                     and rival.when.source == action.when.source)
    unrestricted = (rival.repeat is None and rival.valid_from is None
                    and rival.valid_until is None and not rival.suppress_rules.get(
                        rival.channels[0]) and rival.kind == action.kind
                    and (not rival.placements or rival.placements >= action.placements))
    return broader and unrestricted and set(action.channels) <= set(rival.channels)


# -- pressure rules ---------------------------------------------------------------


def _pressure_findings(plan: Plan) -> Raw:
    rules = list(enumerate(plan.pressure))
    for index, rule in rules:
        path = ("policies", "pressure", index)
        for _, other in rules:
            if other is not rule and _makes_redundant(other, rule):
                yield path, "redundant_pressure", (
                    f"{rule.id} never refuses anything {other.id} does not already refuse: "
                    f"{other.id} covers at least the same contacts with a tighter or equal cap")
                break
        if rule.max is not None and rule.max > 1 and rule.per is not None:
            for _, gap in rules:
                if gap.min_gap is not None and _covers(gap, rule) \
                        and gap.min_gap * (rule.max - 1) >= rule.per:
                    yield path, "unreachable_cap", (
                        f"{rule.id} allows {rule.max} per {_days(rule.per)} but {gap.id} "
                        f"keeps {_days(gap.min_gap)} between contacts: the cap can never be "
                        "reached, one of the two rules is probably wrong")
                    break


def _covers(wide: PressureRule, narrow: PressureRule) -> bool:
    """Every action and channel ``narrow`` applies to, ``wide`` applies to as well."""
    return (narrow.kinds <= wide.kinds
            and (not wide.channels or (bool(narrow.channels) and narrow.channels <= wide.channels))
            and (not wide.programs or (bool(narrow.programs)
                                       and narrow.programs <= wide.programs)))


def _makes_redundant(other: PressureRule, rule: PressureRule) -> bool:
    if not _covers(other, rule) or (other.calendar != rule.calendar):
        return False
    if rule.min_gap is not None:
        return other.min_gap is not None and other.min_gap >= rule.min_gap
    if other.max is None or other.per is None or rule.per is None:
        return False
    if (other.max, other.per, other.kinds, other.channels, other.programs) == \
            (rule.max, rule.per, rule.kinds, rule.channels, rule.programs):
        return other.id < rule.id  # two identical rules: report one of them
    return other.max <= rule.max and other.per >= rule.per


def _days(span: timedelta) -> str:
    hours = span.total_seconds() / 3600
    return f"{hours / 24:g}d" if hours >= 24 and hours % 24 == 0 else f"{hours:g}h"


# -- channels, journeys, facts, templates ---------------------------------------


def _inbound_without_fallback(plan: Plan) -> Raw:
    for name, channel in plan.channels.items():
        if channel.inbound and name not in plan.fallbacks:
            yield ("channels", name), "inbound_without_fallback", (
                f"{name} is inbound but has no fallback: when nothing is eligible, or the "
                f"store is down, its slot stays empty (add fallbacks: {{{name}: "
                "{default: <action>}})")


def _waits_past_their_window(plan: Plan) -> Raw:
    for j, journey in enumerate(plan.journeys):
        for step in journey.steps:
            reach = step.when.history_reach if step.when is not None else None
            if step.wait and reach and reach < step.wait:
                yield ("journeys", j, "steps", step.index, "when"), "wait_beyond_window", (
                    f"step {step.id} waits {_days(step.wait)} and then reads "
                    f"{_days(reach)} of history: what happened early in the wait is "
                    "not seen; read at least as far back as the step waits")


def _unread_facts(plan: Plan, doc: LocatedYAML) -> Raw:
    readers = {k: v for k, v in doc.data.items() if k not in ("facts", "tests")}
    readers["facts"] = [spec.get("when") for spec in doc.data.get("facts") or ()
                        if isinstance(spec, dict)]
    read = set()
    for text in _texts(readers):
        read |= set(_FACT_READ.findall(text))
    for index, spec in enumerate(doc.data.get("facts") or ()):
        for name in (spec.get("set") or {}):
            if name not in read:
                yield ("facts", index, "set", name), "fact_never_read", (
                    f"facts.{name} is set by {spec.get('id')} but no condition, formula "
                    "or template reads it (it only shows in explanations)")


def _provided_by_tests(data: dict[str, Any]) -> set[str]:
    """Profile attributes some test gives its contact: directly, in a request's
    profile, in a timeline's profile change, or through the events it posts
    (a declared event's ``set:``)."""
    provided: set[str] = set()
    events = data.get("events") if isinstance(data.get("events"), dict) else {}
    for test in data.get("tests") or ():
        provided |= set((test.get("contact") or {}).keys())
        provided |= set(((test.get("request") or {}).get("profile") or {}).keys())
        for item in test.get("timeline") or ():
            provided |= set((item.get("profile") or {}).keys())
            declared = events.get(item.get("event")) if item.get("event") else None
            provided |= set(((declared or {}).get("set") or {}).keys())
    return provided


def _untested_attributes(doc: LocatedYAML) -> Raw:
    if not doc.data.get("tests"):
        return
    provided = _provided_by_tests(doc.data)
    for index, action in enumerate(doc.data.get("actions") or ()):
        used = set()
        for text in _texts(action.get("content") or {}):
            used |= set(_CONTACT_ATTRIBUTE.findall(text))
        for name in sorted(used - provided):
            yield ("actions", index, "content"), "template_untested", (
                f"the content of {action.get('id')} uses contact.{name}, which no test's "
                "contact provides: its rendering is never tested")


def _texts(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item)
