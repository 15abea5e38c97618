"""Compiling and checking a pack's ``events:`` and ``journeys:`` sections.

Every problem is recorded on the pack compiler (file, line, key path), like
the rest of the language: unknown step ids, unreachable steps, step cycles
with no wait, actions that do not offer a step's channel, ``then`` on a step
that sends nothing, undeclared events under ``events_strict``...
"""
from __future__ import annotations

import re
from datetime import time, timedelta
from typing import Any

from engine.agenda.language import compile_task
from engine.journeys.graph import graph_problems
from engine.journeys.plan import (
    DEFAULT_MAX_DELAY,
    SKIPPED,
    TIMEOUT,
    Branch,
    EventTypePlan,
    JourneyPlan,
    StepPlan,
    Transition,
    TriggerPlan,
)
from engine.language.checks import Checker
from engine.language.expressions import Expression
from engine.language.loader import Path
from engine.model import OUTCOMES
from engine.plan import ActionPlan, ChannelPlan

EVENT_KEYS = ("data", "set", "description")
DATA_TYPES = ("number", "text", "boolean", "date", "list", "object", "any")
JOURNEY_KEYS = ("id", "program", "trigger", "when", "reentry", "exit_on", "steps", "description")
STEP_KEYS = ("id", "wait", "when", "set", "consent", "send", "task", "then", "next", "split",
             "branches", "end", "max_delay", "description")
TRIGGER_KEYS = ("event", "no_event", "for", "date", "at")
TRANSITION_KEYS = ("on", "on_event", "within", "goto")
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_CONTACT_PATH = re.compile(r"^contact\.([A-Za-z][A-Za-z0-9_]*)$")


def compile_events(checker: Checker, raw: Any) -> dict[str, EventTypePlan]:
    """The declared event types, by name."""
    spec = checker.mapping(("events",), raw, _AnyKey())
    compiled = {}
    for name, body in (spec or {}).items():
        path = ("events", name)
        if checker.identifier(path, name) is None:
            continue
        body = checker.mapping(path, body, EVENT_KEYS)
        if body is None:
            continue
        data = checker.mapping(path + ("data",), body.get("data"), _AnyKey()) or {}
        for key, kind in data.items():
            checker.identifier(path + ("data", key), key)
            if kind not in DATA_TYPES:
                checker.problem(path + ("data", key), f"a data field's type is one of "
                                                      f"{', '.join(DATA_TYPES)}, not {kind!r}")
        sets = profile_sets(checker, path + ("set",), body.get("set"), roots=("event",))
        compiled[name] = EventTypePlan(name, {k: str(v) for k, v in data.items()}, sets)
    return compiled


