"""Use cases of call tasks that touch both the agenda and journeys: a call's
result (recorded on the task, then on the decision, then routed to the run),
a reassignment, and an agent who leaves. The API and the pack test runner
call these, so that a result means the same everywhere."""
from __future__ import annotations

import contextlib
from datetime import datetime

from engine.agenda.model import Task, TaskResult
from engine.agenda.service import AgendaError
from engine.errors import UnknownDecision
from engine.journeys.runner import JourneyService
from engine.model import OutcomeReport


def record_task_result(journeys: JourneyService, task_id: str,
                       result: TaskResult) -> tuple[Task, bool]:
    """Record a call's result once: on the task, as the outcome of its decision
    (pressure, suppression and statistics see it), and on the run, which takes
    the step's transition for it. (the task, whether this call recorded it)."""
    agenda = _agenda(journeys)
    task, first = agenda.record_result(task_id, result)
    if not first:
        return task, False
    # If the decision's entry was trimmed or erased, the run still moves.
    with contextlib.suppress(UnknownDecision):
        journeys.decisions.record_outcome(OutcomeReport(
            task.decision_id, task.action_id, result.outcome, result.at, result.value))
    if task.run_id is not None:
        journeys.route_outcome(task.contact_id, task.run_id, task.decision_id, result.outcome,
                               result.at, result.callback_at)
    return task, True


def reassign_task(journeys: JourneyService, task_id: str, now: datetime,
                  agent_id: str | None = None, at: datetime | None = None) -> Task:
    """Move a task to another agent (a supervisor's choice, or routing's), and its
    run to the new slot."""
    task = _agenda(journeys).reassign(task_id, now, agent_id, at)
    _follow_slot(journeys, task)
    return task


def start_call(journeys: JourneyService, task_id: str, now: datetime) -> Task:
    """An agent starts a planned call now, ahead of its slot: the call is decided
    now, through the decision path (consent, quiet hours, pressure), and opens if
    it is allowed; otherwise it is booked again when it is (the task says why)."""
    agenda = _agenda(journeys)
    task = agenda.start_now(task_id, now)
    if task.run_id is not None:
        journeys.reschedule(task.contact_id, task.run_id, task.task_id, task.slot_at)
        journeys.run_contact(task.contact_id, now)
    return agenda.store.get_task(task_id) or task


def agent_left(journeys: JourneyService, agent_id: str, now: datetime) -> list[Task]:
    """An agent became inactive or was removed: their open tasks go to other agents
    (or the unassigned queue), and the runs follow."""
    moved = _agenda(journeys).agent_left(agent_id, now)
    for task in moved:
        _follow_slot(journeys, task)
    return moved


def _follow_slot(journeys: JourneyService, task: Task) -> None:
    if task.status == "planned" and task.slot_at is not None and task.run_id is not None:
        journeys.reschedule(task.contact_id, task.run_id, task.task_id, task.slot_at)


def _agenda(journeys: JourneyService):
    if journeys.agenda is None:
        raise AgendaError("no_agenda", "this service has no agenda store")
    return journeys.agenda
