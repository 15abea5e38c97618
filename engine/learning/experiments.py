"""Experiments, pure: holdouts (a control group gets no marketing), action
variants (content A/B), and journey splits (send delays), with the stable
assignment of a contact (or a run) to an arm.

Assignment hashes the experiment id with the contact id (sha256), so it is the
same in every process and on every day, without storing anything; a run's
split branch is the journey machine's own stable choice.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Mapping

from engine.model import OUTCOMES

EXPERIMENT_KEYS = ("id", "description", "holdout", "action", "variants", "journey", "split",
                   "goal", "auto_optimise")
HOLDOUT_KEYS = ("share", "programs")
VARIANT_KEYS = ("share", "content")
GOAL_KEYS = ("outcome", "event", "value")
CONTROL, TREATMENT = "control", "treatment"
MIN_SAMPLE = 100  # per arm, before auto_optimise may conclude


@dataclass(frozen=True)
class Goal:
    """What counts as a success: a recorded outcome, or an event (with the key of its
    data that holds the revenue)."""

    outcome: str | None = None
    event: str | None = None
    value: str | None = None


@dataclass(frozen=True)
class ExperimentPlan:
    id: str
    goal: Goal
    kind: str  # "holdout", "variants" or "split"
    share: float = 0.0  # holdout: the control group's share of contacts
    programs: frozenset[str] = frozenset()  # holdout: only these programs (empty: all)
    action: str | None = None  # variants
    variants: tuple[tuple[str, float], ...] = ()  # (name, weight)
    contents: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    journey: str | None = None  # split
    split: str | None = None
    auto_optimise: int | None = None  # the minimum sample per arm, when it may conclude

    @property
    def arms(self) -> tuple[str, ...]:
        if self.kind == "holdout":
            return (CONTROL, TREATMENT)
        return tuple(name for name, _ in self.variants)

    def holds_out(self, program: str) -> bool:
        return self.kind == "holdout" and (not self.programs or program in self.programs)


def bucket(experiment_id: str, unit: str) -> float:
    """A point in [0, 1), uniform and stable for (experiment, contact)."""
    digest = hashlib.sha256(f"{experiment_id}\x1f{unit}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def arm_of(experiment: ExperimentPlan, contact_id: str, winner: str | None = None) -> str:
    """The arm ``contact_id`` is in; a concluded experiment (``winner``) sends every
    contact of a variants experiment to its winner."""
    point = bucket(experiment.id, contact_id)
    if experiment.kind == "holdout":
        return CONTROL if point < experiment.share else TREATMENT
    if winner is not None:
        return winner
    total = sum(weight for _, weight in experiment.variants)
    point *= total
    for name, weight in experiment.variants:
        point -= weight
        if point < 0:
            return name
    return experiment.variants[-1][0]


# --- the language ----------------------------------------------------------------

def compile_experiments(checker, raw: Any, actions: Mapping[str, Any]) -> tuple[ExperimentPlan, ...]:
    """The ``experiments:`` section (journey splits are checked by ``check_splits``)."""
    compiled = []
    seen: set[str] = set()
    for index, spec in enumerate(checker.sequence(("experiments",), raw)):
        path = ("experiments", index)
        spec = checker.mapping(path, spec, EXPERIMENT_KEYS, ("id", "goal"))
        if spec is None:
            continue
        experiment_id = checker.identifier(path + ("id",), spec.get("id"))
        if experiment_id in seen:
            checker.problem(path + ("id",), f"experiment {experiment_id} is declared twice")
        seen.add(experiment_id or "")
        experiment = _experiment(checker, path, spec, experiment_id, actions)
        if experiment is not None:
            compiled.append(experiment)
    return tuple(compiled)


def _experiment(checker, path, spec, experiment_id, actions) -> ExperimentPlan | None:
    kinds = [k for k in ("holdout", "variants", "split") if k in spec]
    if len(kinds) != 1:
        checker.problem(path, "an experiment is one of holdout:, variants: (with action:) or "
                              "split: (with journey:)")
        return None
    goal = _goal(checker, path + ("goal",), spec.get("goal"))
    minimum = None
    if spec.get("auto_optimise") not in (None, False):
        if kinds[0] != "variants":
            checker.problem(path + ("auto_optimise",), "auto_optimise moves traffic between "
                                                       "variants: only for variants:")
        minimum = MIN_SAMPLE if spec["auto_optimise"] is True else checker.integer(
            path + ("auto_optimise",), spec["auto_optimise"], 10)
    if experiment_id is None or goal is None:
        return None
    if kinds[0] == "holdout":
        return _holdout(checker, path, spec, experiment_id, goal, actions)
    if kinds[0] == "variants":
        return _variants(checker, path, spec, experiment_id, goal, actions, minimum)
    for key in ("journey", "split"):
        if not isinstance(spec.get(key), str):
            checker.problem(path + (key,), f"a split experiment names its {key}")
            return None
    return ExperimentPlan(experiment_id, goal, "split", journey=spec["journey"],
                          split=spec["split"])


def _goal(checker, path, raw) -> Goal | None:
    spec = checker.mapping(path, raw, GOAL_KEYS)
    if spec is None:
        return None
    if ("outcome" in spec) == ("event" in spec):
        checker.problem(path, "a goal is an outcome (goal: {outcome: converted}) or an event "
                              "(goal: {event: purchase, value: amount})")
        return None
    if "outcome" in spec and spec["outcome"] not in OUTCOMES:
        checker.problem(path + ("outcome",), f"goal.outcome is one of {', '.join(OUTCOMES)}")
        return None
    event = spec.get("event")
    if "event" in spec and checker.identifier(path + ("event",), event) is None:
        return None
    value = spec.get("value")
    if value is not None and checker.identifier(path + ("value",), value) is None:
        return None
    return Goal(spec.get("outcome"), event, value)


def _holdout(checker, path, spec, experiment_id, goal, actions) -> ExperimentPlan | None:
    holdout = checker.mapping(path + ("holdout",), spec["holdout"], HOLDOUT_KEYS, ("share",))
    if holdout is None:
        return None
    share = checker.number(path + ("holdout", "share"), holdout.get("share"), 0.0001, 0.5)
    known = {a.program for a in actions.values()}
    programs = checker.names(path + ("holdout", "programs"), holdout.get("programs", []), known,
                             "program")
    if goal.event is None:
        checker.problem(path + ("goal",), "a holdout's control group gets no message to report "
                                          "an outcome on: its goal is an event, like "
                                          "goal: {event: purchase, value: amount}")
        return None
    if share is None:
        return None
    return ExperimentPlan(experiment_id, goal, "holdout", share=share, programs=programs)


def _variants(checker, path, spec, experiment_id, goal, actions, minimum) -> ExperimentPlan | None:
    action = actions.get(spec.get("action")) if isinstance(spec.get("action"), str) else None
    if action is None:
        checker.problem(path + ("action",), f"unknown action {spec.get('action')!r}; a variants "
                                            "experiment names the action whose content varies")
        return None
    raw = checker.mapping(path + ("variants",), spec["variants"], _AnyKey())
    if raw is None or len(raw) < 2:
        checker.problem(path + ("variants",), "an experiment needs at least two variants")
        return None
    weights, contents = [], {}
    for name, variant in raw.items():
        where = path + ("variants", name)
        if checker.identifier(where, name) is None:
            continue
        variant = checker.mapping(where, variant, VARIANT_KEYS, ("content",))
        if variant is None:
            continue
        weight = checker.number(where + ("share",), variant.get("share", 1), 0.0001)
        content = checker.content(where + ("content",), variant.get("content"))
        for channel in content:
            if channel != "default" and channel not in action.channels:
                checker.problem(where + ("content", channel),
                                f"{action.id} does not offer channel {channel}")
        weights.append((name, weight or 1.0))
        contents[name] = content
    return ExperimentPlan(experiment_id, goal, "variants", action=action.id,
                          variants=tuple(weights), contents=contents, auto_optimise=minimum)


def check_splits(checker, experiments: tuple[ExperimentPlan, ...], journeys) -> None:
    """A split experiment names a journey of the pack and one of its split steps."""
    by_id = {j.id: j for j in journeys}
    for index, experiment in enumerate(experiments):
        if experiment.kind != "split":
            continue
        journey = by_id.get(experiment.journey)
        path = ("experiments", index)
        if journey is None:
            checker.problem(path + ("journey",), f"unknown journey {experiment.journey!r}")
            continue
        step = next((s for s in journey.steps if s.id == experiment.split), None)
        if step is None or not step.split:
            checker.problem(path + ("split",), f"{experiment.split!r} is not a split step of "
                                               f"journey {journey.id}")


def with_split_arms(experiment: ExperimentPlan, journeys) -> ExperimentPlan:
    """A split experiment with its arms: the split step's branches and weights."""
    if experiment.kind != "split":
        return experiment
    journey = next(j for j in journeys if j.id == experiment.journey)
    step = next(s for s in journey.steps if s.id == experiment.split)
    return ExperimentPlan(experiment.id, experiment.goal, "split", journey=experiment.journey,
                          split=experiment.split,
                          variants=tuple((b.name, float(b.weight)) for b in step.split))


class _AnyKey(tuple):
    def __contains__(self, key: object) -> bool:
        return True
