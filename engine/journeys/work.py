"""What the worker does for one contact's due timers: fire trigger watches,
execute due steps (competing sends re-arbitrated in one ranking), and clear
stale timers."""
from __future__ import annotations

import heapq
import itertools
from datetime import datetime
from typing import TYPE_CHECKING

from engine.journeys.env import ContactEnv, next_anniversary
from engine.journeys.machine import Effects, advance, on_outcome
from engine.journeys.model import DueTimer, JourneyState, Run, RunChange, RunUpdate
from engine.model import ContactSnapshot, DecisionRequest

if TYPE_CHECKING:
    from engine.journeys.runner import JourneyService, PassSummary


class ContactWork:
    """One contact's share of a worker pass."""

    def __init__(self, service: JourneyService, contact_id: str, due: list[DueTimer],
                 now: datetime, state: JourneyState, snapshot: ContactSnapshot):
        from engine.journeys.runner import PassSummary

        self.service = service
        self.store = service.store
        self.plan = service.plan
        self.contact_id = contact_id
        self.due = due
        self.now = now
        self.state = state
        self.snapshot = snapshot
        self.summary: PassSummary = PassSummary()
        self._order = itertools.count()

    def run(self) -> PassSummary:
        """Everything due, moment by moment in time order across the contact's runs
        and watches, so that a worker catching up decides each step against the
        history an on-time worker would have seen."""
        state = self.state
        env = self.service.env(self.contact_id, can_send=True, snapshot=self.snapshot)
        queue: list[tuple[datetime, int, Run | None, DueTimer]] = []
        for timer in self.due:
            run = None if timer.kind == "watch" else self._current(timer, state)
            if timer.kind == "watch" or run is not None:
                heapq.heappush(queue, (timer.due_at, next(self._order), run, timer))
        while queue:
            moment = queue[0][0]
            batch = []
            while queue and queue[0][0] == moment:
                batch.append(heapq.heappop(queue))
            for _, _, run, timer in self._ranked(batch, env):
                moved = self._fire_watch(timer, state, env) if run is None \
                    else self._advance(run, timer, env)
                if moved is not None and moved.state != "ended" and moved.due_at <= self.now:
                    later = DueTimer(self.contact_id, moved.timer_key, moved.due_at)
                    heapq.heappush(queue, (moved.due_at, next(self._order), moved, later))
        return self.summary

    def _current(self, timer: DueTimer, state: JourneyState) -> Run | None:
        """The run this timer is for, or None (and the timer cleared) if it is stale."""
        _, run_id, seq = timer.key.rsplit(":", 2)
        run = state.run(run_id)
        if run is not None and str(run.seq) == seq and run.state != "ended":
            return run
        self.summary.stale += 1
        if run is not None:
            self.store.requeue(self.contact_id, run_id)  # a crash may have kept them back
        self.store.commit(RunChange(self.contact_id, done=(timer,)))
        return None

    def _ranked(self, batch: list, env: ContactEnv) -> list:
        """Due sends competing for one channel at one moment go in the order one
        decision over all their candidates ranks them; the rest as they came."""
        sends: dict[str, list[tuple[Run, DueTimer]]] = {}
        for _, _, run, timer in batch:
            step = self._step(run) if run is not None else None
            if step is not None and step.sends and step.task is None and step.when is None \
                    and run.state == "active":
                sends.setdefault(step.channel, []).append((run, timer))
        order = {id(item): index for index, item in enumerate(batch)}
        runs = {id(item[2]): item for item in batch if item[2] is not None}
        for channel, group in sends.items():
            if len(group) > 1:
                for rank, run in enumerate(self._arbitrate(channel, group, env)):
                    order[id(runs[id(run)])] = -len(batch) + rank
        return sorted(batch, key=lambda item: order[id(item)])

    def _arbitrate(self, channel: str, group: list[tuple[Run, DueTimer]], env: ContactEnv):
        candidates = {a: run for run, _ in group for a in self._step(run).actions}
        at = max(run.due_at for run, _ in group)
        request = DecisionRequest(self.contact_id, channel, at, limit=len(candidates),
                                  dry_run=True, actions=frozenset(candidates))
        ranked = self.service.decisions.decide(request).decision.actions
        first = []
        for chosen in ranked:
            run = candidates[chosen.action_id]
            if run not in first:
                first.append(run)
        return first + [run for run, _ in group if run not in first]

    def _step(self, run: Run):
        journey = self.plan.journey(run.journey_id)
        return journey.step(run.step_id) if journey else None

    def _advance(self, run: Run, timer: DueTimer, env: ContactEnv) -> Run | None:
        from engine.journeys.runner import _Change

        journey = self.plan.journey(run.journey_id)
        if journey is None:  # the active pack no longer has it: the run ends, said why
            ended = run.evolve(state="ended", end="journey_removed", ended_at=run.due_at,
                               due_at=None)
            self.store.commit(RunChange(self.contact_id, runs=(RunUpdate(ended, run.seq),),
                                        done=(timer,)))
            self.summary.ended += 1
            return None
        effects, change = Effects(), _Change(self.contact_id)
        moved = _route_recorded(journey, run, env, effects)
        moved = advance(journey, moved, min(run.due_at, self.now), env, effects)
        change.update(moved, run)
        return moved if self._commit(change.build(effects, done=(timer,)), effects) else None

    def _fire_watch(self, timer: DueTimer, state: JourneyState, env: ContactEnv) -> Run | None:
        from engine.journeys.runner import _Change

        journey_id = timer.key.split(":")[1]
        journey = self.plan.journey(journey_id)
        watched = state.watches.get(journey_id)
        if journey is None or watched is None or int(watched.timestamp()) != int(
                timer.due_at.timestamp()):
            self.summary.stale += 1
            self.store.commit(RunChange(self.contact_id, done=(timer,)))
            return None
        effects, change = Effects(), _Change(self.contact_id)
        run = self.service._start(journey, env, state.runs, timer.key, timer.due_at,
                                  effects)
        if run is not None:
            change.update(run, None)
            self.summary.started += 1
        again = None
        if journey.trigger.kind == "date":
            again = next_anniversary(env.profile_value(journey.trigger.attribute),
                                     journey.trigger.at, env.tz, timer.due_at)
        change.watch(journey_id, again, watched)
        return run if self._commit(change.build(effects), effects) else None

    def _commit(self, change: RunChange, effects: Effects) -> bool:
        result = self.store.commit(change)
        if not result.ok:
            self.summary.conflicts += 1
            return False
        self.service.applied(effects)
        self.summary.runs_moved += len(change.runs)
        self.summary.sent += len(effects.messages)
        self.summary.deferred += sum(".deferred." in c for _, c in effects.counts)
        self.summary.skipped += sum(".skipped." in c for _, c in effects.counts)
        self.summary.ended += sum(u.run.state == "ended" for u in change.runs)
        return True


def _route_recorded(journey, run: Run, env: ContactEnv, effects: Effects) -> Run:
    """A waiting run whose outcome was recorded but never routed (the API stopped in
    between) takes that outcome's transition now."""
    if run.state != "waiting" or run.decision_id is None:
        return run
    for outcome, at in env.recorded_outcomes(run.decision_id):
        moved = on_outcome(journey, run, run.decision_id, outcome, at, env.tz, Effects())
        if moved is not None:
            return on_outcome(journey, run, run.decision_id, outcome, at, env.tz, effects)
    return run
