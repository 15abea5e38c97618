"""``DurableBackend``: decisions run in durable-rules, the forward-chaining Rete engine.

What runs where, per decision (under one lock, in the calling thread):

- Python builds the decision context exactly as the compiled backend does
  (contact view, time zone, history) and measures the values conditions read:
  each operand through the pack language, and the windows of history, local
  time and counts the checks compare with the pack's limits.
- durable-rules matches the facts rules, stratum by stratum (a stratum's
  subject fact carries the facts derived by the strata before it), then every
  candidate against its eligibility and policy rules.
- Python applies the facts set by the rules that fired, then scores, ranks,
  selects and builds the reservation with the shared code in ``engine.decision.decide``.

The C core is used without ``durable.engine.Host``: no timer thread is ever
started, rulesets are created with explicit names (one per pack and load,
since they cannot be replaced) and every state is deleted after its decision,
unless the core failed during it, in which case the ruleset is retired.
"""
from __future__ import annotations

import itertools
import json
import threading
from collections import OrderedDict
from typing import Any

from engine.decision.decide import conclude, open_decision
from engine.decision.policies import DecisionContext
from engine.durable.conditions import project
from engine.durable.rulesets import (
    Candidate,
    RulesetPlan,
    build_ruleset,
    describe_rule,
    ruleset_name,
)
from engine.errors import EngineError, EngineUnavailable, InvalidPack, PackProblem
from engine.model import ContactSnapshot, Decision, DecisionRequest, Exclusion
from engine.plan import ActionPlan, Plan

KEPT_PACKS = 4  # rulesets kept ready for packs recently served (old ones serve in-flight calls)


class DurableEngineFailure(EngineUnavailable):
    """durable-rules failed during a decision; the ruleset was retired."""


class DurableDisagreement(EngineError):
    """durable-rules reached a verdict the shared checks do not confirm (a backend bug)."""


def encode(item: Any) -> str:
    """JSON as durable-rules reads it: UTF-8 text, and every float with a decimal
    point (its parser rejects ``1e-05`` and ``1e+16``)."""
    if isinstance(item, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{encode(v)}" for k, v in item.items()) + "}"
    if isinstance(item, list):
        return "[" + ",".join(encode(v) for v in item) + "]"
    if isinstance(item, float):
        text = repr(item)
        mantissa, e, exponent = text.partition("e")
        return f"{mantissa}.0e{exponent}" if e and "." not in mantissa else text
    return json.dumps(item, ensure_ascii=False)


class LoadedRuleset:
    """One pack's ruleset in the C core, and the activations of the running decision."""

    def __init__(self, spec: RulesetPlan):
        import durable_rules_engine

        from durable.engine import Promise, Ruleset  # the native engine, only when used

        self.spec = spec
        self.core = durable_rules_engine
        self.fired: list[str] = []
        ruleset = Ruleset.__new__(Ruleset)  # its __init__ would json.dumps the floats
        ruleset._name = spec.name
        ruleset._host = None
        ruleset._definition = spec.rules
        ruleset._actions = {name: Promise(self._recorder(name)) for name in spec.rules}
        try:
            ruleset._handle = durable_rules_engine.create_ruleset(spec.name, encode(spec.rules))
        except durable_rules_engine.error as exc:
            raise InvalidPack(_refused_rules(spec, exc)) from exc
        self.ruleset = ruleset

    def _recorder(self, name: str):
        fired = self.fired
        return lambda closure: fired.append(name)

    def assert_facts(self, facts: list[dict[str, Any]]) -> None:
        """Assert ``facts`` in one state and run the actions they activate."""
        if len(facts) == 1:
            result = self.core.assert_fact(self.ruleset._handle, encode(facts[0]))
        else:
            result = self.core.assert_facts(self.ruleset._handle, encode(facts))
        state = self.ruleset._handle_result(result, facts)
        errors: list[Any] = []
        self.ruleset.do_actions(state, lambda error, _: errors.append(error) if error else None)
        if errors:
            raise errors[0]

    def delete_state(self, sid: str) -> None:
        self.core.delete_state(self.ruleset._handle, sid)


def _refused_rules(spec: RulesetPlan, error: Exception) -> list[PackProblem]:
    """Which rules durable-rules refuses to load, each tried alone."""
    import durable_rules_engine

    problems = []
    for name, rule in spec.rules.items():
        try:
            durable_rules_engine.create_ruleset(f"{spec.name}_probe_{name}", encode({name: rule}))
        except durable_rules_engine.error as exc:
            problems.append(PackProblem(f"pack {spec.name}", None, describe_rule(spec, name),
                                        f"durable-rules cannot load this condition ({exc}); "
                                        "simplify it (fewer alternatives joined by or)"))
    return problems or [PackProblem(f"pack {spec.name}", None, "",
                                    f"durable-rules cannot load this pack ({error})")]


