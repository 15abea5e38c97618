"""The machine's view of one contact during one stimulus: conditions, profile
updates and step decisions, through the same DecisionService as the API."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any, Mapping

from engine.agenda.hours import next_half_day
from engine.agenda.model import Task
from engine.agenda.service import AgendaService
from engine.decision.decide import open_decision
from engine.decision.facts import derive_facts
from engine.journeys.machine import StepDecision
from engine.journeys.model import ContactEvent, OutboxMessage, Run
from engine.journeys.plan import StepPlan
from engine.language.expressions import Expression
from engine.model import ContactSnapshot, DecisionRequest
from engine.plan import Plan
from engine.service import DecisionService
from engine.timeutil import UTC, to_date, zone

# Policies whose exclusions end: a step they block is deferred, not skipped.
DEFERRING = ("pressure", "quiet_hours", "capacity")
RETRY_AFTER_RACE = timedelta(minutes=1)
FREED_AFTER = timedelta(seconds=1)


class ContactEnv:
    """Conditions, profile updates and decisions for one contact."""

    def __init__(self, decisions: DecisionService, plan: Plan, contact_id: str,
                 can_send: bool = True, event: ContactEvent | None = None,
                 snapshot: ContactSnapshot | None = None, agenda: AgendaService | None = None):
        self.decisions = decisions
        self.agenda = agenda
        self.plan = plan
        self.contact_id = contact_id
        self.can_send = can_send
        self.event = event
        self._snapshot = snapshot  # as the caller just read it, if it did
        self._tz: tzinfo | None = None

    @property
    def tz(self) -> tzinfo:
        """The contact's time zone (its ``timezone`` attribute), else the pack's."""
        if self._tz is None:
            self._tz = self._zone()
        return self._tz

    def snapshot(self) -> ContactSnapshot:
        if self._snapshot is None:
            self._snapshot = self.decisions.load(self.plan, self.contact_id)
        return self._snapshot

    def _zone(self) -> tzinfo:
        name = self.snapshot().profile.get("timezone")
        return (zone(name) if isinstance(name, str) else None) or self.plan.tz

    def scope(self, at: datetime):
        request = DecisionRequest(self.contact_id, next(iter(self.plan.channels)), at)
        ctx = open_decision(self.plan, self.snapshot(), request)
        derive_facts(self.plan.facts, ctx.scope)
        if self.event is not None:
            ctx.scope.names["event"] = self.event.as_value()
        return ctx.scope

    def holds(self, condition: Any, at: datetime) -> bool:
        return bool(condition.evaluate(self.scope(at)))

    def set_profile(self, values: Mapping[str, Any], at: datetime) -> None:
        scope = self.scope(at)
        written = {name: _storable(v.evaluate(scope) if isinstance(v, Expression) else v)
                   for name, v in values.items()}
        self.decisions.store.patch_contact(self.contact_id, written, {})
        self._snapshot = None

    def set_consents(self, consents: Mapping[str, bool], at: datetime, source: str) -> None:
        sources = {f"consent_source_{name}": source for name in consents}
        sources.update({f"consent_at_{name}": at.isoformat() for name in consents})
        self.decisions.store.patch_contact(self.contact_id, sources, dict(consents))
        self._snapshot = None

    def place_task(self, run: Run, step: StepPlan, at: datetime) -> Task | None:
        if self.agenda is None:
            return None
        return place_step_task(self.agenda, run, step, at)

    def cancel_task(self, task_id: str, why: str) -> None:
        if self.agenda is not None:
            self.agenda.cancel(task_id, why)

    def decide(self, run: Run, step: StepPlan, at: datetime) -> StepDecision | None:
        if not self.can_send or (step.task is not None and self.agenda is None):
            return None
        request = DecisionRequest(
            self.contact_id, step.channel, at, explain=True, actions=step.actions,
            journey_id=run.journey_id, run_id=run.run_id, step_id=step.id)
        result = self.decisions.decide_step(request, f"{run.run_id}.{run.seq}", self._snapshot)
        self._snapshot = None
        if result.decision.actions:
            chosen = result.decision.actions[0]
            if step.task is not None:
                task = self.agenda.store.get_task(run.task_id)
                if task is not None and task.status == "planned":
                    self.agenda.open_task(task, result.decision_id, chosen.content,
                                          chosen.reasons)
            return StepDecision("sent", message=OutboxMessage(
                result.decision_id, step.channel, self.contact_id, chosen.action_id,
                dict(chosen.content), result.decision_id, run.journey_id, run.run_id, step.id,
                at, at))
        return blocked(result.decision.excluded, at)

    def recorded_outcomes(self, decision_id: str) -> list[tuple[str, datetime]]:
        """Outcomes already recorded on a decision's entries, oldest first."""
        found = [(o.outcome, o.at) for e in self.snapshot().history
                 if e.decision_id == decision_id for o in e.outcomes]
        return sorted(found, key=lambda item: item[1])

    def profile_value(self, name: str) -> Any:
        return self.snapshot().profile.get(name)


