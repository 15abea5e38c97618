"""The step machine of a run: pure functions from (run, stimulus) to the next
run and its effects.

A run is advanced by ``advance`` when its timer is due, by ``on_outcome`` when
its step's message gets an outcome, and by ``on_event`` when the contact does
something. Steps that take no time (conditions, splits, profile updates, ends)
follow each other at once; a step executes as of its due time, so a worker
catching up behaves as if it had been on time. What needs the outside world
(evaluating a condition on the contact, deciding a step's message) is asked of
a ``StepEnv``.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta, tzinfo
from typing import Any, Mapping, Protocol

from engine.journeys.model import ContactEvent, OutboxMessage, Run
from engine.journeys.plan import SKIPPED, TIMEOUT, JourneyPlan, StepPlan

MAX_HOPS = 200  # instantaneous steps in one advance (validation forbids loops without a wait)
COMPLETED = "completed"
UNASSIGNED_RETRY = timedelta(hours=4)  # an unassigned task is routed again that often


@dataclass(frozen=True)
class StepDecision:
    """What deciding a send step gave: ``sent`` (with its message), ``deferred``
    (until a time, by a policy) or ``skipped`` (with a reason)."""

    kind: str
    message: OutboxMessage | None = None
    until: datetime | None = None
    reason: str = ""


class StepEnv(Protocol):
    """The contact and the decision path, as the machine needs them."""

    tz: tzinfo

    def holds(self, condition: Any, at: datetime) -> bool:
        """Whether a condition on the contact is true at ``at``."""

    def set_profile(self, values: Mapping[str, Any], at: datetime) -> None:
        """Update profile attributes (values or expressions)."""

    def decide(self, run: Run, step: StepPlan, at: datetime) -> StepDecision | None:
        """Decide the step's message as of ``at``; None when this caller cannot
        send (the run then waits for the worker, due at once). For a task step,
        a chosen action opens the run's task for its agent."""

    def set_consents(self, consents: Mapping[str, bool], at: datetime, source: str) -> None:
        """Record consents, with the step as their source."""

    def place_task(self, run: Run, step: StepPlan, at: datetime) -> Any:
        """The run's call task for this step, booked (an ``engine.agenda`` Task with
        ``task_id`` and ``slot_at``, None for unassigned), or None when this caller
        has no agenda."""

    def cancel_task(self, task_id: str, why: str) -> None:
        """Withdraw a task that will not be called."""


@dataclass
class Effects:
    """What an advance produced besides the run's new state."""

    messages: list[OutboxMessage] = field(default_factory=list)
    cancel: list[tuple[str, str]] = field(default_factory=list)
    cancel_tasks: list[tuple[str, str]] = field(default_factory=list)  # (task id, why)
    counts: list[tuple[str, str]] = field(default_factory=list)

    def count(self, journey: JourneyPlan, counter: str) -> None:
        self.counts.append((journey.id, counter))


def run_id_for(journey_id: str, contact_id: str, cause: str) -> str:
    """A run id that the same cause (event id, watch time) always gives."""
    digest = hashlib.sha256(f"{journey_id}\x1f{contact_id}\x1f{cause}".encode()).hexdigest()
    return f"{journey_id}.{digest[:12]}"  # unique within one contact: 48 bits are plenty


def enter(journey: JourneyPlan, contact_id: str, run_id: str, at: datetime, tz: tzinfo,
          pack_hash: str | None, effects: Effects) -> Run:
    """A new run at the journey's first step."""
    run = Run(run_id, journey.id, contact_id, None, "active", 0, at, at, at,
              pack_hash=pack_hash)
    effects.count(journey, "entered")
    return _enter_step(journey, run, journey.first, at, tz, effects, bump=False)


def may_enter(journey: JourneyPlan, runs: tuple[Run, ...], at: datetime) -> str | None:
    """Why the contact may not enter now (None: it may)."""
    mine = [r for r in runs if r.journey_id == journey.id]
    if any(r.state != "ended" for r in mine):
        return "already_in"
    if journey.reentry_after is not None and mine:
        last = max(r.entered_at for r in mine)
        if at < last + journey.reentry_after:
            return "reentry"
    return None


def advance(journey: JourneyPlan, run: Run, now: datetime, env: StepEnv,
            effects: Effects) -> Run:
    """Execute the run's due steps, each as of its due time, until it must wait
    past ``now``, waits for an outcome, or ends."""
    for _ in range(MAX_HOPS):
        if run.state == "ended" or run.due_at is None or run.due_at > now:
            return run
        step = journey.step(run.step_id)
        if step is None:  # the pack changed under the run: end it cleanly
            return _end(journey, run, run.due_at, "step_removed", effects)
        at = run.due_at
        if run.state == "waiting":
            if step.task is not None and run.task_id:
                effects.cancel_tasks.append((run.task_id, "no result recorded in time"))
            run = _follow(journey, run, step, step.transition(on=TIMEOUT), at, env.tz, effects)
            continue
        moved = _execute(journey, run, step, at, env, effects)
        if moved is None:
            return run  # the caller cannot send: the worker will
        run = moved
    return _end(journey, run, run.due_at or now, "too_many_steps", effects)


