"""The journey use cases the API, the worker and the pack test runner share:
ingesting an event, routing an outcome, noticing a profile change, and doing
what is due.

Every change to a contact's runs is one ``RunChange`` committed against the
seq the runs were read at; a conflict (another stimulus moved a run first)
reloads and computes again.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.agenda.service import AgendaService
from engine.errors import EngineError, StoreUnavailable
from engine.journeys.env import ContactEnv, next_anniversary
from engine.journeys.machine import (
    Effects,
    advance,
    enter,
    may_enter,
    on_event,
    on_outcome,
    run_id_for,
)
from engine.journeys.model import (
    ContactEvent,
    DueTimer,
    JourneyState,
    Run,
    RunChange,
    RunUpdate,
    watch_timer_key,
)
from engine.journeys.plan import JourneyPlan
from engine.journeys.ports import JourneyStore
from engine.model import ContactSnapshot
from engine.plan import Plan
from engine.service import DecisionService

log = logging.getLogger("nba.journeys")
ATTEMPTS = 5
DEFAULT_LEASE_S = 60.0


class InvalidEvent(EngineError):
    """An event the pack refuses: undeclared under events_strict, or a wrong payload."""

    def __init__(self, problems: dict[str, list[str]]):
        self.problems = problems
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in problems.items()))


@dataclass
class EventResult:
    duplicate: bool = False
    started: list[dict[str, str]] = field(default_factory=list)
    advanced: list[dict[str, str]] = field(default_factory=list)
    ended: list[dict[str, str]] = field(default_factory=list)


@dataclass
class PassSummary:
    """What one pass of the worker did."""

    claimed: int = 0
    runs_moved: int = 0
    started: int = 0
    sent: int = 0
    deferred: int = 0
    skipped: int = 0
    ended: int = 0
    stale: int = 0
    conflicts: int = 0
    errors: int = 0

    def add(self, other: PassSummary) -> None:
        for name in vars(self):
            setattr(self, name, getattr(self, name) + getattr(other, name))


class JourneyService:
    """Events, outcomes and due steps, through the DecisionService."""

    def __init__(self, decisions: DecisionService, store: JourneyStore,
                 agenda: AgendaService | None = None):
        self.decisions = decisions
        self.store = store
        self.agenda = agenda  # books the call tasks of task steps (None: the pack has none)

    def env(self, contact_id: str, can_send: bool = False, event: ContactEvent | None = None,
            snapshot: ContactSnapshot | None = None) -> ContactEnv:
        return ContactEnv(self.decisions, self.plan, contact_id, can_send, event, snapshot,
                          self.agenda)

    def applied(self, effects: Effects) -> None:
        """What a committed change asks of the agenda: withdraw tasks of ended runs."""
        if self.agenda is not None:
            for task_id, why in effects.cancel_tasks:
                self.agenda.cancel(task_id, why)

    @property
    def plan(self) -> Plan:
        return self.decisions.pack.plan

    # -- events ---------------------------------------------------------------------

    def ingest(self, event: ContactEvent) -> EventResult:
        """Record an event once and apply it: profile updates, runs it starts,
        advances or ends, trigger watches. A duplicate changes nothing."""
        plan = self.plan
        check_event(plan, event)
        if self.store.has_event(event.contact_id, event.event_id):
            return EventResult(duplicate=True)
        declared = plan.events.get(event.type)
        if declared is not None and declared.sets:
            self.env(event.contact_id, event=event).set_profile(
                declared.sets, event.at)
        for _ in range(ATTEMPTS):
            result, change, effects = self._event_change(plan, event)
            committed = self.store.commit(change)
            if committed.ok:
                self.applied(effects)
                tracker = self.decisions.experiments
                if tracker is not None and plan.experiments:
                    tracker.event_ingested(plan, event)
                return result
            if committed.duplicate_event:
                return EventResult(duplicate=True)
        raise EngineError(f"event {event.event_id}: the contact's runs kept changing")

    def _event_change(self, plan: Plan, event: ContactEvent
                      ) -> tuple[EventResult, RunChange, Effects]:
        state = self.store.journey_state(event.contact_id)
        env = self.env(event.contact_id, event=event)
        effects, result = Effects(), EventResult()
        change = _Change(event.contact_id)
        for run in state.runs:
            journey = plan.journey(run.journey_id)
            moved = on_event(journey, run, event, env.tz, effects) if journey else None
            if moved is not None:
                moved = advance(journey, moved, event.at, env, effects)
                change.update(moved, run)
                (result.ended if moved.state == "ended" else result.advanced).append(
                    _ref(moved))
        runs = state.runs + tuple(u.run for u in change.runs)
        for journey in plan.journeys:
            if journey.trigger.kind == "event" and journey.trigger.event == event.type:
                run = self._start(journey, env, runs, event.event_id, event.at, effects)
                if run is not None:
                    change.update(run, None)
                    result.started.append(_ref(run))
            elif journey.trigger.kind == "no_event":
                _watch_silence(journey, state, event, change)
        _watch_dates(plan, env, state, event.at, change)
        return result, change.build(effects, event=event), effects

    def _start(self, journey: JourneyPlan, env: ContactEnv, runs: tuple[Run, ...],
               cause: str, at: datetime, effects: Effects,
               now: datetime | None = None) -> Run | None:
        if may_enter(journey, runs, at) is not None:
            return None
        if journey.when is not None and not env.holds(journey.when, at):
            effects.count(journey, "entry_refused")
            return None
        run_id = run_id_for(journey.id, env.contact_id, cause)
        run = enter(journey, env.contact_id, run_id, at, env.tz, self.plan.hash, effects)
        return advance(journey, run, now or at, env, effects)

    # -- outcomes and profiles -------------------------------------------------------------

    def route_outcome(self, contact_id: str, run_id: str, decision_id: str, outcome: str,
                      at: datetime, resume_at: datetime | None = None) -> Run | None:
        """Move the run whose step's message got ``outcome``; the moved run or None.
        ``resume_at``: the time a call's ``callback`` result asks for."""
        plan = self.plan
        for _ in range(ATTEMPTS):
            state = self.store.journey_state(contact_id)
            run = state.run(run_id)
            journey = plan.journey(run.journey_id) if run else None
            if journey is None:
                return None
            env = self.env(contact_id)
            effects, change = Effects(), _Change(contact_id)
            moved = on_outcome(journey, run, decision_id, outcome, at, env.tz, effects,
                               resume_at)
            if moved is not None:
                moved = advance(journey, moved, at, env, effects)
                change.update(moved, run)
            if self.store.commit(change.build(effects)).ok:
                self.applied(effects)
                return moved
        return None

    def profile_changed(self, contact_id: str, at: datetime) -> None:
        """Recompute the contact's date triggers (a birthday was set or changed)."""
        plan = self.plan
        if not any(j.trigger.kind == "date" for j in plan.journeys):
            return
        state = self.store.journey_state(contact_id)
        change = _Change(contact_id)
        _watch_dates(plan, self.env(contact_id), state, at, change)
        if change.watches:
            self.store.commit(change.build(Effects()))

    def reschedule(self, contact_id: str, run_id: str, task_id: str, at: datetime) -> bool:
        """A run waiting to decide its task at a slot that moved (the task was
        reassigned) becomes due at the new slot."""
        for _ in range(ATTEMPTS):
            run = self.store.journey_state(contact_id).run(run_id)
            if run is None or run.state != "active" or run.task_id != task_id \
                    or run.due_at == at:
                return False
            change = _Change(contact_id)
            change.update(run.evolve(due_at=at), run)
            if self.store.commit(change.build(Effects())).ok:
                return True
        return False

    def contact_runs(self, contact_id: str) -> JourneyState:
        return self.store.journey_state(contact_id)

    def erase(self, contact_id: str) -> bool:
        return self.store.erase_contact(contact_id)

    # -- the worker --------------------------------------------------------------------------

    def run_due(self, now: datetime, limit: int = 100,
                lease_s: float = DEFAULT_LEASE_S) -> PassSummary:
        """Claim up to ``limit`` due timers and do what they ask, contact by contact."""
        from engine.journeys.work import ContactWork

        summary = PassSummary()
        timers = self.store.claim_due(now, limit, lease_s)
        summary.claimed = len(timers)
        by_contact: dict[str, list[DueTimer]] = {}
        for timer in timers:
            by_contact.setdefault(timer.contact_id, []).append(timer)
        contacts = list(by_contact)
        states = self.store.journey_states(contacts) if contacts else {}
        snapshots = self.decisions.load_many(self.plan, contacts) if contacts else {}
        for contact_id, due in by_contact.items():
            try:
                work = ContactWork(self, contact_id, due, now, states[contact_id],
                                   snapshots[contact_id])
                summary.add(work.run())
            except StoreUnavailable:
                raise  # the whole pass waits for the store
            except Exception:  # one contact's failure must not stop the others
                log.exception("journey work failed for contact %r; its timers come back "
                              "when their lease ends", contact_id)
                summary.errors += 1
        return summary

    def run_contact(self, contact_id: str, now: datetime) -> PassSummary:
        """What is due for one contact up to ``now``, at once, as a worker pass does
        it (a call an agent starts early is decided by the request itself). A
        worker that claims the same timers meanwhile finds them done or stale."""
        from engine.journeys.work import ContactWork

        state = self.store.journey_state(contact_id)
        due = [DueTimer(contact_id, run.timer_key, run.due_at) for run in state.runs
               if run.state != "ended" and run.due_at is not None and run.due_at <= now]
        snapshot = self.decisions.load(self.plan, contact_id)
        return ContactWork(self, contact_id, due, now, state, snapshot).run()

    def run_until_idle(self, now: datetime, limit: int = 100, passes: int = 10_000,
                       lease_s: float = DEFAULT_LEASE_S) -> PassSummary:
        """Passes until nothing is due at ``now`` (how ``worker --once`` catches up)."""
        total = PassSummary()
        for _ in range(passes):
            summary = self.run_due(now, limit, lease_s)
            total.add(summary)
            if summary.claimed == 0:
                break
        return total


