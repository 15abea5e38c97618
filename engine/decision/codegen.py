"""Decisions compiled to Python code: one function per pack and channel.

The function does what ``derive_facts`` and ``decide._screen`` do with the
plan's closures, and scores the survivors, for decisions that need no
explanation: facts rules, then every candidate through its checks in policy
order, counting exclusions by policy without building any ``Exclusion``, then
(score, propensity) for each survivor. Expressions are inlined as Python
source written by ``engine.language.pysource`` from the validated tree; policy
constants (dates, sets, rules, limits) are named constants of the function's
namespace, which has no builtins. Per-decision work that every candidate
shares (consent, quiet hours, suppression and pressure windows, capacity) is
done once at the top.

A plan whose source cannot be generated (``CodegenRefused``) is served by the
closures; so are explanations. ``program_for`` generates a channel's function
on the first decision that needs it and keeps it on the plan.
"""
from __future__ import annotations

import math
from typing import Any, Callable

from engine.decision import policies as p
from engine.decision.codegen_runtime import RUNTIME
from engine.language.expressions import Expression
from engine.language.pysource import CodegenRefused, SourceWriter
from engine.learning.model import Learned
from engine.model import POLICIES
from engine.plan import ActionPlan, ChannelPlan, Plan

Program = Callable[[Any], tuple[list[str], list, dict[str, int]]]
_COUNTER = {policy: f"n_{policy}" for policy in POLICIES}


def program_for(plan: Plan, channel: str) -> Program | None:
    """The generated function of ``channel``, or None if the closures must serve it."""
    cache = plan.programs
    if channel not in cache:
        try:
            cache[channel] = compile_program(plan, plan.channels[channel])
        except (CodegenRefused, SyntaxError, RecursionError, MemoryError):
            # The closures serve what the generator does not handle; its own
            # failures (a bug) must not stop the service either.
            cache[channel] = None
    return cache[channel]


def compile_program(plan: Plan, channel: ChannelPlan) -> Program:
    """Generate, compile and load the decision function of ``channel``."""
    source, constants = ProgramWriter(plan, channel).write()
    namespace: dict[str, Any] = {"__builtins__": {}, **RUNTIME, **constants}
    code = compile(source, f"<nba {plan.name} {plan.hash} {channel.name}>", "exec")
    exec(code, namespace)  # our generated source only: author text is never in it
    program = namespace["decide_channel"]
    program.source = source
    return program


