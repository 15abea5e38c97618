"""The storage interface of agents, tasks and assignments.

Every backend (memory, SQLite, Redis, Redis Cluster) implements it and passes
``tests/test_agenda_store_contract.py``. Booking is optimistic: each agent's
agenda has a version that every task write touching it increments, and
``save_task`` with ``expected`` writes only if the agent's agenda is still at
that version, so two processes can never book the same slot or go over a
day's capacity.
"""
from __future__ import annotations

from datetime import datetime
from typing import Protocol

from engine.agenda.model import Agent, Task, TaskResult


class AgendaStore(Protocol):
    # -- agents ----------------------------------------------------------------

    def put_agent(self, agent: Agent) -> None:
        """Create or replace an agent."""

    def get_agent(self, agent_id: str) -> Agent | None:
        """The agent, or None."""

    def delete_agent(self, agent_id: str) -> bool:
        """Remove an agent (its tasks stay, to be reassigned); False if unknown."""

    def agents(self) -> list[Agent]:
        """Every agent, by id."""

    # -- tasks -------------------------------------------------------------------

    def agenda_version(self, agent_id: str) -> int:
        """The version of the agent's agenda (0 before any task)."""

    def save_task(self, task: Task, expected: int | None = None,
                  assign: tuple[str, str, str] | None = None) -> bool:
        """Write ``task`` (new or changed), all at once: its agent's agenda (and
        the one it left) and the unassigned queue follow its agent and slot. With
        ``expected``, only if the agenda of ``task.agent_id`` is at that version
        (False, and nothing written, otherwise). ``assign`` (contact, queue,
        agent) records the contact's sticky agent in the same write."""

    def get_task(self, task_id: str) -> Task | None:
        """The task, or None."""

    def agent_tasks(self, agent_id: str, start: datetime, end: datetime) -> list[Task]:
        """The agent's tasks whose slot starts in [start, end), by slot."""

    def open_agent_tasks(self, agent_id: str) -> list[Task]:
        """The agent's planned and open tasks, by slot (creation when it has none)."""

    def unassigned_tasks(self, limit: int = 100) -> list[Task]:
        """Planned tasks no agent could take, oldest first."""

    def contact_tasks(self, contact_id: str) -> list[Task]:
        """The contact's tasks, by creation."""

    def record_result(self, task_id: str, result: TaskResult) -> tuple[Task | None, bool]:
        """Record the result of a task whose call is open (status ``open``: decided
        at its slot) once, making it ``done``: (the task, True) the first time, (the
        task as it is, False) if it already had a result or is not open (a planned
        task's call has not opened yet), (None, False) if there is no such task."""

    def assignment(self, contact_id: str, queue: str) -> str | None:
        """The contact's sticky agent for a routing queue."""

    def erase_contact(self, contact_id: str) -> bool:
        """Remove the contact's tasks and assignments; False if there were none."""

    def ping(self) -> bool:
        """True when the store can serve requests."""

    def close(self) -> None:
        """Release connections."""
