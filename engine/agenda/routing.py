"""The pack's ``routing:`` rules and the choice of the agent for a lead.

``routing: {sales: [{when: ..., team: experts}, {team: field, match: zones}]}``:
for the queue ``sales``, the first rule whose ``when`` holds names the team;
``match: zones`` keeps the team's active agents whose zones (postal-code
prefixes) match the contact's postal code, the longest prefix winning; then
the agents with most of the rule's ``skills`` (values read from the contact,
such as the product asked for), then the least loaded on the task's day, then
the agent id (a stable tie-break). A lead no agent matches goes to the team's
``default`` agent, else to the unassigned queue. A queue without rules (or
whose rules all fail) is a team name itself.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from engine.agenda.model import Agent
from engine.language.expressions import Expression

POSTAL_CODE = "postal_code"  # the contact attribute zones are matched against


@dataclass(frozen=True)
class RoutingRule:
    team: str
    when: Expression | None = None
    match: str | None = None  # "zones"
    skills: tuple[Expression, ...] = ()


@dataclass(frozen=True)
class Choice:
    """The agent chosen (None: unassigned), the team, and how."""

    agent: Agent | None
    team: str | None
    how: str  # sticky | routing | zones | default | unassigned


def choose_agent(rules: Sequence[RoutingRule], queue: str, agents: Sequence[Agent],
                 evaluate: Callable[[Expression], Any], profile: Mapping[str, Any],
                 loads: Mapping[str, int], sticky: str | None,
                 exclude: frozenset[str] = frozenset()) -> Choice:
    """The agent for a task of ``queue`` (see the module's docstring).

    ``evaluate`` reads an expression on the contact; ``loads`` are the agents'
    calls on the task's day; ``sticky`` is the contact's agent for this queue.
    """
    active = [a for a in agents if a.active and a.agent_id not in exclude]
    if sticky is not None:
        kept = next((a for a in active if a.agent_id == sticky), None)
        if kept is not None:
            return Choice(kept, kept.team, "sticky")
    for rule in rules:
        if rule.when is None or _true(evaluate, rule.when):
            return _within_team(rule, active, evaluate, profile, loads)
    return _within_team(RoutingRule(team=queue), active, evaluate, profile, loads)


def _true(evaluate: Callable[[Expression], Any], expr: Expression) -> bool:
    try:
        return bool(evaluate(expr))
    except (TypeError, ValueError, KeyError):
        return False


def _within_team(rule: RoutingRule, active: list[Agent], evaluate, profile, loads) -> Choice:
    team = [a for a in active if a.team == rule.team]
    pool, how = team, "routing"
    if rule.match == "zones":
        pool, how = zone_matches(team, str(profile.get(POSTAL_CODE) or "")), "zones"
    pool = [a for a in pool if not a.default] or pool
    if not pool:
        fallback = sorted((a for a in team if a.default), key=lambda a: a.agent_id)
        if fallback:
            return Choice(fallback[0], rule.team, "default")
        return Choice(None, rule.team, "unassigned")
    wanted = {str(v).lower() for v in (_value(evaluate, e) for e in rule.skills) if v}
    best = min(pool, key=lambda a: (-len(wanted & {s.lower() for s in a.skills}),
                                    loads.get(a.agent_id, 0), a.agent_id))
    return Choice(best, rule.team, how)


def _value(evaluate, expr: Expression) -> Any:
    try:
        return evaluate(expr)
    except (TypeError, ValueError, KeyError):
        return None


def zone_matches(agents: list[Agent], postal_code: str) -> list[Agent]:
    """The agents whose longest zone matching ``postal_code`` is the longest of all."""
    code = postal_code.replace(" ", "").upper()
    if not code:
        return []
    scored = [(max((len(z) for z in a.zones if code.startswith(z.upper())), default=0), a)
              for a in agents]
    longest = max((length for length, _ in scored), default=0)
    return [a for length, a in scored if length and length == longest]