class DurableBackend:
    """Runs plans in durable-rules; same inputs and same ``Decision`` as ``compiled``."""

    name = "durable"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded: OrderedDict[str, LoadedRuleset] = OrderedDict()
        self._serial = itertools.count(1)
        self._states = itertools.count(1)

    def prepare(self, plan: Plan) -> None:
        """Compile and load ``plan``; InvalidPack if durable-rules cannot run it safely."""
        with self._lock:
            self._ruleset(plan)

    def decide(self, plan: Plan, snapshot: ContactSnapshot, request: DecisionRequest,
               decision_id: str, capacity_full: frozenset[str] = frozenset()) -> Decision:
        ctx = open_decision(plan, snapshot, request, capacity_full, decision_id)
        with self._lock:
            loaded = self._ruleset(plan)
            fired = self._run(loaded, ctx)
        facts, passed, excluded, counts = _verdicts(loaded.spec, ctx, fired)
        return conclude(ctx, request, decision_id, facts, passed, excluded, counts)

    def _ruleset(self, plan: Plan) -> LoadedRuleset:
        loaded = self._loaded.get(plan.hash)
        if loaded is None:
            spec = build_ruleset(plan, ruleset_name(plan, next(self._serial)))
            loaded = self._loaded[plan.hash] = LoadedRuleset(spec)
            while len(self._loaded) > KEPT_PACKS:
                self._loaded.popitem(last=False)  # the core cannot free it; drop our side
        self._loaded.move_to_end(plan.hash)
        return loaded

    def _run(self, loaded: LoadedRuleset, ctx: DecisionContext) -> set[str]:
        """Assert the decision's facts in a fresh state; the names of the rules fired."""
        sid = str(next(self._states))
        loaded.fired.clear()
        values: dict[int, tuple[str, Any]] = {}
        healthy = True
        try:
            for chunks in loaded.spec.strata:
                for chunk in chunks:
                    fact = {"sid": sid, "id": chunk.key, "t": "s", "k": chunk.key}
                    fact.update(_operand_attrs(chunk.operands, ctx, values))
                    loaded.assert_facts([fact])
                _apply_facts(loaded, chunks, ctx)
            candidates = _candidates(loaded.spec, ctx)
            if candidates:
                loaded.assert_facts([_candidate_fact(sid, c, ctx, values) for c in candidates])
            return set(loaded.fired)
        except Exception as exc:
            healthy = False
            self._loaded.pop(ctx.plan.hash, None)  # never reuse a ruleset the core failed in
            raise DurableEngineFailure(f"durable-rules failed on pack {ctx.plan.name} "
                                       f"{ctx.plan.version}: {exc}") from exc
        finally:
            if healthy:
                loaded.delete_state(sid)


def _candidates(spec: RulesetPlan, ctx: DecisionContext) -> list[Candidate]:
    """The channel's candidates, restricted to a journey step's actions if it names them."""
    candidates = spec.candidates[ctx.channel.name]
    if ctx.only is None:
        return candidates
    return [c for c in candidates if c.action.id in ctx.only]


def _operand_attrs(operands, ctx: DecisionContext, values: dict[int, tuple[str, Any]]
                   ) -> dict[str, Any]:
    attrs = {}
    for operand in operands:
        found = values.get(operand.index)
        if found is None:
            kind, value = project(operand.expression.evaluate(ctx.scope))
            found = values[operand.index] = (operand.attr(kind), value)
        attrs[found[0]] = found[1]
    return attrs


def _candidate_fact(sid: str, candidate: Candidate, ctx: DecisionContext,
                    values: dict[int, tuple[str, Any]]) -> dict[str, Any]:
    fact = {"sid": sid, "id": f"c{candidate.key}", "t": "c", "a": candidate.key}
    fact.update(_operand_attrs(candidate.operands, ctx, values))
    for name, measure in candidate.measures:
        value = measure(candidate.action, ctx)
        if value is not None:
            fact[name] = value
    return fact


def _apply_facts(loaded: LoadedRuleset, chunks, ctx: DecisionContext) -> None:
    """The facts set by this stratum's rules that fired, in stratified order."""
    positions = sorted(p for chunk in chunks for p in chunk.rules if f"f{p}" in loaded.fired)
    for position in positions:
        ctx.scope.facts.update(loaded.spec.facts[position].sets)


def _verdicts(spec: RulesetPlan, ctx: DecisionContext, fired: set[str]
              ) -> tuple[list[str], list[ActionPlan], list[Exclusion], dict[str, int]]:
    facts = [rule.id for position, rule in enumerate(spec.facts) if f"f{position}" in fired]
    passed: list[ActionPlan] = []
    excluded: list[Exclusion] = []
    counts: dict[str, int] = {}
    for candidate in _candidates(spec, ctx):
        failing = [i for i in range(len(candidate.policies))
                   if f"x{candidate.key}_{i}" in fired]
        through = f"p{candidate.key}" in fired
        if through == bool(failing):
            raise DurableDisagreement(
                f"{candidate.action.id} on {ctx.channel.name}: passed={through}, "
                f"excluded by checks {failing}")
        if through:
            passed.append(candidate.action)
            continue
        policy = candidate.policies[failing[0]].check.__name__.removeprefix("check_")
        counts[policy] = counts.get(policy, 0) + 1
        if ctx.explain:
            excluded.append(_explained(candidate, failing[0], ctx))
    return facts, passed, excluded, counts


def _explained(candidate: Candidate, index: int, ctx: DecisionContext) -> Exclusion:
    """The exclusion as the shared check words it."""
    check = candidate.policies[index].check
    exclusion = check(candidate.action, ctx)
    if exclusion is None:
        raise DurableDisagreement(f"durable-rules excluded {candidate.action.id} by "
                                  f"{check.__name__}, which lets it through")
    return exclusion
