"""Who is in which arm, and what they did: the experiment tracker.

Decisions tell it each contact's arms (``decided``), outcomes and goal events
what followed (``outcome_recorded``, ``event_ingested``). It keeps the changes
in the process and applies them to an ``ExperimentStore`` in one batch every
``flush_s`` seconds (and at exit): a contact is counted once per experiment
(the store keeps members), a conversion once per member. Exposures already sent
by this process are not sent again (a bounded memory of recent members).

Every goal event (or goal outcome) of a member also counts, whole, in the
arm's daily counters (``ArmDay``): what a holdout's incremental revenue is
computed from (engine.learning.incremental). The changes of one local day of
the pack's timezone go in their own batch, applied once by its id: a batch
retried after a timeout does not count twice.

It also concludes ``auto_optimise`` experiments: every ``refresh_s`` seconds
it reads their arms and, once a winner is significant (see
engine.learning.experiment_report), sets it on the plan, so that every contact
then gets the winner's content.
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Callable, Protocol

from engine.journeys.graph import successors
from engine.journeys.machine import choose_branch
from engine.learning.experiments import ExperimentPlan

log = logging.getLogger("nba.experiments")
REMEMBERED = 100_000  # members this process remembers having sent
CHURN = ("unsubscribed", "complained")


@dataclass(frozen=True)
class ArmCounts:
    units: int = 0
    conversions: int = 0
    revenue: float = 0.0
    unsubscribed: int = 0
    complained: int = 0


@dataclass(frozen=True)
class ArmDay:
    """One arm's counters of one local day: units that joined, goal events of
    members (every one, not only the first), their value, and the growth of the
    members' squared goal value since they joined (sum over members of
    ``(r + v)**2 - r**2`` for a value ``v`` after ``r``; see
    engine.learning.incremental for what it bounds)."""

    joined: int = 0
    goal_events: int = 0
    goal_revenue: float = 0.0
    goal_square: float = 0.0

    def plus(self, other: ArmDay) -> ArmDay:
        return ArmDay(self.joined + other.joined, self.goal_events + other.goal_events,
                      self.goal_revenue + other.goal_revenue,
                      self.goal_square + other.goal_square)


@dataclass
class ExperimentBatch:
    """Changes to apply, in order: exposures (experiment, unit, arm); conversions
    (experiment, unit, arm to join with or None for members only, value); churn
    (experiment, unit, outcome) for members. ``day``: the local day the changes
    count on (None: the UTC date of the time they are applied); ``batch_id``:
    applied once."""

    exposures: list[tuple[str, str, str]] = field(default_factory=list)
    conversions: list[tuple[str, str, str | None, float]] = field(default_factory=list)
    churn: list[tuple[str, str, str]] = field(default_factory=list)
    day: date | None = None
    batch_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def __bool__(self) -> bool:
        return bool(self.exposures or self.conversions or self.churn)


class ExperimentStore(Protocol):
    def apply(self, batch: ExperimentBatch, at: datetime) -> bool:
        """Apply every change atomically, once per ``batch.batch_id`` (False, and
        nothing changed, for a batch applied before): a unit joins an experiment
        once (its first arm stays), converts once; churn counts for members only;
        every conversion of a member adds to its arm's ``ArmDay`` of ``batch.day``."""

    def arms(self, experiment_id: str) -> dict[str, ArmCounts]:
        """Per arm, what the store counted."""

    def arm_days(self, experiment_id: str) -> dict[tuple[str, date], ArmDay]:
        """Per (arm, local day), the daily counters."""

    def arm_of(self, experiment_id: str, unit: str) -> str | None:
        """The arm a unit joined, or None."""

    def close(self) -> None: ...


class _Run:
    """What choose_branch reads of a run: its id."""

    def __init__(self, run_id: str):
        self.run_id = run_id


