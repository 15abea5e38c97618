"""A compiled plan as one durable-rules ruleset, checked against the engine's limits.

Facts rules match *subject* facts, one per stratum of the forward chaining
(split in chunks when a stratum has many rules); each candidate (action,
channel) has its own fact and its rules: one that lets it through, one per
check that can exclude it. A sentinel rule at the lowest salience matches
every subject fact, so every state has dispatched an action before it is
deleted.

Limits measured on durable-rules 2.0.28 with small probe scripts: more than 64
activations for one fact raise error 303; about 252 properties on a fact
raise error 302; a conjunction of 100 tests aborted the process. A pack that
would come near them is refused here, with the rule to blame.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

from engine.durable.conditions import (
    FALSE,
    TRUE,
    Lowering,
    Operand,
    Operands,
    UnsupportedCondition,
    activations,
    all_of,
    branches,
    to_json,
    widest,
)
from engine.durable.policies import POLICY_RULES, Measure, PolicyRule
from engine.errors import InvalidPack, PackProblem
from engine.plan import ActionPlan, FactRule, Plan

MAX_ACTIVATIONS = 60  # per fact; durable-rules fails beyond 64
MAX_PROPERTIES = 200  # per fact; durable-rules fails beyond about 252
MAX_BRANCHES = 20_000  # conjunctions one rule expands to (15,625 measured fine)
MAX_WIDTH = 40  # tests in one conjunction; 100 aborted the process
SENTINEL = "sentinel"
_BASE = 4  # sid, id, t and the key carried by every fact


@dataclass(frozen=True)
class SubjectChunk:
    """One subject fact: some facts rules of one stratum and the operands they read."""

    key: str
    rules: tuple[int, ...]
    operands: tuple[Operand, ...]


@dataclass(frozen=True)
class Candidate:
    """One (action, channel) pair: its fact's key, operands and checks."""

    key: int
    action: ActionPlan
    operands: tuple[Operand, ...]
    policies: tuple[PolicyRule, ...]
    measures: tuple[tuple[str, Measure], ...]


@dataclass
class RulesetPlan:
    """Everything needed to load and run one pack in durable-rules."""

    name: str
    rules: dict[str, dict[str, Any]] = field(default_factory=dict)
    # rule name -> ("fact", position) | ("pass", key) | ("exclude", (key, policy)) | ("sentinel", 0)
    meanings: dict[str, tuple[str, Any]] = field(default_factory=dict)
    strata: list[list[SubjectChunk]] = field(default_factory=list)
    candidates: dict[str, list[Candidate]] = field(default_factory=dict)
    facts: tuple[FactRule, ...] = ()


def ruleset_name(plan: Plan, serial: int) -> str:
    """A name no other ruleset of the process has (they cannot be replaced)."""
    digest = re.sub(r"[^0-9a-f]", "", plan.hash.split(":")[-1])[:16]
    return f"nba_{re.sub(r'[^A-Za-z0-9_]', '_', plan.name)}_{digest}_{serial}"


def build_ruleset(plan: Plan, name: str) -> RulesetPlan:
    """The ruleset for ``plan``; InvalidPack if durable-rules cannot run it safely."""
    builder = _Builder(plan, name)
    builder.build()
    if builder.problems:
        raise InvalidPack(builder.problems)
    return builder.result


def strata_of(facts: tuple[FactRule, ...]) -> list[int]:
    """The stratum of each facts rule (0 reads no derived fact)."""
    setters: dict[str, list[int]] = {}
    levels: list[int] = []
    for position, rule in enumerate(facts):
        needed = [levels[s] for key in rule.when.facts_read for s in setters.get(key, ())]
        levels.append(1 + max(needed) if needed else 0)
        for key in rule.sets:
            setters.setdefault(key, []).append(position)
    return levels


