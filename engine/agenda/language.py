"""Compiling a pack's ``routing:`` section and journeys' ``task:`` steps.

``routing: {sales: [{when: 'contact.product == "credit"', team: experts},
{team: field, match: zones, skills: [contact.product]}]}``;
``task: {team: sales, action: lead_call, due: 1d, duration: 15m, attempts: 3}``
in a journey step. Problems are recorded on the pack compiler with their file,
line and key path.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from engine.agenda.routing import RoutingRule
from engine.language.checks import Checker
from engine.language.expressions import Expression
from engine.language.loader import Path

RULE_KEYS = ("when", "team", "match", "skills", "description")
TASK_KEYS = ("team", "action", "channel", "due", "duration", "attempts", "result_within")
MATCHES = ("zones",)
DEFAULT_CHANNEL = "call"
DEFAULT_DURATION = timedelta(minutes=15)
DEFAULT_RESULT_WITHIN = timedelta(days=14)
MAX_ATTEMPTS = 10


@dataclass(frozen=True)
class TaskStepPlan:
    """A journey step's call task: the routing queue, the action the call
    presents, how long after entering the step it is due at the earliest,
    its length, how many calls a ``no_answer`` allows, and how long the run
    waits for the result once the call is open."""

    queue: str
    action: str
    channel: str = DEFAULT_CHANNEL
    due: timedelta = timedelta(0)
    duration: timedelta = DEFAULT_DURATION
    attempts: int = 1
    result_within: timedelta = DEFAULT_RESULT_WITHIN


def compile_routing(checker: Checker, raw: Any) -> tuple[dict[str, tuple[RoutingRule, ...]],
                                                         list[tuple[Path, Expression]]]:
    """The routing queues by name, and the expressions they read."""
    read: list[tuple[Path, Expression]] = []
    if raw is None:
        return {}, read
    if not isinstance(raw, dict):
        checker.problem(("routing",), "routing maps a queue name (the team a task step "
                                      "names) to a list of rules, like {sales: [{team: field, "
                                      "match: zones}]}")
        return {}, read
    queues = {}
    for name, rules in raw.items():
        path = ("routing", name)
        if checker.identifier(path, name) is None:
            continue
        compiled = []
        items = checker.sequence(path, rules)
        if not items:
            checker.problem(path, "a routing queue needs at least one rule")
        for index, item in enumerate(items):
            rule = _rule(checker, path + (index,), item, read)
            if rule is not None:
                compiled.append(rule)
        queues[name] = tuple(compiled)
    return queues, read


def _rule(checker: Checker, path: Path, raw: Any,
          read: list[tuple[Path, Expression]]) -> RoutingRule | None:
    spec = checker.mapping(path, raw, RULE_KEYS, ("team",))
    if spec is None:
        return None
    team = checker.identifier(path + ("team",), spec.get("team"))
    when = None
    if "when" in spec:
        when = checker.expression(path + ("when",), spec["when"])
        if when is not None:
            read.append((path + ("when",), when))
    match = spec.get("match")
    if match is not None and match not in MATCHES:
        checker.problem(path + ("match",), f"match is one of {', '.join(MATCHES)}, not "
                                           f"{match!r}")
    skills = []
    for index, text in enumerate(checker.sequence(path + ("skills",), spec.get("skills"))):
        expr = checker.expression(path + ("skills", index), text)
        if expr is not None:
            skills.append(expr)
            read.append((path + ("skills", index), expr))
    if team is None:
        return None
    return RoutingRule(team=team, when=when, match=match, skills=tuple(skills))


def compile_task(checker: Checker, path: Path, raw: Any, channels: dict,
                 actions: dict) -> TaskStepPlan | None:
    """A step's ``task:``, checked against the pack's channels and actions."""
    spec = checker.mapping(path, raw, TASK_KEYS, ("team", "action"))
    if spec is None:
        return None
    queue = checker.identifier(path + ("team",), spec.get("team"))
    channel = spec.get("channel", DEFAULT_CHANNEL)
    if channel not in channels:
        checker.problem(path + ("channel",), f"unknown channel {channel!r}; a task calls on "
                                             f"one of {', '.join(channels)} (default call)")
        return None
    if channels[channel].inbound:
        checker.problem(path + ("channel",), f"{channel} is an inbound channel; a call task "
                                             "is outbound")
    action_id = spec.get("action")
    action = actions.get(action_id) if isinstance(action_id, str) else None
    if action is None:
        checker.problem(path + ("action",), f"unknown action {action_id!r}")
    elif channel not in action.channels:
        checker.problem(path + ("action",), f"action {action_id} does not offer channel "
                                            f"{channel}")
    due = _duration(checker, path + ("due",), spec, "due", timedelta(0))
    duration = _duration(checker, path + ("duration",), spec, "duration", DEFAULT_DURATION)
    if duration is not None and not timedelta(minutes=5) <= duration <= timedelta(hours=8):
        checker.problem(path + ("duration",), "a call lasts from 5m to 8h")
    attempts = checker.integer(path + ("attempts",), spec.get("attempts", 1), 1)
    if attempts is not None and attempts > MAX_ATTEMPTS:
        checker.problem(path + ("attempts",), f"at most {MAX_ATTEMPTS} attempts")
    within = _duration(checker, path + ("result_within",), spec, "result_within",
                       DEFAULT_RESULT_WITHIN)
    if None in (queue, action, due, duration, attempts, within):
        return None
    return TaskStepPlan(queue, action_id, channel, due, duration, attempts, within)


def _duration(checker: Checker, path: Path, spec: dict, key: str,
              default: timedelta) -> timedelta | None:
    return checker.duration(path, spec[key]) if key in spec else default