class ExperimentTracker:
    def __init__(self, store: ExperimentStore, clock: Callable[[], datetime],
                 flush_s: float = 1.0, refresh_s: float = 5.0,
                 monotonic: Callable[[], float] = time.monotonic):
        self.store = store
        self.clock = clock
        self.flush_s = flush_s
        self.refresh_s = refresh_s
        self.monotonic = monotonic
        self._lock = threading.RLock()
        self._batch = ExperimentBatch()
        self._ready: list[ExperimentBatch] = []  # earlier days' batches, or batches that failed
        self._sent: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._flushed_at = monotonic()
        self._checked_at = -1e18

    # --- what the service tells it ----------------------------------------------

    def decided(self, plan: Any, contact_id: str, decision: Any, recorded: bool) -> None:
        """A decision (not a dry run): the contact joins its holdouts, and the variants
        experiments of the actions it was sent."""
        if not plan.experiments:
            return
        chosen = {a.action_id for a in decision.actions} if recorded else set()
        by_id = {e.id: e for e in plan.experiments}
        with self._lock:
            for experiment_id, arm in decision.experiments.items():
                experiment = by_id.get(experiment_id)
                if experiment is None or (experiment.kind == "variants"
                                          and experiment.action not in chosen):
                    continue
                self._expose(plan, experiment_id, contact_id, arm)
            self._maybe_flush()
        self._maybe_conclude(plan)

    def outcome_recorded(self, plan: Any, recorded: Any, report: Any) -> None:
        entry = recorded.entry
        with self._lock:
            for experiment in plan.experiments:
                unit, arm = _unit_of(experiment, plan, recorded.contact_id, entry)
                if unit is None:
                    continue
                if report.outcome == experiment.goal.outcome:
                    self._current(plan).conversions.append((experiment.id, unit, arm,
                                                            _number(report.value)))
                elif report.outcome in CHURN:
                    self._current(plan).churn.append((experiment.id, unit, report.outcome))
            self._maybe_flush()

    def decision_recorded(self, plan: Any, request: Any, entries: Any) -> None:
        pass  # exposures come from ``decided``, which also sees decisions with no entry

    def event_ingested(self, plan: Any, event: Any) -> None:
        """A goal event: a conversion for the contact in every experiment it joined."""
        with self._lock:
            for experiment in plan.experiments:
                goal = experiment.goal
                if goal.event == event.type and experiment.kind != "split":
                    value = event.data.get(goal.value) if goal.value else None
                    self._current(plan).conversions.append(
                        (experiment.id, event.contact_id, None, _number(value)))
            self._maybe_flush()

    # --- the store ----------------------------------------------------------------

    def flush(self) -> None:
        """Apply the pending batches in order. One that fails is kept and sent again
        later with the same id (it may have been applied: counted once); those after
        it, never sent, are merged into one per day, so an outage keeps a few
        batches, not one per flush."""
        with self._lock:
            batches = self._ready + ([self._batch] if self._batch else [])
            self._ready, self._batch = [], ExperimentBatch(day=self._batch.day)
            self._flushed_at = self.monotonic()
            for number, batch in enumerate(batches):
                try:
                    self.store.apply(batch, self.clock())
                except Exception:
                    log.warning("could not store experiment changes; retrying later",
                                exc_info=True)
                    self._ready = [batch, *_merged_by_day(batches[number + 1:])]
                    return

    def arms(self, experiment_id: str) -> dict[str, ArmCounts]:
        self.flush()
        return self.store.arms(experiment_id)

    def arm_days(self, experiment_id: str) -> dict[tuple[str, date], ArmDay]:
        self.flush()
        return self.store.arm_days(experiment_id)

    def flush_if_due(self) -> None:
        """``flush`` when there are changes and ``flush_s`` has passed."""
        with self._lock:
            self._maybe_flush()

    def close(self) -> None:
        self.flush()

    def _current(self, plan: Any) -> ExperimentBatch:
        """The batch of today's changes (the pack's timezone); yesterday's waits for
        the next flush in ``_ready``."""
        day = self.clock().astimezone(plan.tz).date()
        if self._batch.day != day:
            if self._batch:
                self._ready.append(self._batch)
            self._batch = ExperimentBatch(day=day)
        return self._batch

    def _expose(self, plan: Any, experiment_id: str, unit: str, arm: str) -> None:
        key = (experiment_id, unit)
        if key in self._sent:
            self._sent.move_to_end(key)
            return
        self._sent[key] = None
        if len(self._sent) > REMEMBERED:
            self._sent.popitem(last=False)
        self._current(plan).exposures.append((experiment_id, unit, arm))

    def _maybe_flush(self) -> None:
        if (self._batch or self._ready) and self.monotonic() - self._flushed_at >= self.flush_s:
            self.flush()

    def _maybe_conclude(self, plan: Any) -> None:
        if self.monotonic() - self._checked_at < self.refresh_s:
            return
        self._checked_at = self.monotonic()
        from engine.learning.experiment_report import winner

        for experiment in plan.experiments:
            if experiment.auto_optimise is None or experiment.id in plan.winners:
                continue
            try:
                found = winner(experiment, self.arms(experiment.id))
            except Exception:
                log.warning("could not read experiment %s", experiment.id, exc_info=True)
                continue
            if found is not None:
                plan.winners[experiment.id] = found


def _unit_of(experiment: ExperimentPlan, plan: Any, contact_id: str, entry: Any
             ) -> tuple[str | None, str | None]:
    """(unit, arm to join with) an outcome on ``entry`` counts for, or (None, None)."""
    if experiment.kind == "holdout":
        return contact_id, None
    if experiment.kind == "variants":
        return (contact_id, None) if entry.action_id == experiment.action else (None, None)
    if entry.journey_id != experiment.journey or entry.run_id is None:
        return None, None
    journey = plan.journey(experiment.journey)
    split = next((s for s in journey.steps if s.id == experiment.split), None) if journey else None
    if split is None or entry.step_id not in _after(journey, split):
        return None, None
    return entry.run_id, choose_branch(split, _Run(entry.run_id)).name


def _after(journey: Any, split: Any) -> set[str]:
    """The steps a run can reach once past ``split``."""
    by_id = {s.id: s for s in journey.steps}
    seen: set[str] = set()
    todo = [goto for goto, _ in successors(split)]
    while todo:
        step_id = todo.pop()
        if step_id in seen or step_id not in by_id:
            continue
        seen.add(step_id)
        todo += [goto for goto, _ in successors(by_id[step_id])]
    return seen


def _merged_by_day(batches: list[ExperimentBatch]) -> list[ExperimentBatch]:
    """Batches never sent, one per day in their order (each a new id)."""
    merged: dict[date | None, ExperimentBatch] = {}
    for batch in batches:
        into = merged.setdefault(batch.day, ExperimentBatch(day=batch.day))
        into.exposures += batch.exposures
        into.conversions += batch.conversions
        into.churn += batch.churn
    return list(merged.values())


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0