def place_step_task(agenda: AgendaService, run: Run, step: StepPlan, at: datetime) -> Task:
    """The run's task for a task step: the booked one while its slot has not
    passed; booked again after ``at`` if its slot passed undecided (a deferral);
    a new one for a new call (a no-answer retry goes to another half-day)."""
    spec = step.task
    current = agenda.store.get_task(run.task_id) if run.task_id else None
    if current is not None and current.is_open:
        if current.slot_at is not None and at < current.ends_at:
            return current
        if current.status == "open":
            return current
        return agenda.place(current, max(at, current.not_before))
    task_id = f"{run.run_id}.{run.seq}"
    again = agenda.store.get_task(task_id)  # booked by an attempt that did not commit
    if again is not None and again.is_open:
        return again
    after = max(at, run.step_entered_at + spec.due, run.not_before or at)
    if current is not None and current.result is not None and current.slot_at is not None \
            and current.result.outcome == "no_answer" and current.agent_id:
        agent = agenda.store.get_agent(current.agent_id)
        if agent is not None:
            after = max(after, next_half_day(current.slot_at, agent))
    task = Task(task_id, run.contact_id, spec.queue, None, None, spec.action, spec.channel,
                spec.duration, at, after, journey_id=run.journey_id, run_id=run.run_id,
                step_id=step.id, attempt=run.attempt or 1)
    return agenda.place(task, after)


def blocked(excluded, at: datetime) -> StepDecision:
    """Deferred to the earliest time a deferring policy lets a candidate through,
    or skipped with the policies that left every candidate out."""
    again = [(e.eligible_again_at, e.policy) for e in excluded
             if e.policy in DEFERRING]
    dated = [item for item in again if item[0] is not None]
    if dated:
        until, policy = min(dated, key=lambda item: item[0])
        if until <= at:  # a window counts entries at its very start: a moment later
            until = at + FREED_AFTER
        return StepDecision("deferred", until=until.astimezone(UTC), reason=policy)
    if again:  # concurrent decisions took the slot: try again shortly
        return StepDecision("deferred", until=at + RETRY_AFTER_RACE, reason=again[0][1])
    policies = sorted({e.policy for e in excluded}) or ["no_candidate"]
    return StepDecision("skipped", reason="+".join(policies))


def _storable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def next_anniversary(value: Any, clock: time, tz: tzinfo, after: datetime) -> datetime | None:
    """The next local ``clock`` on the anniversary of the date ``value``, after ``after``."""
    born = to_date(value)
    if born is None:
        return None
    local = after.astimezone(tz)
    for year in (local.year, local.year + 1, local.year + 2):
        day = 28 if (born.month, born.day) == (2, 29) and not _leap(year) else born.day
        moment = datetime.combine(date(year, born.month, day), clock, tzinfo=tz)
        if moment > local:
            return moment.astimezone(after.tzinfo)
    return None


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
