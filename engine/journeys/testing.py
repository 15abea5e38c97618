"""Running a pack test that drives journeys instead of one decision.

The test's contact goes into fresh in-memory stores, then each item of its
``timeline`` happens in order, once the worker has done what was due up to the
item's time (a pass at every due time on the way, as a worker that is never
late, then one at the item's time): an event (``JourneyService.ingest``), an
outcome of a step's latest message (``DecisionService.record_outcome`` then
``JourneyService.route_outcome``, as the API does) or a profile change (a
PATCH, then ``JourneyService.profile_changed``). At the end the worker runs up
to ``until``, and every message the runs queued, in any outbox and any state,
is compared in time order with ``expect.sent``; ``expect.runs`` checks the
contact's runs in entry order. No sender takes the messages: they stay ready,
and a goal event withdraws (cancels) its run's last one.

Call tasks: the test's ``agents`` are stored first; a ``result`` item records
a call's result on the step's latest task (``record_task_result``, as the API
does), and ``expect.tasks`` checks the contact's tasks in creation order: the
agent (or ``unassigned``), the slot (``at``), the status.
"""
from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any

from engine.agenda.memory import MemoryAgendaStore
from engine.agenda.model import Task, TaskResult, agent_from_mapping
from engine.agenda.service import AgendaError, AgendaService
from engine.backends import ExecutionBackend
from engine.errors import UnknownDecision
from engine.journeys.memory import MemoryJourneyStore
from engine.journeys.model import MESSAGE_STATES, ContactEvent, OutboxMessage, Run
from engine.journeys.runner import InvalidEvent, JourneyService
from engine.journeys.tasks import record_task_result
from engine.model import OutcomeReport
from engine.plan import Plan
from engine.service import ActivePack, DecisionService
from engine.testing import _moment, seeded_store
from engine.timeutil import isoformat

ALL_MESSAGES = 1_000_000  # a test contact never has more


def run_journey_test(plan: Plan, spec: dict[str, Any], backend: ExecutionBackend) -> list[str]:
    """Play the test's timeline; the differences from what it expects (none: it passed)."""
    run = JourneyTestRun(plan, spec, backend)
    run.play()
    expect = spec["expect"]
    failures = list(run.problems)
    if "sent" in expect:
        failures += compare_sent(plan, expect["sent"] or [], run.sent())
    if "runs" in expect:
        failures += compare_runs(expect["runs"] or [], run.runs())
    if "tasks" in expect:
        failures += compare_tasks(plan, expect["tasks"] or [], run.tasks())
    if failures:
        failures += run.trace()
    return failures


