"""From a pack's YAML to an immutable ``Plan``, checking everything on the way.

Every problem is collected with its file, line and key path; a pack with any
problem raises ``InvalidPack`` and is never served.
"""
from __future__ import annotations

import ast
import hashlib
import re
from dataclasses import replace
from datetime import time, timedelta
from pathlib import Path as FilePath
from typing import Any

from jinja2 import TemplateSyntaxError

from engine.agenda.language import compile_routing
from engine.decision.content import compile_content
from engine.decision.facts import order_fact_rules
from engine.decision.policies import checks_for
from engine.decision.scoring import arbitration_score
from engine.errors import InvalidPack, PackProblem
from engine.journeys.language import JourneyCompiler, compile_events
from engine.language.checks import Checker
from engine.language.expressions import Expression
from engine.language.loader import LocatedYAML, Path, read_yaml
from engine.language.pack_tests import compile_tests
from engine.language.policies_compiler import compile_policies
from engine.learning.experiments import check_splits, compile_experiments, with_split_arms
from engine.learning.language import compile_learned, compile_learning, is_learned
from engine.learning.model import Learned, LearningPlan
from engine.model import KINDS
from engine.plan import ActionPlan, ChannelPlan, FactRule, Plan, RepeatRule
from engine.reports.language import compile_costs
from engine.timeutil import zone

MAX_PACK_BYTES = 2 * 1024 * 1024
TOP_KEYS = ("pack", "version", "timezone", "description", "channels", "facts", "actions",
            "policies", "fallbacks", "events", "events_strict", "journeys", "routing", "learning",
            "experiments", "costs", "tests")
TOP_REQUIRED = ("pack", "version", "timezone", "channels", "actions")
CHANNEL_KEYS = ("cost", "quiet_hours", "capacity_per_day", "consent", "inbound", "deliver",
                "description")
DELIVER_KEYS = ("webhook", "secret_env", "max_attempts")
_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]{0,99}$")
FACT_KEYS = ("id", "when", "set", "description")
FACT_REQUIRED = ("id", "when", "set")
ACTION_KEYS = ("id", "program", "kind", "channels", "placements", "when", "priority", "value",
               "propensity", "success", "valid", "repeat", "group", "respect_opt_out",
               "content", "description")
ACTION_REQUIRED = ("id", "program", "kind", "channels")
_QUIET_HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")


