"""The agenda's use cases: place a task in an agent's agenda (routing, sticky
assignment, the next free slot), record a call's result, reassign tasks, and
read an agent's day with each contact's card."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Mapping

from engine.agenda.hours import agent_zone, day_load, next_free_slot
from engine.agenda.model import RESULTS, Agent, Task, TaskResult
from engine.agenda.ports import AgendaStore
from engine.agenda.routing import choose_agent
from engine.decision.decide import open_decision
from engine.decision.facts import derive_facts
from engine.errors import EngineError
from engine.model import ContactSnapshot, DecisionRequest
from engine.plan import Plan
from engine.service import DecisionService

ATTEMPTS = 8
LOOKAHEAD = timedelta(days=62)


class AgendaError(EngineError):
    """A request the agenda cannot carry out; ``code`` says why."""

    def __init__(self, code: str, message: str):
        self.code = code
        super().__init__(message)


@dataclass(frozen=True)
class AgendaEntry:
    """A task as an agent's agenda shows it."""

    task: Task
    card: Mapping[str, Any]
    content: Mapping[str, Any]
    reasons: tuple[str, ...]
    excluded: tuple[str, ...]
    preview: bool  # content and reasons of a decision not made yet (made at the slot)


class AgendaService:
    """Agents, tasks and agendas, through the same DecisionService as the API."""

    def __init__(self, store: AgendaStore, decisions: DecisionService):
        self.store = store
        self.decisions = decisions

    @property
    def plan(self) -> Plan:
        return self.decisions.pack.plan

    # -- placing a task -----------------------------------------------------------------

    def place(self, task: Task, after: datetime, *, exclude: frozenset[str] = frozenset(),
              agent_id: str | None = None, note: str = "") -> Task:
        """Book ``task`` in the agenda of the agent routing gives (or ``agent_id``)
        at the first free slot at or after ``after``; unassigned when no agent
        matches or has a slot. Safe against concurrent bookings."""
        snapshot = self.decisions.load(self.plan, task.contact_id)
        for _ in range(ATTEMPTS):
            placed, version = self._proposal(task, after, snapshot, exclude, agent_id, note)
            assign = None
            if placed.agent_id is not None and placed.assigned_by != "supervisor":
                assign = (task.contact_id, task.queue, placed.agent_id)
            if self.store.save_task(placed, version, assign):
                return placed
        raise AgendaError("agenda_busy", f"task {task.task_id}: the agenda kept changing")

    def _proposal(self, task: Task, after: datetime, snapshot: ContactSnapshot,
                  exclude: frozenset[str], agent_id: str | None,
                  note: str) -> tuple[Task, int | None]:
        agents = self.store.agents()
        if agent_id is not None:
            agent = next((a for a in agents if a.agent_id == agent_id and a.active), None)
            if agent is None:
                raise AgendaError("unknown_agent", f"no active agent {agent_id!r}")
            how, team = "supervisor", agent.team
        else:
            choice = self._route(task, after, snapshot, agents, exclude)
            agent, how, team = choice.agent, choice.how, choice.team
        if agent is None:
            return self._unassigned(task, team, note or "no agent matches"), None
        version = self.store.agenda_version(agent.agent_id)
        booked = [t for t in self.store.agent_tasks(agent.agent_id, after - timedelta(days=1),
                                                    after + LOOKAHEAD)
                  if t.task_id != task.task_id]
        slot = next_free_slot(agent, booked, after, task.duration)
        if slot is None:
            return self._unassigned(task, team, f"{agent.agent_id} has no free slot"), None
        text = note or f"booked for {agent.agent_id} ({how})"
        return task.moved(text, agent_id=agent.agent_id, team=team, slot_at=slot,
                          assigned_by=how), version

    def _unassigned(self, task: Task, team: str | None, why: str) -> Task:
        return task.moved(f"unassigned: {why}", agent_id=None, team=team, slot_at=None,
                          assigned_by="unassigned")

    def _route(self, task: Task, after: datetime, snapshot: ContactSnapshot,
               agents: list[Agent], exclude: frozenset[str]):
        plan = self.plan
        scope = contact_scope(plan, snapshot, after, task.channel)
        rules = plan.routing.get(task.queue, ())
        loads = _Loads(self.store, agents, after)
        sticky = self.store.assignment(task.contact_id, task.queue)
        return choose_agent(rules, task.queue, agents, lambda e: e.evaluate(scope),
                            scope.contact, loads, sticky, exclude)

    # -- the call and its result -------------------------------------------------------------

    def open_task(self, task: Task, decision_id: str, content: Mapping[str, Any],
                  reasons: tuple[str, ...]) -> Task:
        """The task's decision was made at its slot: the call is to be made."""
        opened = task.moved("decided: open", status="open", decision_id=decision_id,
                            content=dict(content), reasons=tuple(reasons))
        self.store.save_task(opened)
        return opened

    def cancel(self, task_id: str, why: str) -> Task | None:
        task = self.store.get_task(task_id)
        if task is None or not task.is_open:
            return task
        cancelled = task.moved(f"cancelled: {why}", status="cancelled")
        self.store.save_task(cancelled)
        return cancelled

    def record_result(self, task_id: str, result: TaskResult) -> tuple[Task, bool]:
        """Record a call's result once: (the task, whether this call recorded it)."""
        if result.outcome not in RESULTS:
            raise AgendaError("invalid_result", f"outcome is one of {', '.join(RESULTS)}")
        if result.outcome == "callback" and (result.callback_at is None
                                             or result.callback_at <= result.at):
            raise AgendaError("invalid_result", "a callback needs callback_at, after now")
        task, first = self.store.record_result(task_id, result)
        if task is None:
            raise AgendaError("unknown_task", f"no task {task_id!r}")
        if not first and task.result is None:
            raise AgendaError("task_not_open", _not_open(task))
        return task, first

    # -- reassignment ------------------------------------------------------------------------

    def reassign(self, task_id: str, now: datetime, agent_id: str | None = None,
                 at: datetime | None = None) -> Task:
        """Move a planned or open task to ``agent_id`` (or the agent routing gives,
        other than the current one) at its first free slot from ``at`` (default:
        the task's slot, or now if that has passed)."""
        task = self.store.get_task(task_id)
        if task is None:
            raise AgendaError("unknown_task", f"no task {task_id!r}")
        if not task.is_open:
            raise AgendaError("task_not_open", _not_open(task))
        after = max(at or task.slot_at or now, now, task.not_before)
        exclude = frozenset({task.agent_id} - {None}) if agent_id is None else frozenset()
        by = f"reassigned to {agent_id} by a supervisor" if agent_id else "reassigned"
        return self.place(task, after, exclude=exclude, agent_id=agent_id, note=by)

    def start_now(self, task_id: str, now: datetime) -> Task:
        """The agent calls a planned task now, ahead of its slot: the slot moves to
        now (the agenda's version guards against a concurrent booking)."""
        for _ in range(ATTEMPTS):
            task = self.store.get_task(task_id)
            if task is None:
                raise AgendaError("unknown_task", f"no task {task_id!r}")
            if task.status != "planned" or task.agent_id is None:
                raise AgendaError("task_not_open", f"task {task_id} is {task.status}"
                                  + ("" if task.agent_id else " and not assigned"))
            if task.slot_at is not None and task.slot_at <= now:
                return task
            version = self.store.agenda_version(task.agent_id)
            moved = task.moved(f"started early by {task.agent_id}", slot_at=now)
            if self.store.save_task(moved, version):
                return moved
        raise AgendaError("agenda_busy", f"task {task_id}: the agenda kept changing")

    def agent_left(self, agent_id: str, now: datetime) -> list[Task]:
        """An agent became inactive or was removed: their open tasks go to others."""
        moved = []
        for task in self.store.open_agent_tasks(agent_id):
            after = max(task.slot_at or now, now, task.not_before)
            moved.append(self.place(task, after, exclude=frozenset({agent_id}),
                                    note=f"reassigned: {agent_id} is no longer active"))
        return moved

    # -- reading -------------------------------------------------------------------------------

    def agenda(self, agent: Agent, day: date) -> list[AgendaEntry]:
        """The agent's tasks on a local day, in time order, each with its card."""
        tz = agent_zone(agent)
        start = datetime.combine(day, time(0, 0), tzinfo=tz)
        tasks = self.store.agent_tasks(agent.agent_id, start, start + timedelta(days=1))
        return [self.entry(task) for task in tasks]

    def entry(self, task: Task) -> AgendaEntry:
        snapshot = self.decisions.load(self.plan, task.contact_id)
        card = contact_card(snapshot)
        if task.status != "planned" or task.slot_at is None:
            return AgendaEntry(task, card, task.content or {}, task.reasons, (), False)
        request = DecisionRequest(task.contact_id, task.channel, task.slot_at, explain=True,
                                  dry_run=True, actions=frozenset({task.action_id}))
        decision = self.decisions.decide(request).decision
        if decision.actions:
            chosen = decision.actions[0]
            return AgendaEntry(task, card, chosen.content, chosen.reasons, (), True)
        return AgendaEntry(task, card, {}, (), tuple(e.reason for e in decision.excluded), True)