class JourneyTestRun:
    """One journey test's contact, stores and services, wired as the API wires them."""

    def __init__(self, plan: Plan, spec: dict[str, Any], backend: ExecutionBackend):
        self.plan = plan
        self.spec = spec
        self.contacts, self.contact_id = seeded_store(plan, spec)
        self.journeys = MemoryJourneyStore()
        serial = itertools.count(1)
        self.decisions = DecisionService(self.contacts, ActivePack(plan), backend,
                                         new_id=lambda: f"pack-test-{next(serial)}",
                                         events=self.journeys)
        self.agenda = MemoryAgendaStore()
        for raw in spec.get("agents") or []:
            fields = {k: v for k, v in raw.items() if k != "id"}
            self.agenda.put_agent(agent_from_mapping(raw["id"], fields))
        self.service = JourneyService(self.decisions, self.journeys,
                                      AgendaService(self.agenda, self.decisions))
        self.problems: list[str] = []

    def play(self) -> None:
        """The contact is stored at the test's ``at`` (or its first item), then each
        item happens after the worker caught up with it, then the worker runs to
        ``until``."""
        items = self.spec.get("timeline") or []
        start = self.spec.get("at") or (items[0]["at"] if items else self.spec["until"])
        self.service.profile_changed(self.contact_id, _moment(start, self.plan))
        for number, item in enumerate(items):
            at = _moment(item["at"], self.plan)
            self.work_until(at)
            self._happen(f"timeline[{number}]", item, at)
        self.work_until(_moment(self.spec["until"], self.plan))

    def work_until(self, moment: datetime) -> None:
        """The worker's passes up to ``moment``: one at each due time on the way, then
        one at ``moment``. (One late pass is not the same: it takes each run of the
        contact to ``moment`` before the next, and a later step of one run then counts
        as pressure against an earlier step of another.)"""
        while (due := self.journeys.oldest_due()) is not None and due < moment:
            self.service.run_until_idle(due)
            if (self.journeys.oldest_due() or moment) <= due:
                break  # a timer that stays due (held by a lease): the last pass takes it
        self.service.run_until_idle(moment)

    def _happen(self, where: str, item: dict[str, Any], at: datetime) -> None:
        if "event" in item:
            self._event(where, item, at)
        elif "outcome" in item:
            self._outcome(where, item, at)
        elif "result" in item:
            self._result(where, item, at)
        else:
            self._profile(where, item, at)

    def _event(self, where: str, item: dict[str, Any], at: datetime) -> None:
        event = ContactEvent(str(item.get("id") or where), self.contact_id, item["event"], at,
                             dict(item.get("data") or {}))
        try:
            self.service.ingest(event)
        except InvalidEvent as exc:
            self.problems.append(f"{where}: the pack refuses event {event.type}: {exc}")

    def _outcome(self, where: str, item: dict[str, Any], at: datetime) -> None:
        step, journey = item["step"], item.get("journey")
        mine = [m for m in self.sent() if m.step_id == step
                and journey in (None, m.journey_id) and m.due_at <= at]
        if not mine:
            self.problems.append(f"{where}: step {step} sent no message by {isoformat(at)} "
                                 f"to post {item['outcome']} for")
            return
        message = mine[-1]
        report = OutcomeReport(message.decision_id, message.action_id, item["outcome"], at)
        try:
            recorded = self.decisions.record_outcome(report)
        except UnknownDecision as exc:
            self.problems.append(f"{where}: {exc}")
            return
        if not recorded.duplicate and recorded.entry.run_id is not None:
            self.service.route_outcome(recorded.contact_id, recorded.entry.run_id,
                                       message.decision_id, item["outcome"], at)

    def _result(self, where: str, item: dict[str, Any], at: datetime) -> None:
        step, journey = item["step"], item.get("journey")
        mine = [t for t in self.tasks() if t.step_id == step
                and journey in (None, t.journey_id)]
        if not mine or mine[-1].status != "open":
            seen = f"its latest task is {mine[-1].status}" + (
                f" for {isoformat(mine[-1].slot_at)}" if mine[-1].slot_at else "") \
                if mine else "it booked no task"
            self.problems.append(f"{where}: no open call of step {step} at {isoformat(at)} to "
                                 f"post {item['result']} for ({seen})")
            return
        callback = _moment(item["callback_at"], self.plan) if "callback_at" in item else None
        result = TaskResult(item["result"], at, item.get("notes"), item.get("value"), callback)
        try:
            record_task_result(self.service, mine[-1].task_id, result)
        except AgendaError as exc:
            self.problems.append(f"{where}: {exc}")

    def tasks(self) -> list[Task]:
        return self.agenda.contact_tasks(self.contact_id)

    def _profile(self, where: str, item: dict[str, Any], at: datetime) -> None:
        profile = dict(item["profile"] or {})
        consents = profile.pop("consents", None) or {}
        self.contacts.patch_contact(self.contact_id, profile, consents)
        self.service.profile_changed(self.contact_id, at)

    def sent(self) -> list[OutboxMessage]:
        """Every message queued for the contact, whatever its outbox state, by due time."""
        found = [m for channel in self.plan.channels for state in MESSAGE_STATES
                 for m in self.journeys.outbox_messages(channel, state, ALL_MESSAGES)
                 if m.contact_id == self.contact_id]
        return sorted(found, key=lambda m: (m.due_at, m.created_at, m.message_id))

    def runs(self) -> tuple[Run, ...]:
        return self.journeys.journey_state(self.contact_id).runs

    def trace(self) -> list[str]:
        """What each journey did for the contact, to read a failure by."""
        lines = []
        for journey in self.plan.journeys:
            counts = self.journeys.journey_counts(journey.id)
            if counts:
                steps = ", ".join(name if n == 1 else f"{name} x{n}" for name, n in counts.items())
                lines.append(f"(journey {journey.id}: {steps})")
        for task in self.tasks():
            lines.append(f"(task {_task_text(task)}: {'; '.join(task.moves)})")
        return lines