def profile_sets(checker: Checker, path: Path, raw: Any,
                 roots: tuple[str, ...] = ()) -> dict[str, Any]:
    """``set:`` of profile attributes: numbers, true/false, null and lists are
    literal values; texts are expressions (write '"lapsed"' for a literal text)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not raw:
        checker.problem(path, "set is a mapping of profile attributes to values or "
                              "expressions, like {cart_value: 0, last_order_at: event.at}")
        return {}
    sets: dict[str, Any] = {}
    for key, value in raw.items():
        if checker.identifier(path + (key,), key) is None:
            continue
        if isinstance(value, str):
            expr = checker.expression(path + (key,), value, roots=roots)
            if expr is not None:
                sets[key] = expr
        elif isinstance(value, dict):
            checker.problem(path + (key,), "a profile value is a number, a text expression, "
                                           "true/false, null or a list")
        else:
            sets[key] = value
    return sets


class JourneyCompiler:
    """Compiles ``journeys:`` against the pack's channels, actions and events."""

    def __init__(self, checker: Checker, channels: dict[str, ChannelPlan],
                 actions: tuple[ActionPlan, ...], events: dict[str, EventTypePlan],
                 strict: bool):
        self.c = checker
        self.channels = channels
        self.actions = {a.id: a for a in actions}
        self.events = events
        self.strict = strict
        self.expressions: list[tuple[Path, Expression]] = []

    def compile(self, raw: Any) -> tuple[JourneyPlan, ...]:
        journeys = []
        seen: dict[str, Path] = {}
        for index, spec in enumerate(self.c.sequence(("journeys",), raw)):
            path = ("journeys", index)
            spec = self.c.mapping(path, spec, JOURNEY_KEYS, ("id", "program", "trigger", "steps"))
            if spec is None:
                continue
            self.c.unique(path + ("id",), seen, spec.get("id"), "journey")
            journey = self.journey(path, spec)
            if journey is not None:
                journeys.append(journey)
        return tuple(journeys)

    def journey(self, path: Path, spec: dict[str, Any]) -> JourneyPlan | None:
        journey_id = self.c.identifier(path + ("id",), spec.get("id"))
        program = self.c.identifier(path + ("program",), spec.get("program"))
        trigger = self.trigger(path + ("trigger",), spec.get("trigger"))
        when = self.expression(path + ("when",), spec.get("when"))
        reentry = self.reentry(path + ("reentry",), spec.get("reentry"))
        exit_on = self.event_names(path + ("exit_on",), spec.get("exit_on", []))
        steps = self.steps(path + ("steps",), spec.get("steps"), program)
        if None in (journey_id, program, trigger) or not steps:
            return None
        self.check_graph(path + ("steps",), steps)
        return JourneyPlan(journey_id, program, trigger, steps, when, reentry, exit_on,
                           spec.get("description"))

    # -- triggers and entry -----------------------------------------------------

    def trigger(self, path: Path, raw: Any) -> TriggerPlan | None:
        spec = self.c.mapping(path, raw, TRIGGER_KEYS)
        if spec is None:
            return None
        forms = [k for k in ("event", "no_event", "date") if k in spec]
        if len(forms) != 1:
            self.c.problem(path, "a trigger is one of {event: signed_up}, "
                                 "{no_event: order_placed, for: 60d} or "
                                 "{date: contact.birthday, at: \"09:00\"}")
            return None
        form = forms[0]
        if form == "event":
            return self.extra_keys(path, spec, ()) or TriggerPlan(
                "event", event=self.event_name(path + ("event",), spec["event"]))
        if form == "no_event":
            if self.extra_keys(path, spec, ("for",)):
                return None
            silence = self.c.duration(path + ("for",), spec.get("for"))
            event = self.event_name(path + ("no_event",), spec["no_event"])
            return TriggerPlan("no_event", event=event, silence=silence) if silence else None
        if self.extra_keys(path, spec, ("at",)):
            return None
        match = _CONTACT_PATH.match(spec["date"]) if isinstance(spec["date"], str) else None
        if match is None:
            self.c.problem(path + ("date",), "date names a profile attribute holding a date, "
                                             "like contact.birthday")
            return None
        at = self.clock(path + ("at",), spec.get("at", "09:00"))
        return TriggerPlan("date", attribute=match.group(1), at=at or time(9, 0))

    def extra_keys(self, path: Path, spec: dict, allowed: tuple[str, ...]) -> bool:
        form = next(k for k in ("event", "no_event", "date") if k in spec)
        extra = [k for k in spec if k != form and k not in allowed]
        for key in extra:
            self.c.problem(path + (key,), f"{key!r} does not go with a {form} trigger")
        return bool(extra)

    def reentry(self, path: Path, raw: Any) -> timedelta | None:
        if raw is None:
            return None
        spec = self.c.mapping(path, raw, ("after",), ("after",))
        return self.c.duration(path + ("after",), spec.get("after")) if spec else None

    def event_name(self, path: Path, value: Any) -> str | None:
        name = self.c.identifier(path, value)
        if name is not None and self.strict and name not in self.events:
            self.c.problem(path, f"event {name!r} is not declared under events: "
                                 "(events_strict is set)")
        return name

    def event_names(self, path: Path, raw: Any) -> frozenset[str]:
        items = [raw] if isinstance(raw, str) else self.c.sequence(path, raw)
        return frozenset(n for i, item in enumerate(items)
                         if (n := self.event_name(path + (i,), item)) is not None)

    def expression(self, path: Path, raw: Any) -> Expression | None:
        if raw is None:
            return None
        expr = self.c.expression(path, raw)
        if expr is not None:
            self.expressions.append((path, expr))
        return expr

    def clock(self, path: Path, raw: Any) -> time | None:
        match = _CLOCK.match(raw) if isinstance(raw, str) else None
        if match is None:
            self.c.problem(path, f"a time of day is written \"09:00\" (quoted), not {raw!r}")
            return None
        return time(int(match.group(1)), int(match.group(2)))

    # -- steps ----------------------------------------------------------------------

    def steps(self, path: Path, raw: Any, program: str | None) -> tuple[StepPlan, ...]:
        items = self.c.sequence(path, raw)
        if not items:
            self.c.problem(path, "a journey needs at least one step")
            return ()
        specs, seen = [], {}
        for index, item in enumerate(items):
            spec = self.c.mapping(path + (index,), item, STEP_KEYS, ("id",))
            if spec is not None and self.c.identifier(path + (index, "id"),
                                                      spec.get("id")) is not None:
                self.c.unique(path + (index, "id"), seen, spec["id"], "step")
                specs.append((index, spec))
        ids = [spec["id"] for _, spec in specs]
        steps = []
        for position, (index, spec) in enumerate(specs):
            following = ids[position + 1] if position + 1 < len(ids) else None
            step = self.step(path + (index,), index, spec, following, set(ids), program)
            if step is not None:
                steps.append(step)
        return tuple(steps) if len(steps) == len(specs) else ()

    def step(self, path: Path, index: int, spec: dict[str, Any], following: str | None,
             ids: set[str], program: str | None) -> StepPlan | None:
        kinds = [k for k in ("send", "task", "split", "end") if k in spec]
        if "split" in kinds and len(kinds) > 1:
            self.c.problem(path, f"a split step only splits; not {' and '.join(kinds)}")
            return None
        if "send" in spec and "task" in spec:
            self.c.problem(path, "a step sends a message or books a call task, not both")
            return None
        if "end" in spec and "then" in spec:
            self.c.problem(path + ("end",), "a step that ends the run has no then")
        wait, until = self.wait(path + ("wait",), spec.get("wait"))
        channel, actions = self.send(path + ("send",), spec.get("send"), program)
        task = None
        if "task" in spec:
            task = compile_task(self.c, path + ("task",), spec["task"], self.channels,
                                self.actions)
            channel, actions = (task.channel, frozenset({task.action})) if task else (None,
                                                                                    frozenset())
        then = self.then(path + ("then",), spec.get("then"), ids,
                         sends="send" in spec or "task" in spec, task="task" in spec)
        split = self.split(path, spec, ids)
        nxt = self.goto(path + ("next",), spec.get("next"), ids) if "next" in spec else following
        if ("end" in spec or "split" in spec) and "next" in spec:
            self.c.problem(path + ("next",), f"a step that {kinds[0]}s has no next")
        end = None
        if "end" in spec:
            end = self.c.identifier(path + ("end",), spec["end"])
            nxt = None
        return StepPlan(
            id=spec["id"], index=index, wait=wait, wait_until=until,
            when=self.expression(path + ("when",), spec.get("when")),
            sets=profile_sets(self.c, path + ("set",), spec.get("set")),
            channel=channel, actions=actions, then=then, next=nxt, split=split, end=end,
            max_delay=self.c.duration(path + ("max_delay",), spec["max_delay"])
            if "max_delay" in spec else DEFAULT_MAX_DELAY,
            task=task, consents=self.consents(path + ("consent",), spec.get("consent")))

    def consents(self, path: Path, raw: Any) -> dict[str, bool]:
        """``consent: {email: true}``: consents the step records (the step is their source)."""
        spec = self.c.mapping(path, raw, tuple(self.channels))
        return {name: self.c.boolean(path + (name,), value)
                for name, value in (spec or {}).items() if name in self.channels}

    def wait(self, path: Path, raw: Any) -> tuple[timedelta | None, time | None]:
        if raw is None:
            return None, None
        if isinstance(raw, dict):
            spec = self.c.mapping(path, raw, ("until",), ("until",))
            return None, self.clock(path + ("until",), spec.get("until")) if spec else None
        return self.c.duration(path, raw), None

    def send(self, path: Path, raw: Any, program: str | None
             ) -> tuple[str | None, frozenset[str]]:
        if raw is None:
            return None, frozenset()
        spec = self.c.mapping(path, raw, ("channel", "actions"), ("channel",))
        if spec is None or spec.get("channel") not in self.channels:
            if spec is not None:
                self.c.problem(path + ("channel",), f"unknown channel {spec.get('channel')!r}; "
                                                    f"known: {', '.join(self.channels)}")
            return None, frozenset()
        channel = spec["channel"]
        if self.channels[channel].inbound:
            self.c.problem(path + ("channel",), f"{channel} is an inbound channel: journeys "
                                                "send on outbound channels (email, sms...)")
        named = self.c.sequence(path + ("actions",), spec.get("actions"))
        if not named:
            found = frozenset(a.id for a in self.actions.values()
                              if a.program == program and channel in a.channels)
            if not found:
                self.c.problem(path, f"no action of program {program} offers {channel}; "
                                     "name the step's actions")
            return channel, found
        for i, action_id in enumerate(named):
            action = self.actions.get(action_id) if isinstance(action_id, str) else None
            if action is None:
                self.c.problem(path + ("actions", i), f"unknown action {action_id!r}")
            elif channel not in action.channels:
                self.c.problem(path + ("actions", i), f"action {action_id} does not offer "
                                                      f"channel {channel}")
        return channel, frozenset(a for a in named if a in self.actions)

    def then(self, path: Path, raw: Any, ids: set[str], sends: bool,
             task: bool = False) -> tuple[Transition, ...]:
        items = self.c.sequence(path, raw)
        if items and not sends:
            self.c.problem(path, "then routes on what followed the step's message, and this "
                                 "step sends nothing; use next")
            return ()
        found = []
        for i, item in enumerate(items):
            spec = self.c.mapping(path + (i,), item, TRANSITION_KEYS, ("goto",))
            if spec is None:
                continue
            found.append(self.transition(path + (i,), spec, ids))
        transitions = tuple(t for t in found if t is not None)
        ons = [t.on or f"event {t.event}" for t in transitions]
        for duplicate in sorted({o for o in ons if ons.count(o) > 1}):
            self.c.problem(path, f"two transitions on {duplicate}")
        needs_window = [t for t in transitions if t.on not in (TIMEOUT, SKIPPED)]
        if needs_window and not task and all(t.within is None for t in needs_window):
            self.c.problem(path, "say how long to wait for outcomes or events: give within: "
                                 "(like within: 48h) on at least one transition")
        return transitions

    def transition(self, path: Path, spec: dict[str, Any], ids: set[str]) -> Transition | None:
        goto = self.goto(path + ("goto",), spec.get("goto"), ids)
        forms = [k for k in ("on", "on_event") if k in spec]
        if len(forms) != 1:
            self.c.problem(path, "a transition has one of on: (an outcome, timeout or "
                                 "skipped) or on_event: (an event type)")
            return None
        within = self.c.duration(path + ("within",), spec["within"]) if "within" in spec else None
        if "on_event" in spec:
            event = self.event_name(path + ("on_event",), spec["on_event"])
            return Transition(goto, event=event, within=within) if goto and event else None
        on = spec["on"]
        if on not in OUTCOMES + (TIMEOUT, SKIPPED):
            self.c.problem(path + ("on",), f"on is an outcome ({', '.join(OUTCOMES)}), timeout "
                                           f"or skipped, not {on!r}")
            return None
        if on in (TIMEOUT, SKIPPED) and within is not None:
            self.c.problem(path + ("within",), f"on: {on} takes no within")
        return Transition(goto, on=on, within=within) if goto else None

    def split(self, path: Path, spec: dict[str, Any], ids: set[str]) -> tuple[Branch, ...]:
        if "split" not in spec and "branches" not in spec:
            return ()
        weights = self.c.mapping(path + ("split",), spec.get("split"), _AnyKey()) or {}
        branches = self.c.mapping(path + ("branches",), spec.get("branches"), _AnyKey()) or {}
        if set(weights) != set(branches) or len(weights) < 2:
            self.c.problem(path, "split gives weights to two or more branches and branches "
                                 "gives each the step it goes to, with the same names")
            return ()
        found = []
        for name, weight in weights.items():
            value = self.c.number(path + ("split", name), weight, 0)
            goto = self.goto(path + ("branches", name), branches[name], ids)
            if value is not None and goto is not None:
                found.append(Branch(str(name), value, goto))
        if found and sum(b.weight for b in found) <= 0:
            self.c.problem(path + ("split",), "the weights add up to zero")
        return tuple(found)

    def goto(self, path: Path, value: Any, ids: set[str]) -> str | None:
        if value not in ids:
            self.c.problem(path, f"unknown step {value!r}; steps: {', '.join(sorted(ids))}")
            return None
        return value

    # -- the step graph ----------------------------------------------------------------

    def check_graph(self, path: Path, steps: tuple[StepPlan, ...]) -> None:
        for problem_path, message in graph_problems(path, steps):
            self.c.problem(problem_path, message)


class _AnyKey(tuple):
    def __contains__(self, key: object) -> bool:
        return True