class _Loads(Mapping):
    """Agents' calls on the day of ``after``, read when routing asks."""

    def __init__(self, store: AgendaStore, agents: list[Agent], after: datetime):
        self.store, self.after = store, after
        self.agents = {a.agent_id: a for a in agents}
        self.cache: dict[str, int] = {}

    def __getitem__(self, agent_id: str) -> int:
        if agent_id not in self.cache:
            agent = self.agents[agent_id]
            day = self.after.astimezone(agent_zone(agent)).date()
            start = datetime.combine(day, time(0, 0), tzinfo=agent_zone(agent))
            tasks = self.store.agent_tasks(agent_id, start, start + timedelta(days=1))
            self.cache[agent_id] = day_load(tasks, agent, day)
        return self.cache[agent_id]

    def get(self, agent_id: str, default: int = 0) -> int:  # type: ignore[override]
        return self[agent_id] if agent_id in self.agents else default

    def __iter__(self):
        return iter(self.agents)

    def __len__(self) -> int:
        return len(self.agents)


def contact_scope(plan: Plan, snapshot: ContactSnapshot, at: datetime, channel: str):
    """The expression scope of a contact at ``at`` (facts derived)."""
    name = channel if channel in plan.channels else next(iter(plan.channels))
    ctx = open_decision(plan, snapshot, DecisionRequest(snapshot.contact_id, name, at))
    derive_facts(plan.facts, ctx.scope)
    return ctx.scope


def contact_card(snapshot: ContactSnapshot, recent: int = 5) -> dict[str, Any]:
    """What an agent sees of a contact: profile, consents and the last contacts."""
    last = sorted(snapshot.history, key=lambda e: e.at, reverse=True)[:recent]
    return {"contact_id": snapshot.contact_id, "profile": dict(snapshot.profile),
            "consents": dict(snapshot.consents),
            "last_contacts": [{"at": e.at, "channel": e.channel, "action_id": e.action_id,
                               "program": e.program,
                               "outcomes": [o.outcome for o in e.outcomes]} for e in last]}


def _not_open(task: Task) -> str:
    if task.status == "planned":
        when = task.slot_at.isoformat() if task.slot_at else "when an agent takes it"
        return f"task {task.task_id} is planned for {when}; its call opens then"
    return f"task {task.task_id} is {task.status}"

