"""What the worker does for one contact's due timers: fire trigger watches,
execute due steps (competing sends re-arbitrated in one ranking), and clear
stale timers."""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from engine.journeys.env import ContactEnv, next_anniversary
from engine.journeys.machine import Effects, advance, on_outcome
from engine.journeys.model import DueTimer, JourneyState, Run, RunChange
from engine.model import DecisionRequest

if TYPE_CHECKING:
    from engine.journeys.runner import JourneyService, PassSummary


class ContactWork:
    """One contact's share of a worker pass."""

    def __init__(self, service: JourneyService, contact_id: str, due: list[DueTimer],
                 now: datetime):
        from engine.journeys.runner import PassSummary

        self.service = service
        self.store = service.store
        self.plan = service.plan
        self.contact_id = contact_id
        self.due = due
        self.now = now
        self.summary: PassSummary = PassSummary()

    def run(self) -> PassSummary:
        state = self.store.journey_state(self.contact_id)
        env = ContactEnv(self.service.decisions, self.plan, self.contact_id)
        runs = []
        for timer in sorted(self.due, key=lambda t: t.due_at):
            if timer.kind == "watch":
                self._fire_watch(timer, state, env)
                continue
            run = self._current(timer, state)
            if run is not None:
                runs.append((run, timer))
        for run, timer in self._ranked(runs, env):
            self._advance(run, timer, env)
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

    def _ranked(self, runs: list[tuple[Run, DueTimer]], env: ContactEnv):
        """Due sends competing for one channel go in the order one decision over all
        their candidates ranks them; the others in due order."""
        sends: dict[str, list[tuple[Run, DueTimer]]] = {}
        for run, timer in runs:
            step = self._step(run)
            if run.state == "active" and step is not None and step.sends \
                    and step.when is None:
                sends.setdefault(step.channel, []).append((run, timer))
        order = {id(item[0]): index for index, item in enumerate(runs)}
        for channel, group in sends.items():
            if len(group) > 1:
                for rank, run in enumerate(self._arbitrate(channel, group, env)):
                    order[id(run)] = -len(runs) + rank
        return sorted(runs, key=lambda item: order[id(item[0])])

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

    def _advance(self, run: Run, timer: DueTimer, env: ContactEnv) -> None:
        from engine.journeys.runner import _Change

        journey = self.plan.journey(run.journey_id)
        if journey is None:
            self.store.commit(RunChange(self.contact_id, done=(timer,)))
            self.summary.stale += 1
            return
        effects, change = Effects(), _Change(self.contact_id)
        moved = _route_recorded(journey, run, env, effects)
        moved = advance(journey, moved, self.now, env, effects)
        change.update(moved, run)
        self._commit(change.build(effects, done=(timer,)), effects, moved)

    def _fire_watch(self, timer: DueTimer, state: JourneyState, env: ContactEnv) -> None:
        from engine.journeys.runner import _Change

        journey_id = timer.key.split(":")[1]
        journey = self.plan.journey(journey_id)
        watched = state.watches.get(journey_id)
        if journey is None or watched is None or int(watched.timestamp()) != int(
                timer.due_at.timestamp()):
            self.summary.stale += 1
            self.store.commit(RunChange(self.contact_id, done=(timer,)))
            return
        effects, change = Effects(), _Change(self.contact_id)
        run = self.service._start(journey, env, state.runs, timer.key, timer.due_at,
                                  effects, self.now)
        if run is not None:
            change.update(run, None)
            self.summary.started += 1
        again = None
        if journey.trigger.kind == "date":
            again = next_anniversary(env.profile_value(journey.trigger.attribute),
                                     journey.trigger.at, env.tz, timer.due_at)
        change.watch(journey_id, again, watched)
        self._commit(change.build(effects), effects, run)

    def _commit(self, change: RunChange, effects: Effects, moved: Run | None) -> None:
        result = self.store.commit(change)
        if not result.ok:
            self.summary.conflicts += 1
            return
        self.summary.runs_moved += len(change.runs)
        self.summary.sent += len(effects.messages)
        self.summary.deferred += sum(".deferred." in c for _, c in effects.counts)
        self.summary.skipped += sum(".skipped." in c for _, c in effects.counts)
        self.summary.ended += sum(u.run.state == "ended" for u in change.runs)


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
