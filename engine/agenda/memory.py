"""The in-memory AgendaStore: the reference for the contract suite, tests and
the pack test runner."""
from __future__ import annotations

import threading
from dataclasses import replace
from datetime import datetime

from engine.agenda.model import Agent, Task, TaskResult


class MemoryAgendaStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._agents: dict[str, Agent] = {}
        self._tasks: dict[str, Task] = {}
        self._versions: dict[str, int] = {}
        self._assignments: dict[tuple[str, str], str] = {}

    def put_agent(self, agent: Agent) -> None:
        with self._lock:
            self._agents[agent.agent_id] = agent

    def get_agent(self, agent_id: str) -> Agent | None:
        return self._agents.get(agent_id)

    def delete_agent(self, agent_id: str) -> bool:
        with self._lock:
            return self._agents.pop(agent_id, None) is not None

    def agents(self) -> list[Agent]:
        with self._lock:
            return sorted(self._agents.values(), key=lambda a: a.agent_id)

    def agenda_version(self, agent_id: str) -> int:
        return self._versions.get(agent_id, 0)

    def save_task(self, task: Task, expected: int | None = None,
                  assign: tuple[str, str, str] | None = None) -> bool:
        with self._lock:
            if expected is not None and task.agent_id is not None \
                    and self._versions.get(task.agent_id, 0) != expected:
                return False
            old = self._tasks.get(task.task_id)
            for agent_id in {task.agent_id, old.agent_id if old else None} - {None}:
                self._versions[agent_id] = self._versions.get(agent_id, 0) + 1
            self._tasks[task.task_id] = task
            if assign is not None:
                self._assignments[(assign[0], assign[1])] = assign[2]
            return True

    def get_task(self, task_id: str) -> Task | None:
        return self._tasks.get(task_id)

    def agent_tasks(self, agent_id: str, start: datetime, end: datetime) -> list[Task]:
        with self._lock:
            found = [t for t in self._tasks.values() if t.agent_id == agent_id
                     and t.slot_at is not None and start <= t.slot_at < end]
        return sorted(found, key=lambda t: (t.slot_at, t.task_id))

    def open_agent_tasks(self, agent_id: str) -> list[Task]:
        with self._lock:
            found = [t for t in self._tasks.values() if t.agent_id == agent_id and t.is_open]
        return sorted(found, key=lambda t: (t.slot_at or t.created_at, t.task_id))

    def unassigned_tasks(self, limit: int = 100) -> list[Task]:
        with self._lock:
            found = [t for t in self._tasks.values() if t.agent_id is None and t.is_open]
        return sorted(found, key=lambda t: (t.created_at, t.task_id))[:limit]

    def contact_tasks(self, contact_id: str) -> list[Task]:
        with self._lock:
            found = [t for t in self._tasks.values() if t.contact_id == contact_id]
        return sorted(found, key=lambda t: (t.created_at, t.task_id))

    def record_result(self, task_id: str, result: TaskResult) -> tuple[Task | None, bool]:
        with self._lock:
            task = self._tasks.get(task_id)
            if task is None or task.result is not None or task.status != "open":
                return task, False
            done = replace(task, status="done", result=result)
            self._tasks[task_id] = done
            if task.agent_id is not None:
                self._versions[task.agent_id] = self._versions.get(task.agent_id, 0) + 1
            return done, True

    def assignment(self, contact_id: str, queue: str) -> str | None:
        return self._assignments.get((contact_id, queue))

    def erase_contact(self, contact_id: str) -> bool:
        with self._lock:
            tasks = [i for i, t in self._tasks.items() if t.contact_id == contact_id]
            keys = [k for k in self._assignments if k[0] == contact_id]
            for task_id in tasks:
                del self._tasks[task_id]
            for key in keys:
                del self._assignments[key]
            return bool(tasks or keys)

    def ping(self) -> bool:
        return True

    def close(self) -> None:
        pass