def compare_sent(plan: Plan, expected: list[dict[str, Any]],
                 got: list[OutboxMessage]) -> list[str]:
    """``sent[i]: expected ..., got ...`` for every position where the lists differ."""
    failures = []
    for number in range(max(len(expected), len(got))):
        want = expected[number] if number < len(expected) else None
        message = got[number] if number < len(got) else None
        keys = tuple(want) if want is not None else ("step", "action", "channel", "at")
        if want is not None and message is not None and _matches(plan, want, message):
            continue
        wanted = "nothing" if want is None else _described(want, _moment(want["at"], plan))
        seen = "nothing" if message is None else _described(_fields(message, keys),
                                                            message.due_at)
        failures.append(f"sent[{number}]: expected {wanted}, got {seen}")
    return failures


def _matches(plan: Plan, want: dict[str, Any], message: OutboxMessage) -> bool:
    have = _fields(message, tuple(want))
    return all(have[key] == value for key, value in want.items() if key != "at") \
        and _moment(want["at"], plan) == message.due_at


def _fields(message: OutboxMessage, keys: tuple[str, ...]) -> dict[str, Any]:
    every = {"step": message.step_id, "action": message.action_id, "channel": message.channel,
             "journey": message.journey_id, "state": message.state, "at": message.due_at}
    return {key: every[key] for key in keys if key in every}


def _described(item: dict[str, Any], at: datetime) -> str:
    step = f"{item['journey']}.{item['step']}" if "journey" in item else item["step"]
    state = f" ({item['state']})" if "state" in item else ""
    return f"{step} {item['action']} on {item['channel']} at {isoformat(at)}{state}"


def compare_runs(expected: list[dict[str, Any]], runs: tuple[Run, ...]) -> list[str]:
    """``runs[i].key: expected ..., got ...`` for the runs, in entry order."""
    failures = []
    if len(expected) != len(runs):
        got = "; ".join(_run_text(r) for r in runs) or "none"
        failures.append(f"runs: expected {len(expected)} run(s), got {len(runs)} ({got})")
    for number, (want, run) in enumerate(zip(expected, runs, strict=False)):
        have = {"journey": run.journey_id, "state": run.state, "end": run.end,
                "step": run.step_id}
        for key, value in want.items():
            if have[key] != value:
                failures.append(f"runs[{number}].{key}: expected {value}, got {have[key]} "
                                f"({_run_text(run)})")
    return failures


def _run_text(run: Run) -> str:
    where = f"ended {run.end}" if run.state == "ended" else f"{run.state} at {run.step_id}"
    return f"{run.journey_id} {where}"


def compare_tasks(plan: Plan, expected: list[dict[str, Any]], tasks: list[Task]) -> list[str]:
    """``tasks[i].key: expected ..., got ...`` for the contact's tasks, by creation."""
    failures = []
    if len(expected) != len(tasks):
        got = "; ".join(_task_text(t) for t in tasks) or "none"
        failures.append(f"tasks: expected {len(expected)} task(s), got {len(tasks)} ({got})")
    for number, (want, task) in enumerate(zip(expected, tasks, strict=False)):
        have = {"step": task.step_id, "action": task.action_id, "journey": task.journey_id,
                "agent": task.agent_id or "unassigned", "status": task.status,
                "at": task.slot_at}
        for key, value in want.items():
            wanted = _moment(value, plan) if key == "at" else value
            if have[key] != wanted:
                shown = isoformat(have[key]) if key == "at" and have[key] else have[key]
                failures.append(f"tasks[{number}].{key}: expected {value}, got {shown} "
                                f"({_task_text(task)})")
    return failures


def _task_text(task: Task) -> str:
    when = isoformat(task.slot_at) if task.slot_at else "no slot"
    return f"{task.step_id} {task.action_id} for {task.agent_id or 'unassigned'} at {when} " \
           f"({task.status})"