class _Change:
    """A RunChange being put together."""

    def __init__(self, contact_id: str):
        self.contact_id = contact_id
        self.runs: list[RunUpdate] = []
        self.timers: list[DueTimer] = []
        self.done: list[DueTimer] = []
        self.watches: dict[str, datetime | None] = {}

    def update(self, run: Run, before: Run | None) -> None:
        self.runs.append(RunUpdate(run, None if before is None else before.seq))
        if before is not None and before.due_at is not None:
            self.done.append(DueTimer(run.contact_id, before.timer_key, before.due_at))
        if run.state != "ended" and run.due_at is not None:
            self.timers.append(DueTimer(run.contact_id, run.timer_key, run.due_at))

    def watch(self, journey_id: str, due: datetime | None, old: datetime | None) -> None:
        self.watches[journey_id] = due
        if old is not None:
            self.done.append(DueTimer(self.contact_id, watch_timer_key(journey_id, old), old))
        if due is not None:
            self.timers.append(DueTimer(self.contact_id, watch_timer_key(journey_id, due), due))

    def build(self, effects: Effects, event: ContactEvent | None = None,
              done: tuple[DueTimer, ...] = ()) -> RunChange:
        return RunChange(self.contact_id, event=event, runs=tuple(self.runs),
                         timers=tuple(self.timers), done=tuple(self.done) + done,
                         watches=dict(self.watches), messages=tuple(effects.messages),
                         cancel=tuple(effects.cancel), counts=tuple(effects.counts))