def load_pack(path: str | FilePath) -> Plan:
    """Read and compile the pack at ``path``; InvalidPack if it cannot be served."""
    path = FilePath(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InvalidPack([PackProblem(str(path), None, "", f"cannot read: {exc.strerror}")]) from exc
    return compile_pack(raw, str(path))


def compile_pack(raw: bytes, filename: str) -> Plan:
    """Compile pack source bytes; InvalidPack lists every problem found."""
    if len(raw) > MAX_PACK_BYTES:
        raise InvalidPack([PackProblem(filename, None, "", "pack larger than 2 MiB")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidPack([PackProblem(filename, None, "", "not UTF-8 text")]) from exc
    doc, problems = read_yaml(text, filename)
    if doc is None:
        raise InvalidPack(problems)
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()[:16]
    return _PackCompiler(doc).compile(digest, text)


def _bind_policies(action: ActionPlan, policies, channels: dict[str, ChannelPlan]) -> ActionPlan:
    """Attach, per channel, the rules that can apply and the checks worth running."""
    pressure = {c: tuple(r for r in policies.pressure
                         if action.marketing and r.applies_to(action.kind, c, action.program))
                for c in action.channels}
    suppress = {c: tuple(r for r in policies.suppress if r.covers(action, c))
                for c in action.channels}
    bound = replace(action, pressure_rules=pressure, suppress_rules=suppress)
    return replace(bound, checks={c: checks_for(bound, channels[c]) for c in action.channels})


def _reads_root(expression: Expression, root: str) -> bool:
    """Whether ``expression`` reads ``root.*`` (a name of the arbitration formula)."""
    tree = ast.parse(expression.source.strip(), mode="eval")
    return any(isinstance(node, ast.Name) and node.id == root for node in ast.walk(tree))


def _held_out_by(action: ActionPlan, experiments) -> ActionPlan:
    """An action with the holdout experiments whose control group it skips: every
    marketing action of the programs a holdout covers."""
    if not action.marketing:
        return action  # service and transactional messages still go
    held = tuple(e.id for e in experiments if e.holds_out(action.program))
    return replace(action, holdouts=held) if held else action


def _fix_scores(action: ActionPlan, policies, channels: dict[str, ChannelPlan]) -> ActionPlan:
    """Compute ahead the scores that depend on nothing about the contact."""
    if policies.arbitration.reads_scope or not isinstance(action.propensity, float):
        return action
    return replace(action, fixed_scores={
        c: arbitration_score(policies.arbitration, action.propensity, action, channels[c].cost)
        for c in action.channels})


class _PackCompiler(Checker):
    def __init__(self, doc: LocatedYAML):
        super().__init__(doc)
        self.channels: dict[str, ChannelPlan] = {}
        self.action_ids: list[str] = []
        self.fact_readers: list[tuple[Path, Any]] = []
        self.learning = LearningPlan()

    def compile(self, digest: str, text: str) -> Plan:
        top = self.mapping((), self.doc.data, TOP_KEYS, TOP_REQUIRED)
        if top is None:
            raise InvalidPack(self.problems)
        name = self.identifier(("pack",), top.get("pack"))
        version = self.version(top.get("version"))
        tz_name = top.get("timezone")
        tz = zone(tz_name) if isinstance(tz_name, str) else None
        if tz is None:
            self.problem(("timezone",), f"unknown timezone {tz_name!r}; use an IANA name "
                                        "such as Europe/Paris")
        self.channels = self.compile_channels(top.get("channels"))
        facts = self.compile_facts(top.get("facts"))
        self.learning = compile_learning(self, top.get("learning"))
        self.fact_readers += [(("learning", "segment_by", i), expr)
                              for i, (_, expr) in enumerate(self.learning.segment_by)]
        actions = self.compile_actions(top.get("actions"), tz)
        experiments = compile_experiments(self, top.get("experiments"), {a.id: a for a in actions})
        actions = tuple(_held_out_by(a, experiments) for a in actions)
        policies = compile_policies(self, top.get("policies"), tuple(self.channels), actions)
        actions = tuple(_fix_scores(_bind_policies(a, policies, self.channels), policies,
                                    self.channels) for a in actions)
        self.fact_readers.append((("policies", "arbitration"), policies.arbitration))
        fallbacks = self.fallbacks(top.get("fallbacks"), {a.id: a for a in actions})
        strict = self.boolean(("events_strict",), top.get("events_strict", False))
        events = compile_events(self, top.get("events"))
        journeys_compiler = JourneyCompiler(self, self.channels, actions, events, strict)
        journeys = journeys_compiler.compile(top.get("journeys"))
        self.fact_readers += journeys_compiler.expressions
        check_splits(self, experiments, journeys)
        reads_risk = _reads_root(policies.arbitration, "risk")
        routing, routing_reads = compile_routing(self, top.get("routing"))
        costs = compile_costs(self, top.get("costs"))
        self.fact_readers += routing_reads
        self.check_fact_references(facts)
        tests = compile_tests(self, top.get("tests"), tuple(self.channels), tuple(self.action_ids),
                              journeys, events, tz)
        if self.problems:
            raise InvalidPack(self.problems)
        return Plan(
            name=name, version=version, hash=digest, timezone=tz_name, tz=tz,
            channels=self.channels, facts=facts, actions=actions,
            pressure=policies.pressure, suppress=policies.suppress,
            arbitration=policies.arbitration, tests=tests, source=text,
            by_id={a.id: a for a in actions},
            longest_repeat=max((a.repeat.within for a in actions if a.repeat), default=None),
            history_horizon=self.history_horizon(actions, policies),
            fallbacks=fallbacks,
            candidates={c: tuple((a, a.checks[c]) for a in actions if c in a.channels)
                        for c in self.channels},
            events=events, events_strict=strict, journeys=journeys, routing=routing,
            costs=costs,
            reads_events=any(getattr(expr, "reads_events", False)
                             for _, expr in self.fact_readers),
            experiments=tuple(with_split_arms(e, journeys) for e in experiments),
            learning=self.learning if reads_risk or any(isinstance(a.propensity, Learned)
                                                        for a in actions) else None,
            reads_risk=reads_risk, min_score=policies.min_score,
            risk_weights=next((r.weights for r in policies.pressure if r.weights), None),
        )

    def fallbacks(self, raw: Any, actions: dict[str, ActionPlan]) -> dict[str, dict[str, str]]:
        """Per inbound channel, the action served per placement when nothing else can be."""
        spec = self.mapping(("fallbacks",), raw, tuple(self.channels))
        compiled: dict[str, dict[str, str]] = {}
        for channel, slots in (spec or {}).items():
            path = ("fallbacks", channel)
            if channel not in self.channels:
                continue  # reported as an unknown key
            if not self.channels[channel].inbound:
                self.problem(path, f"{channel} is an outbound channel: it never gets a fallback "
                                   "(it fails closed when the store is down); fallbacks are for "
                                   "inbound channels")
                continue
            if not isinstance(slots, dict) or not slots:
                self.problem(path, "expected a mapping of placement (or default) to action id, "
                                   "like {home_banner: brand_banner, default: brand_banner}")
                continue
            compiled[channel] = {}
            for placement, action_id in slots.items():
                self.identifier(path + (placement,), placement)
                action = actions.get(action_id) if isinstance(action_id, str) else None
                if action is None:
                    self.problem(path + (placement,), f"unknown action {action_id!r}")
                elif channel not in action.channels:
                    self.problem(path + (placement,), f"action {action_id} does not offer "
                                                      f"channel {channel}")
                else:
                    compiled[channel][str(placement)] = action_id
        return compiled

    def history_horizon(self, actions, policies) -> timedelta | None:
        """The longest look back of any policy or expression; None if unbounded."""
        reaches = [expr.history_reach for _, expr in self.fact_readers
                   if isinstance(expr, Expression)]
        if None in reaches:
            return None
        reaches += [rule.reach for rule in policies.pressure]
        reaches += [rule.period for rule in policies.suppress]
        reaches += [a.repeat.within for a in actions if a.repeat]
        return max(reaches, default=timedelta(0))

    def version(self, value: Any) -> str | None:
        if isinstance(value, str) and value.strip():
            return value
        self.problem(("version",), f"expected a quoted text such as \"2026.11.1\", got {value!r}")
        return None

    # --- channels ----------------------------------------------------------

    def compile_channels(self, raw: Any) -> dict[str, ChannelPlan]:
        channels = self.mapping(("channels",), raw, ()) if not isinstance(raw, dict) else raw
        if not channels:
            self.problem(("channels",), "declare at least one channel")
            return {}
        compiled = {}
        for name, spec in channels.items():
            path = ("channels", name)
            if self.identifier(path, name) is None:
                continue
            spec = self.mapping(path, spec, CHANNEL_KEYS)
            if spec is not None:
                compiled[name] = self.compile_channel(path, name, spec)
        return compiled

    def compile_channel(self, path: Path, name: str, spec: dict[str, Any]) -> ChannelPlan:
        quiet = self.quiet_hours(path + ("quiet_hours",), spec.get("quiet_hours"))
        consent = spec.get("consent", "opt_in")
        if consent not in ("opt_in", "opt_out"):
            self.problem(path + ("consent",), f"consent is opt_in or opt_out, not {consent!r}")
        capacity = spec.get("capacity_per_day")
        return ChannelPlan(
            name=name,
            cost=self.number(path + ("cost",), spec.get("cost", 0), 0) or 0.0,
            quiet_hours=quiet, quiet_hours_text=spec.get("quiet_hours") if quiet else None,
            capacity_per_day=None if capacity is None
            else self.integer(path + ("capacity_per_day",), capacity, 1),
            consent=consent,
            inbound=self.boolean(path + ("inbound",), spec.get("inbound", False)),
            **self.delivery(path + ("deliver",), spec.get("deliver"), spec.get("inbound", False)),
        )

    def delivery(self, path: Path, raw: Any, inbound: bool) -> dict[str, Any]:
        """``deliver: {webhook: URL, secret_env: NAME, max_attempts: N}`` of an outbound channel."""
        if raw is None:
            return {}
        spec = self.mapping(path, raw, DELIVER_KEYS, ("webhook", "secret_env"))
        if spec is None:
            return {}
        if inbound:
            self.problem(path, "an inbound channel answers requests; only outbound channels "
                               "deliver messages")
        url = spec.get("webhook")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            self.problem(path + ("webhook",), f"webhook is an http:// or https:// URL, not {url!r}")
        secret = spec.get("secret_env")
        if not isinstance(secret, str) or not _ENV_NAME.match(secret):
            self.problem(path + ("secret_env",), "secret_env names the environment variable "
                                                 "holding the signing secret, like "
                                                 "NBA_WEBHOOK_SECRET_EMAIL (the secret itself "
                                                 "never goes in a pack)")
        attempts = self.integer(path + ("max_attempts",), spec.get("max_attempts", 5), 1)
        return {"webhook": url, "webhook_secret_env": secret,
                "webhook_max_attempts": attempts or 5}

    def quiet_hours(self, path: Path, value: Any) -> tuple[time, time] | None:
        if value is None:
            return None
        match = _QUIET_HOURS.match(value) if isinstance(value, str) else None
        if match is None:
            self.problem(path, f"quiet hours are written \"21:00-08:00\" (quoted), not {value!r}")
            return None
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if (h1, m1) == (h2, m2):
            self.problem(path, "quiet hours start and end at the same time")
            return None
        return time(h1, m1), time(h2, m2)

    # --- facts -------------------------------------------------------------

    def compile_facts(self, raw: Any) -> tuple[FactRule, ...]:
        rules: list[tuple[Path, FactRule]] = []
        seen: dict[str, Path] = {}
        for index, spec in enumerate(self.sequence(("facts",), raw)):
            path = ("facts", index)
            spec = self.mapping(path, spec, FACT_KEYS, FACT_REQUIRED)
            if spec is None:
                continue
            rule_id = self.identifier(path + ("id",), spec.get("id"))
            self.unique(path + ("id",), seen, rule_id, "fact rule")
            when = self.expression(path + ("when",), spec.get("when"))
            self.fact_readers.append((path + ("when",), when))
            sets = self.fact_values(path + ("set",), spec.get("set"))
            if rule_id and when and sets is not None:
                rules.append((path, FactRule(rule_id, when, sets)))
        ordered, cycle = order_fact_rules([r for _, r in rules])
        if cycle:
            self.problem(("facts",), "facts rules depend on each other in a cycle: "
                                     + " -> ".join(cycle))
        return ordered

    def fact_values(self, path: Path, value: Any) -> dict[str, Any] | None:
        if not isinstance(value, dict) or not value:
            self.problem(path, "set is a mapping of fact names to values, like {lifecycle: lapsed}")
            return None
        for key, item in value.items():
            self.identifier(path + (key,), key)
            if isinstance(item, dict):
                self.problem(path + (key,), "fact values are numbers, texts, true/false or lists")
        return dict(value)

    def check_fact_references(self, facts: tuple[FactRule, ...]) -> None:
        known = {key for rule in facts for key in rule.sets}
        for path, expr in self.fact_readers:
            self.unknown_facts(path, expr, known)

    def unknown_facts(self, path: Path, expr: Any, known: set[str]) -> None:
        for name in sorted(getattr(expr, "facts_read", ())):
            if name not in known:
                self.problem(path, f"facts.{name} is not set by any facts rule"
                             + (f"; known facts: {', '.join(sorted(known))}" if known else ""))

    # --- actions -----------------------------------------------------------

    def compile_actions(self, raw: Any, tz) -> tuple[ActionPlan, ...]:
        actions = []
        seen: dict[str, Path] = {}
        items = self.sequence(("actions",), raw)
        if not items:
            self.problem(("actions",), "declare at least one action")
        for index, spec in enumerate(items):
            path = ("actions", index)
            spec = self.mapping(path, spec, ACTION_KEYS, ACTION_REQUIRED)
            if spec is None:
                continue
            self.unique(path + ("id",), seen, spec.get("id"), "action")
            if isinstance(spec.get("id"), str):
                self.action_ids.append(spec["id"])
            action = self.compile_action(path, index, spec, tz)
            if action is not None:
                actions.append(action)
        return tuple(actions)

    def compile_action(self, path: Path, index: int, spec: dict[str, Any], tz) -> ActionPlan | None:
        action_id = self.identifier(path + ("id",), spec.get("id"))
        program = self.identifier(path + ("program",), spec.get("program"))
        kind = spec.get("kind")
        if kind not in KINDS:
            self.problem(path + ("kind",), f"kind is one of {', '.join(KINDS)}, not {kind!r}")
        channels = self.names(path + ("channels",), spec.get("channels"), self.channels, "channel")
        if "channels" in spec and not spec["channels"]:
            self.problem(path + ("channels",), "an action needs at least one channel")
        fields = dict(
            placements=self.placements(path + ("placements",), spec.get("placements")),
            when=self.optional_expression(path + ("when",), spec.get("when")),
            priority=self.number(path + ("priority",), spec.get("priority", 50), 0, 100),
            value=self.number(path + ("value",), spec.get("value", 1)),
            propensity=self.propensity(path + ("propensity",), spec.get("propensity", 1),
                                       spec.get("success")),
            repeat=self.repeat(path + ("repeat",), spec.get("repeat")),
            group=None if spec.get("group") is None
            else self.identifier(path + ("group",), spec.get("group")),
            respect_opt_out=self.boolean(path + ("respect_opt_out",),
                                         spec.get("respect_opt_out", False)),
            content=self.content(path + ("content",), spec.get("content")),
        )
        self.fact_readers += [(path + ("when",), fields["when"]),
                              (path + ("propensity",), fields["propensity"])]
        valid_from, valid_until = self.validity(path + ("valid",), spec.get("valid"), tz)
        if None in (action_id, program, fields["priority"], fields["value"]) or kind not in KINDS:
            return None
        listed = spec.get("channels")
        listed = [listed] if isinstance(listed, str) else listed if isinstance(listed, list) else []
        ordered = tuple(c for c in listed if isinstance(c, str) and c in channels)
        return ActionPlan(id=action_id, program=program, kind=kind, channels=ordered, index=index,
                          valid_from=valid_from, valid_until=valid_until, **fields)

    def placements(self, path: Path, value: Any) -> frozenset[str]:
        items = self.sequence(path, value)
        return frozenset(p for i, p in enumerate(items) if self.identifier(path + (i,), p))

    def optional_expression(self, path: Path, value: Any):
        return None if value is None else self.expression(path, value)

    def propensity(self, path: Path, value: Any, success: Any = None):
        if success is not None and not is_learned(value):
            self.problem(path[:-1] + ("success",), "success names the outcome a learned "
                                                   "propensity learns from: write "
                                                   "propensity: learned(p) with it")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return self.number(path, value, 0) or 0.0
        if is_learned(value):
            return compile_learned(self, path, value, success, self.learning)
        return self.expression(path, value)

    def repeat(self, path: Path, value: Any) -> RepeatRule | None:
        if value is None:
            return None
        spec = self.mapping(path, value, ("max", "within"), ("max", "within"))
        if spec is None:
            return None
        most = self.integer(path + ("max",), spec.get("max"), 1)
        within = self.duration(path + ("within",), spec.get("within"))
        if most is None or within is None:
            return None
        return RepeatRule(most, within, f"{most} per {spec['within']}")

    def validity(self, path: Path, value: Any, tz):
        spec = self.mapping(path, value, ("from", "until")) if value is not None else None
        if not spec or tz is None:
            return None, None
        start = self.moment(path + ("from",), spec["from"], tz) if "from" in spec else None
        end = self.moment(path + ("until",), spec["until"], tz, end_of_day=True) \
            if "until" in spec else None
        if start and end and start >= end:
            self.problem(path, "valid.from must come before valid.until")
        return start, end

    def content(self, path: Path, value: Any) -> dict[str, Any]:
        spec = self.mapping(path, value, tuple(self.channels) + ("default",))
        compiled = {}
        for channel, fields in (spec or {}).items():
            if not isinstance(fields, dict):
                self.problem(path + (channel,), "content per channel is a mapping of fields, "
                                                "like {subject: ..., body: ...}")
                continue
            try:
                compiled[channel] = compile_content(fields)
            except TemplateSyntaxError as exc:
                self.problem(path + (channel,), f"template error: {exc.message} "
                                                f"(template line {exc.lineno})")
            except ValueError as exc:
                self.problem(path + (channel,), str(exc))
        return compiled