class _Builder:
    def __init__(self, plan: Plan, name: str):
        self.plan = plan
        self.result = RulesetPlan(name=name, facts=plan.facts)
        self.operands = Operands()
        self.problems: list[PackProblem] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append(PackProblem(f"pack {self.plan.name}", None, path,
                                         f"the durable engine cannot run this: {message}"))

    def build(self) -> None:
        self.build_strata()
        self.add_rule(SENTINEL, {"t": "s"}, TRUE, ("sentinel", 0), priority=1000)
        key = 0
        for channel in self.plan.channels:
            found = []
            for action, checks in self.plan.candidates[channel]:
                found.append(self.build_candidate(key, action, channel, checks))
                key += 1
            self.result.candidates[channel] = found

    # --- facts rules ----------------------------------------------------------

    def build_strata(self) -> None:
        levels = strata_of(self.plan.facts)
        for level in range(max(levels, default=0) + 1):
            chunks: list[SubjectChunk] = []
            rules: list[tuple[int, Any, list[Operand]]] = []
            for position, rule in enumerate(self.plan.facts):
                if levels[position] == level:
                    rules.append((position, *self.fact_condition(rule)))
            for group in self.chunked(rules):
                chunk_key = f"s{level}.{len(chunks)}"
                used = tuple(dict.fromkeys(o for _, _, ops in group for o in ops))
                chunks.append(SubjectChunk(chunk_key, tuple(p for p, _, _ in group), used))
                for position, cond, _ in group:
                    self.add_rule(f"f{position}", {"t": "s", "k": chunk_key}, cond,
                                  ("fact", position))
            self.result.strata.append(chunks)

    def fact_condition(self, rule: FactRule) -> tuple[Any, list[Operand]]:
        lowering = Lowering(self.operands)
        try:
            cond, _ = lowering.condition(rule.when)
        except UnsupportedCondition as exc:
            self.problem(f"facts.{rule.id}.when", str(exc))
            return FALSE, []
        self.check_size(f"facts.{rule.id}.when", cond)
        if len(lowering.used) + _BASE > MAX_PROPERTIES:
            self.problem(f"facts.{rule.id}.when", f"it reads {len(lowering.used)} values "
                                                  f"(at most {MAX_PROPERTIES - _BASE})")
        return cond, lowering.used

    def chunked(self, rules: list[tuple[int, Any, list[Operand]]]) -> list[list]:
        """Rules grouped so that no subject fact exceeds the engine's limits."""
        groups: list[list] = [[]]
        load, operands = 1, set()  # the sentinel
        for item in rules:
            more = activations(item[1])
            new = operands | set(item[2])
            if groups[-1] and (load + more > MAX_ACTIVATIONS
                               or len(new) + _BASE > MAX_PROPERTIES):
                groups.append([])
                load, new = 1, set(item[2])
            groups[-1].append(item)
            load, operands = load + more, new
        return groups

    # --- candidates -----------------------------------------------------------

    def build_candidate(self, key: int, action: ActionPlan, channel: str,
                        checks: tuple[Callable[..., Any], ...]) -> Candidate:
        lowering = Lowering(self.operands)
        path = f"actions.{action.id}"
        try:
            policies = tuple(POLICY_RULES[c](action, self.plan.channels[channel], lowering)
                             for c in checks)
        except UnsupportedCondition as exc:
            self.problem(f"{path}.when", str(exc))
            policies = ()
        measures = tuple(m for p in policies for m in p.measures)
        candidate = Candidate(key, action, tuple(lowering.used), policies, measures)
        passes = all_of(*[p.passes for p in policies])
        self.add_rule(f"p{key}", {"t": "c", "a": key}, passes, ("pass", key))
        for index, policy in enumerate(policies):
            self.add_rule(f"x{key}_{index}", {"t": "c", "a": key}, policy.excludes,
                          ("exclude", (key, index)))
            self.check_size(path, policy.excludes)
        self.check_size(path, passes)
        load = activations(passes) + sum(activations(p.excludes) for p in policies)
        if load > MAX_ACTIVATIONS:
            self.problem(path, f"its conditions can match {load} ways at once on {channel} "
                               f"(at most {MAX_ACTIVATIONS}); split its or-conditions")
        properties = _BASE + len(candidate.operands) + len(measures)
        if properties > MAX_PROPERTIES:
            self.problem(path, f"it reads {properties} values (at most {MAX_PROPERTIES})")
        return candidate

    # --- rules ------------------------------------------------------------------

    def check_size(self, path: str, cond: Any) -> None:
        if branches(cond) > MAX_BRANCHES:
            self.problem(path, f"the condition expands to {branches(cond)} alternatives "
                               f"(at most {MAX_BRANCHES})")
        if widest(cond) > MAX_WIDTH:
            self.problem(path, f"the condition combines {widest(cond)} tests in one "
                               f"alternative (at most {MAX_WIDTH})")

    def add_rule(self, name: str, base: dict[str, Any], cond: Any, meaning: tuple[str, Any],
                 priority: int = 1) -> None:
        if cond == FALSE:
            return  # can never match
        tests = [{k: v} for k, v in base.items()]
        if cond != TRUE:
            body = to_json(cond)
            tests += body.get("$and", [body])
        self.result.rules[name] = {"pri": priority, "all": [{"m": {"$and": tests}}]}
        self.result.meanings[name] = meaning



def describe_rule(spec: RulesetPlan, name: str) -> str:
    """Where a rule of the ruleset comes from in the pack."""
    kind, ref = spec.meanings.get(name, ("", None))
    if kind == "fact":
        return f"facts.{spec.facts[ref].id}.when"
    if kind in ("pass", "exclude"):
        key = ref if kind == "pass" else ref[0]
        for channel, candidates in spec.candidates.items():
            for candidate in candidates:
                if candidate.key == key:
                    return f"actions.{candidate.action.id} (on {channel})"
    return name