class ProgramWriter:
    """Writes the source of one channel's decision function."""

    def __init__(self, plan: Plan, channel: ChannelPlan):
        self.plan = plan
        self.channel = channel
        self.constants: dict[str, Any] = {}
        self._ids: dict[int, str] = {}
        self.needed: dict[str, str] = {}
        self.propensities: dict[str, str] = {}
        self.used: set[str] = set()
        self.pressure: dict[str, str] = {}
        self.suppress: dict[str, str] = {}

    def bind(self, value: object) -> str:
        """The name of a namespace constant holding ``value``."""
        name = self._ids.get(id(value))
        if name is None:
            name = f"k{len(self.constants)}"
            self.constants[name] = value
            self._ids[id(value)] = name
        return name

    def write(self) -> tuple[str, dict[str, Any]]:
        """(source of ``decide_channel(x)``, its namespace constants); ``x`` is the
        decision's ``DecisionContext``."""
        facts = self.facts()
        body: list[str] = []
        for action, checks in self.plan.candidates[self.channel.name]:
            body += self.candidate(action, checks)
        used = [policy for policy in POLICIES if policy in self.used]
        counts = ", ".join(f"{policy!r}: {_COUNTER[policy]}" for policy in used)
        return "\n".join([
            "def decide_channel(x):",
            "    scope = x.scope",
            "    contact = scope.contact; context = scope.context; facts = scope.facts",
            "    history = scope.history; events = scope.events; now = scope.now",
            "    only = x.only; placement = x.placement",
            *facts,
            *(f"    {_COUNTER[policy]} = 0" for policy in used),
            *self.shared_checks(),
            *(f"    {name} = None" for name in self.propensities.values()),
            "    passed = []",
            *body,
            "    counts = {" + counts + "}",
            "    return fired, passed, {k: v for k, v in counts.items() if v}",
        ]) + "\n", self.constants

    # --- facts ---------------------------------------------------------------

    def facts(self) -> list[str]:
        lines = ["    fired = []"]
        for rule in self.plan.facts:
            test = self.writer().expression(rule.when.source, truth=True)
            lines += [f"    if {test}:", f"        facts.update({self.bind(rule.sets)})",
                      f"        fired.append({rule.id!r})"]
        return lines

    def writer(self, names: dict[str, str] | None = None) -> SourceWriter:
        return SourceWriter(self.bind, names)

    # --- candidates ----------------------------------------------------------

    def candidate(self, action: ActionPlan, checks: tuple) -> list[str]:
        lines = [f"    if only is None or {action.id!r} in only:"]
        keyword = "if"
        for check in checks:
            policy, condition = self.condition(check, action)
            self.used.add(policy)
            lines += [f"        {keyword} {condition}:", f"            {_COUNTER[policy]} += 1"]
            keyword = "elif"
        indent = "        "
        if checks:
            lines.append("        else:")
            indent = "            "
        return lines + [indent + line for line in self.score(action)]

    def condition(self, check: Callable, action: ActionPlan) -> tuple[str, str]:
        """(policy, Python test true when ``check`` excludes ``action``)."""
        write = _CONDITIONS.get(check)
        if write is None:
            raise CodegenRefused(f"check {getattr(check, '__name__', check)}")
        return write(self, action)

    def holdout(self, action: ActionPlan) -> tuple[str, str]:
        self.need("held", "x.held_out()")
        return "holdout", f"held and not held.isdisjoint({self.bind(frozenset(action.holdouts))})"

    def eligibility(self, action: ActionPlan) -> tuple[str, str]:
        if action.when is None:
            raise CodegenRefused("eligibility without a condition")
        return "eligibility", f"not {self.writer().expression(action.when.source, truth=True)}"

    def validity(self, action: ActionPlan) -> tuple[str, str]:
        parts = []
        if action.valid_from is not None:
            parts.append(f"now < {self.bind(action.valid_from)}")
        if action.valid_until is not None:
            parts.append(f"now >= {self.bind(action.valid_until)}")
        return "validity", " or ".join(parts)

    def placement(self, action: ActionPlan) -> tuple[str, str]:
        return "placement", f"placement not in {self.bind(action.placements)}"

    def consent(self, action: ActionPlan) -> tuple[str, str]:
        self.need("given", f"_consent_given(contact, {self.channel.name!r})")
        if action.marketing and self.channel.consent != "opt_out":
            return "consent", "given is not True"
        return "consent", "given is False"

    def quiet_hours(self, action: ActionPlan) -> tuple[str, str]:
        start, end = self.channel.quiet_hours  # type: ignore[misc]
        self.need("quiet", f"_quiet(now, x.tz, {self.bind(start)}, {self.bind(end)})")
        return "quiet_hours", "quiet"

    def repeat(self, action: ActionPlan) -> tuple[str, str]:
        rule = action.repeat
        self.need("recent", "x.recent_by_action()")
        return "repeat", (f"(e := recent.get({action.id!r})) is not None and "
                          f"_repeated(e, now - {self.bind(rule.within)}, {rule.max!r})")

    def suppression(self, action: ActionPlan) -> tuple[str, str]:
        self.need("may", "x.may_suppress()")
        tests = []
        for rule in action.suppress_rules[self.channel.name]:
            name = self.suppress.setdefault(rule.id, f"s{len(self.suppress)}")
            self.constants.setdefault(f"r_{name}", rule)
            key = action.id if rule.scope == "action" else (
                action.program if rule.scope == "program" else None)
            tests.append(f"{key!r} in {name}")
        return "suppression", "may and (" + " or ".join(tests) + ")"

    def pressure_check(self, action: ActionPlan) -> tuple[str, str]:
        tests = []
        for rule in action.pressure_rules[self.channel.name]:
            name = self.pressure.setdefault(rule.id, f"p{len(self.pressure)}")
            self.constants.setdefault(f"r_{name}", rule)
            tests.append(name)
        return "pressure", " or ".join(tests)

    def capacity(self, action: ActionPlan) -> tuple[str, str]:
        self.need("full", f"{self.channel.name!r} in x.capacity_full")
        return "capacity", "full"

    def need(self, local: str, value: str) -> None:
        """A per-decision value the checks share, computed once before the candidates."""
        self.needed.setdefault(local, value)

    def shared_checks(self) -> list[str]:
        lines = [f"    {local} = {value}" for local, value in self.needed.items()]
        if self.suppress:
            lines.append("    if may:")
            lines += [f"        {n} = x.suppressions(r_{n})" for n in self.suppress.values()]
            lines += ["    else:", "        " + " = ".join(self.suppress.values()) + " = _EMPTY"]
        for name in self.pressure.values():
            weight = self.constants[f"r_{name}"].weight(self.channel.name)
            lines.append(f"    {name} = _pressed(x, r_{name}, {self.number(weight)})")
        return lines

    # --- scores --------------------------------------------------------------

    def score(self, action: ActionPlan) -> list[str]:
        """Lines appending ((score, propensity), action) to ``passed``."""
        subject = self.bind(action)
        fixed = action.fixed_scores.get(self.channel.name)
        if fixed is not None:
            key = f"{self.number(-fixed)}, {self.number(-action.priority)}, {action.index!r}"
            return [f"passed.append(({key}, {self.number(action.propensity)}, {subject}))"]
        lines = []
        propensity = action.propensity
        if isinstance(propensity, Expression):
            # Propensities repeat across actions: each distinct one is computed once per
            # decision, when the first candidate that needs it gets that far.
            shared = self.propensities.setdefault(propensity.source.strip(),
                                                  f"q{len(self.propensities)}")
            lines += [f"if {shared} is None:",
                      f"    {shared} = _num({self.writer().expression(propensity.source)})",
                      f"q = {shared}"]
            prop = "q"
        elif isinstance(propensity, Learned):
            lines.append(f"q = x.learned({subject})")
            prop = "q"
        elif isinstance(propensity, float):
            prop = self.number(propensity)
        else:
            raise CodegenRefused("propensity")
        values = {"propensity": 0.0 if prop == "q" else propensity, "value": action.value,
                  "priority": action.priority, "cost": self.channel.cost}
        names = {name: prop if name == "propensity" else self.number(value)
                 for name, value in values.items()}
        floats = frozenset(name for name, value in values.items() if type(value) is float)
        writer = SourceWriter(self.bind, names, floats)
        source = self.plan.arbitration.source
        formula = writer.expression(source)
        score = formula if writer.always_float(source) else f"_num({formula})"
        key = f"{self.number(-action.priority)}, {action.index!r}"
        lines.append(f"passed.append((-{score}, {key}, {prop}, {subject}))")
        return lines

    def number(self, value: float) -> str:
        if type(value) in (int, float) and math.isfinite(value):
            return f"({value!r})"
        return self.bind(value)


_CONDITIONS: dict[Callable, Callable[[ProgramWriter, ActionPlan], tuple[str, str]]] = {
    p.check_holdout: ProgramWriter.holdout,
    p.check_eligibility: ProgramWriter.eligibility,
    p.check_validity: ProgramWriter.validity,
    p.check_placement: ProgramWriter.placement,
    p.check_consent: ProgramWriter.consent,
    p.check_quiet_hours: ProgramWriter.quiet_hours,
    p.check_repeat: ProgramWriter.repeat,
    p.check_suppression: ProgramWriter.suppression,
    p.check_pressure: ProgramWriter.pressure_check,
    p.check_capacity: ProgramWriter.capacity,
}
