"""The compiled form of a pack's ``events:`` and ``journeys:`` sections."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time, timedelta
from typing import Any, Mapping

from engine.language.expressions import Expression

DEFAULT_MAX_DELAY = timedelta(days=3)
# Transitions that need no outcome: the run moves on its own.
TIMEOUT = "timeout"
SKIPPED = "skipped"


@dataclass(frozen=True)
class EventTypePlan:
    """A declared event type: its ``data`` fields and the profile it updates."""

    name: str
    data: Mapping[str, str] = field(default_factory=dict)  # field -> type name
    sets: Mapping[str, Expression | Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TriggerPlan:
    """What starts a run: an event, a silence (no_event for a duration) or a
    yearly date read from the profile (at a local time of day)."""

    kind: str  # "event", "no_event" or "date"
    event: str | None = None
    silence: timedelta | None = None
    attribute: str | None = None
    at: time = time(9, 0)


@dataclass(frozen=True)
class Transition:
    """``on`` an outcome of the step's message (or ``timeout``, ``skipped``), or
    ``on_event`` an event type, within a time of the message, go to a step."""

    goto: str
    on: str | None = None
    event: str | None = None
    within: timedelta | None = None


@dataclass(frozen=True)
class Branch:
    name: str
    weight: float
    goto: str


@dataclass(frozen=True)
class StepPlan:
    id: str
    index: int
    wait: timedelta | None = None
    wait_until: time | None = None
    when: Expression | None = None
    sets: Mapping[str, Expression | Any] = field(default_factory=dict)
    channel: str | None = None
    actions: frozenset[str] = frozenset()
    then: tuple[Transition, ...] = ()
    next: str | None = None  # explicit next or the following step; None ends the run
    split: tuple[Branch, ...] = ()
    end: str | None = None
    max_delay: timedelta = DEFAULT_MAX_DELAY
    # A call task (engine.agenda.language.TaskStepPlan) booked in an agent's agenda
    # and decided at its slot; ``channel`` and ``actions`` are the task's.
    task: Any = None
    # Consents the step records (channel -> given), with the step as their source.
    consents: Mapping[str, bool] = field(default_factory=dict)

    @property
    def sends(self) -> bool:
        return self.channel is not None

    @property
    def waits(self) -> bool:
        return self.wait is not None or self.wait_until is not None or self.task is not None

    @property
    def listen_for(self) -> timedelta:
        """How long after its message the step waits for outcomes and events."""
        found = max((t.within for t in self.then if t.within is not None), default=timedelta(0))
        return max(found, self.task.result_within) if self.task is not None else found

    def transition(self, on: str | None = None, event: str | None = None) -> Transition | None:
        return next((t for t in self.then if (on is not None and t.on == on)
                     or (event is not None and t.event == event)), None)


@dataclass(frozen=True)
class JourneyPlan:
    id: str
    program: str
    trigger: TriggerPlan
    steps: tuple[StepPlan, ...]
    when: Expression | None = None
    reentry_after: timedelta | None = None
    exit_on: frozenset[str] = frozenset()
    description: str | None = None

    @property
    def first(self) -> StepPlan:
        return self.steps[0]

    def step(self, step_id: str | None) -> StepPlan | None:
        return next((s for s in self.steps if s.id == step_id), None)

    @property
    def events_read(self) -> frozenset[str]:
        """Event types this journey reacts to (trigger, goals, on_event)."""
        found = set(self.exit_on)
        if self.trigger.event:
            found.add(self.trigger.event)
        found.update(t.event for s in self.steps for t in s.then if t.event)
        return frozenset(found)