def _watch_silence(journey: JourneyPlan, state: JourneyState, event: ContactEvent,
                   change: _Change) -> None:
    """no_event triggers: each watched event pushes the timer back; the first event
    of a contact starts the clock."""
    old = state.watches.get(journey.id)
    if event.type != journey.trigger.event and old is not None:
        return
    due = event.at + journey.trigger.silence
    if old is None or due > old:
        change.watch(journey.id, due, old)


def _watch_dates(plan: Plan, env: ContactEnv, state: JourneyState, at: datetime,
                 change: _Change) -> None:
    """date triggers: the next anniversary of the profile attribute, at local time."""
    for journey in plan.journeys:
        if journey.trigger.kind != "date":
            continue
        due = next_anniversary(env.profile_value(journey.trigger.attribute),
                               journey.trigger.at, env.tz, at)
        old = state.watches.get(journey.id)
        if due != old:
            change.watch(journey.id, due, old)


def check_event(plan: Plan, event: ContactEvent) -> None:
    """InvalidEvent if the pack refuses this event's type or payload."""
    declared = plan.events.get(event.type)
    if declared is None:
        if plan.events_strict:
            known = ", ".join(sorted(plan.events)) or "none"
            raise InvalidEvent({"type": [f"undeclared event type {event.type!r} (the pack "
                                         f"sets events_strict); declared: {known}"]})
        return
    problems = {}
    for name, kind in declared.data.items():
        value = event.data.get(name)
        if not _of_type(value, kind):
            problems[f"data.{name}"] = [f"expected {kind}, got {_kind(value)}"]
    if problems:
        raise InvalidEvent(problems)


def _of_type(value: Any, kind: str) -> bool:
    if kind == "any":
        return value is not None
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "date":
        from engine.timeutil import to_date

        return isinstance(value, str) and to_date(value) is not None
    expected = {"text": str, "boolean": bool, "list": list, "object": dict}[kind]
    return isinstance(value, expected)


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    return {bool: "true/false", int: "a number", float: "a number", str: "a text",
            list: "a list", dict: "an object"}.get(type(value), type(value).__name__)


def _ref(run: Run) -> dict[str, str]:
    return {"run_id": run.run_id, "journey_id": run.journey_id, "step_id": run.step_id or "",
            "state": run.state}


__all__ = ["JourneyService", "InvalidEvent", "EventResult", "PassSummary"]