def _execute(journey: JourneyPlan, run: Run, step: StepPlan, at: datetime, env: StepEnv,
             effects: Effects) -> Run | None:
    if step.when is not None and not env.holds(step.when, at):
        effects.count(journey, f"{step.id}.skipped.when")
        return _follow(journey, run, step, step.transition(on=SKIPPED), at, env.tz, effects)
    if step.task is not None:
        return _task(journey, run, step, at, env, effects)
    if step.sends:
        decision = env.decide(run, step, at)
        if decision is None:
            return None
        return _decided(journey, run, step, decision, at, env, effects)
    if step.sets:
        env.set_profile(step.sets, at)
    if step.consents:
        env.set_consents(step.consents, at, f"journey {journey.id}, step {step.id}")
    if step.end is not None:
        return _end(journey, run, at, step.end, effects)
    if step.split:
        branch = choose_branch(step, run)
        effects.count(journey, f"{step.id}.branch.{branch.name}")
        run = replace(run, branches={**run.branches, step.id: branch.name})
        return _goto(journey, run, branch.goto, at, env.tz, effects)
    return _goto(journey, run, step.next, at, env.tz, effects)


def _decided(journey: JourneyPlan, run: Run, step: StepPlan, decision: StepDecision,
             at: datetime, env: StepEnv, effects: Effects) -> Run:
    if decision.kind == "deferred":
        since = run.deferred_since or at
        if decision.until is not None and decision.until <= since + step.max_delay:
            effects.count(journey, f"{step.id}.deferred.{decision.reason}")
            return run.evolve(due_at=max(decision.until, at), deferred_since=since)
        effects.count(journey, f"{step.id}.skipped.max_delay")
        return _follow(journey, run, step, step.transition(on=SKIPPED), at, env.tz, effects)
    if decision.kind == "skipped":
        effects.count(journey, f"{step.id}.skipped.{decision.reason}")
        if step.task is not None and run.task_id:
            env.cancel_task(run.task_id, f"not allowed: {decision.reason}")
        return _follow(journey, run, step, step.transition(on=SKIPPED), at, env.tz, effects)
    message = decision.message
    if step.task is None:
        effects.messages.append(message)
    effects.count(journey, f"{step.id}.sent")
    if step.sets:
        env.set_profile(step.sets, at)
    sent = run.evolve(decision_id=message.decision_id,
                      message_id=message.message_id if step.task is None else None,
                      channel=message.channel, sent_at=at, deferred_since=None)
    if step.end is not None:
        return _end(journey, sent, at, step.end, effects)
    if not step.then:
        return _goto(journey, sent, step.next, at, env.tz, effects)
    return replace(sent, state="waiting", due_at=at + step.listen_for)


def on_outcome(journey: JourneyPlan, run: Run, decision_id: str, outcome: str,
               at: datetime, tz: tzinfo, effects: Effects,
               resume_at: datetime | None = None) -> Run | None:
    """The run after an outcome of its step's message; None if it changes nothing.
    ``resume_at``: when a call's ``callback`` result asks to be called again."""
    if run.state != "waiting" or run.decision_id != decision_id:
        return None
    step = journey.step(run.step_id)
    if step is not None and step.task is not None:
        return _task_result(journey, run, step, outcome, at, tz, effects, resume_at)
    transition = step.transition(on=outcome) if step else None
    effects.count(journey, f"{run.step_id}.outcome.{outcome}")
    if transition is None or not _in_window(run, transition.within, at):
        return None
    return _goto(journey, run, transition.goto, at, tz, effects)


def on_event(journey: JourneyPlan, run: Run, event: ContactEvent, tz: tzinfo,
             effects: Effects) -> Run | None:
    """The run after one of the contact's events; None if it changes nothing."""
    if run.state == "ended" or event.at < run.entered_at:
        return None  # an event from before the run (posted late) does not route it
    if event.type in journey.exit_on:
        if run.message_id and run.channel:  # withdrawn unless its sender has it already
            effects.cancel.append((run.channel, run.message_id))
        if run.task_id:
            effects.cancel_tasks.append((run.task_id, f"goal reached: {event.type}"))
        effects.count(journey, f"goal.{event.type}")
        return _end(journey, run, event.at, f"goal:{event.type}", effects, counted=True)
    if run.state != "waiting":
        return None
    step = journey.step(run.step_id)
    transition = step.transition(event=event.type) if step else None
    if transition is None or not _in_window(run, transition.within, event.at):
        return None
    effects.count(journey, f"{run.step_id}.event.{event.type}")
    return _goto(journey, run, transition.goto, event.at, tz, effects)


def _task(journey: JourneyPlan, run: Run, step: StepPlan, at: datetime, env: StepEnv,
          effects: Effects) -> Run | None:
    """A task step: book the call (at once when entered), then decide it at its slot."""
    task = env.place_task(run, step, at)
    if task is None:
        return None  # this caller has no agenda: the worker books it
    if task.slot_at is None:  # no agent could take it: routed again later
        if run.task_id != task.task_id:
            effects.count(journey, f"{step.id}.task.unassigned")
        return run.evolve(task_id=task.task_id, due_at=at + UNASSIGNED_RETRY)
    if at < task.slot_at:
        if run.task_id != task.task_id:
            effects.count(journey, f"{step.id}.task.booked")
        return run.evolve(task_id=task.task_id, due_at=task.slot_at)
    run = replace(run, task_id=task.task_id)
    decision = env.decide(run, step, at)
    if decision is None:
        return None
    return _decided(journey, run, step, decision, at, env, effects)


def _task_result(journey: JourneyPlan, run: Run, step: StepPlan, outcome: str, at: datetime,
                 tz: tzinfo, effects: Effects, resume_at: datetime | None) -> Run:
    """A call's result: call again (a callback, or no answer with attempts left),
    or the step's transition for that result, else the next step."""
    effects.count(journey, f"{run.step_id}.outcome.{outcome}")
    attempt = run.attempt or 1
    if outcome == "callback" and step.transition(on="callback") is None:
        return _call_again(run, at, attempt, resume_at or at)
    if outcome == "no_answer" and attempt < step.task.attempts:
        return _call_again(run, at, attempt + 1, None)
    transition = step.transition(on=outcome)
    return _follow(journey, run, step, transition, at, tz, effects)


def _call_again(run: Run, at: datetime, attempt: int, not_before: datetime | None) -> Run:
    """The same step books a new call (the done task stays as ``task_id``, so the
    booking knows which half-day not to call again)."""
    return run.evolve(state="active", due_at=at, decision_id=None, message_id=None,
                      sent_at=None, deferred_since=None, attempt=attempt,
                      not_before=not_before)


def _in_window(run: Run, within: timedelta | None, at: datetime) -> bool:
    if run.sent_at is None or at < run.sent_at:
        return False
    return within is None or at <= run.sent_at + within


def _follow(journey: JourneyPlan, run: Run, step: StepPlan, transition, at: datetime,
            tz: tzinfo, effects: Effects) -> Run:
    if transition is None and step.end is not None:
        return _end(journey, run, at, step.end, effects)
    target = transition.goto if transition is not None else step.next
    return _goto(journey, run, target, at, tz, effects)


def _goto(journey: JourneyPlan, run: Run, step_id: str | None, at: datetime, tz: tzinfo,
          effects: Effects) -> Run:
    if step_id is None:
        return _end(journey, run, at, COMPLETED, effects)
    return _enter_step(journey, run, journey.step(step_id), at, tz, effects)


def _enter_step(journey: JourneyPlan, run: Run, step: StepPlan, at: datetime, tz: tzinfo,
                effects: Effects, bump: bool = True) -> Run:
    effects.count(journey, f"{step.id}.entered")
    fields = dict(step_id=step.id, state="active", step_entered_at=at,
                  due_at=wait_until(step, at, tz), decision_id=None, sent_at=None,
                  deferred_since=None, task_id=None, attempt=None, not_before=None)
    return run.evolve(**fields) if bump else replace(run, **fields)


def wait_until(step: StepPlan, entered: datetime, tz: tzinfo) -> datetime:
    """When a step entered at ``entered`` executes: after its wait, if any."""
    if step.wait is not None:
        return entered + step.wait
    if step.wait_until is not None:
        return next_local_time(entered, step.wait_until, tz)
    return entered


def next_local_time(after: datetime, clock: time, tz: tzinfo) -> datetime:
    """The first moment strictly after ``after`` when it is ``clock`` in ``tz``."""
    local = after.astimezone(tz)
    candidate = datetime.combine(local.date(), clock, tzinfo=tz)
    if candidate <= local:
        candidate = datetime.combine(local.date() + timedelta(days=1), clock, tzinfo=tz)
    return candidate.astimezone(after.tzinfo)


def _end(journey: JourneyPlan, run: Run, at: datetime, label: str, effects: Effects,
         counted: bool = False) -> Run:
    if not counted:
        effects.count(journey, f"end.{label}")
    return run.evolve(state="ended", end=label, ended_at=at, due_at=None)


def choose_branch(step: StepPlan, run: Run):
    """A split's branch: random over the weights, stable for the contact and run."""
    digest = hashlib.sha256(f"{run.run_id}\x1f{step.id}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") / 2**64 * sum(b.weight for b in step.split)
    for branch in step.split:
        point -= branch.weight
        if point < 0:
            return branch
    return step.split[-1]
