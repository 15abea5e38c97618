"""An AgendaStore in the SQLite file of the contact store (``store.sqlite.contacts``).

Every write is one ``BEGIN IMMEDIATE`` transaction: ``save_task`` checks the
agenda's version under the write lock, then writes the task, bumps the
versions of the agendas it joins and leaves and records the sticky agent, so
two processes booking the same agent never both pass the check. Instants are
stored twice: epoch seconds (REAL) to compare and order, and the task's JSON
(``Task.dump``) to read back exactly. Tables are prefixed ``agenda_`` because
the file also holds the contact and journey stores' tables.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import datetime
from typing import Any

from engine.agenda.model import OPEN_STATES, Agent, Task, TaskResult
from store.sqlite.connections import SQLiteConnections
from store.sqlite.times import epoch_seconds

# This exact text is both the partial indexes' WHERE and the queries' condition,
# so that SQLite knows the indexes apply.
OPEN = f"status IN ({', '.join(repr(state) for state in OPEN_STATES)})"
SCHEMA = (
    """CREATE TABLE IF NOT EXISTS agenda_agents (
        agent_id TEXT PRIMARY KEY,
        body TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS agenda_tasks (
        task_id TEXT PRIMARY KEY,
        contact_id TEXT NOT NULL,
        agent_id TEXT,
        slot_ts REAL,
        created_ts REAL NOT NULL,
        status TEXT NOT NULL,
        body TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS agenda_tasks_by_slot ON agenda_tasks (agent_id, slot_ts, task_id)",
    f"""CREATE INDEX IF NOT EXISTS agenda_tasks_open ON agenda_tasks (agent_id)
        WHERE {OPEN}""",
    f"""CREATE INDEX IF NOT EXISTS agenda_tasks_unassigned ON agenda_tasks (created_ts, task_id)
        WHERE agent_id IS NULL AND {OPEN}""",
    "CREATE INDEX IF NOT EXISTS agenda_tasks_by_contact ON agenda_tasks (contact_id, created_ts)",
    """CREATE TABLE IF NOT EXISTS agenda_versions (
        agent_id TEXT PRIMARY KEY,
        v INTEGER NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS agenda_assignments (
        contact_id TEXT NOT NULL,
        queue TEXT NOT NULL,
        agent_id TEXT NOT NULL,
        PRIMARY KEY (contact_id, queue))""",
)
BUMP = ("INSERT INTO agenda_versions (agent_id, v) VALUES (?, 1) "
        "ON CONFLICT (agent_id) DO UPDATE SET v = v + 1")
WRITE_TASK = ("INSERT INTO agenda_tasks (task_id, contact_id, agent_id, slot_ts, created_ts, "
              "status, body) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (task_id) DO UPDATE SET "
              "contact_id = excluded.contact_id, agent_id = excluded.agent_id, "
              "slot_ts = excluded.slot_ts, created_ts = excluded.created_ts, "
              "status = excluded.status, body = excluded.body")


class SQLiteAgendaStore:
    """Agents, tasks, agenda versions and sticky assignments in one SQLite file."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._db = SQLiteConnections(path, _create_schema)

    # -- agents ----------------------------------------------------------------

    def put_agent(self, agent: Agent) -> None:
        """Create or replace an agent."""
        with self._db.transaction("IMMEDIATE") as conn:
            conn.execute("INSERT INTO agenda_agents (agent_id, body) VALUES (?, ?) "
                         "ON CONFLICT (agent_id) DO UPDATE SET body = excluded.body",
                         (agent.agent_id, agent.dump()))

    def get_agent(self, agent_id: str) -> Agent | None:
        """The agent, or None."""
        row = self._one("SELECT body FROM agenda_agents WHERE agent_id = ?", (agent_id,))
        return None if row is None else Agent.restore(row[0])

    def delete_agent(self, agent_id: str) -> bool:
        """Remove an agent (its tasks stay, to be reassigned); False if unknown."""
        with self._db.transaction("IMMEDIATE") as conn:
            return conn.execute("DELETE FROM agenda_agents WHERE agent_id = ?",
                                (agent_id,)).rowcount > 0

    def agents(self) -> list[Agent]:
        """Every agent, by id."""
        with self._db.transaction("DEFERRED") as conn:
            rows = conn.execute("SELECT body FROM agenda_agents ORDER BY agent_id").fetchall()
        return [Agent.restore(body) for (body,) in rows]

    # -- tasks -------------------------------------------------------------------

    def agenda_version(self, agent_id: str) -> int:
        """The version of the agent's agenda (0 before any task)."""
        row = self._one("SELECT v FROM agenda_versions WHERE agent_id = ?", (agent_id,))
        return 0 if row is None else row[0]

    def save_task(self, task: Task, expected: int | None = None,
                  assign: tuple[str, str, str] | None = None) -> bool:
        """Write ``task`` if its agent's agenda is at ``expected`` (when given),
        bump the versions of its agent and of the one it left, and record
        ``assign``, in one transaction; False, and nothing written, otherwise."""
        row = _task_row(task)  # first: a naive time fails before the write lock is taken
        with self._db.transaction("IMMEDIATE") as conn:
            if expected is not None and task.agent_id is not None \
                    and _version(conn, task.agent_id) != expected:
                conn.execute("ROLLBACK")
                return False
            old = conn.execute("SELECT agent_id FROM agenda_tasks WHERE task_id = ?",
                               (task.task_id,)).fetchone()
            touched = {task.agent_id, old[0] if old else None} - {None}
            conn.executemany(BUMP, [(agent_id,) for agent_id in sorted(touched)])
            conn.execute(WRITE_TASK, row)
            if assign is not None:
                _assign(conn, *assign)
        return True

    def get_task(self, task_id: str) -> Task | None:
        """The task, or None."""
        row = self._one("SELECT body FROM agenda_tasks WHERE task_id = ?", (task_id,))
        return None if row is None else Task.restore(row[0])

    def agent_tasks(self, agent_id: str, start: datetime, end: datetime) -> list[Task]:
        """The agent's tasks whose slot starts in [start, end), by slot."""
        return self._tasks("WHERE agent_id = ? AND slot_ts >= ? AND slot_ts < ? "
                           "ORDER BY slot_ts, task_id",
                           (agent_id, epoch_seconds(start), epoch_seconds(end)))

    def open_agent_tasks(self, agent_id: str) -> list[Task]:
        """The agent's planned and open tasks, by slot (by creation if it has none)."""
        return self._tasks(f"WHERE agent_id = ? AND {OPEN} "
                           "ORDER BY COALESCE(slot_ts, created_ts), task_id", (agent_id,))

    def unassigned_tasks(self, limit: int = 100) -> list[Task]:
        """Open tasks no agent could take, oldest first."""
        return self._tasks(f"WHERE agent_id IS NULL AND {OPEN} "
                           "ORDER BY created_ts, task_id LIMIT ?", (max(0, limit),))

    def contact_tasks(self, contact_id: str) -> list[Task]:
        """The contact's tasks, by creation."""
        return self._tasks("WHERE contact_id = ? ORDER BY created_ts, task_id", (contact_id,))

    def record_result(self, task_id: str, result: TaskResult) -> tuple[Task | None, bool]:
        """Record the result of an open task once (see AgendaStore.record_result);
        the task becomes done and its agent's agenda version moves on."""
        with self._db.transaction("IMMEDIATE") as conn:
            row = conn.execute("SELECT body FROM agenda_tasks WHERE task_id = ?",
                               (task_id,)).fetchone()
            task = None if row is None else Task.restore(row[0])
            if task is None or task.result is not None or task.status != "open":
                conn.execute("ROLLBACK")
                return task, False
            done = replace(task, status="done", result=result)
            conn.execute(WRITE_TASK, _task_row(done))
            if done.agent_id is not None:
                conn.execute(BUMP, (done.agent_id,))
        return done, True

    def assignment(self, contact_id: str, queue: str) -> str | None:
        """The contact's sticky agent for a routing queue."""
        row = self._one("SELECT agent_id FROM agenda_assignments WHERE contact_id = ? "
                        "AND queue = ?", (contact_id, queue))
        return None if row is None else row[0]

    def erase_contact(self, contact_id: str) -> bool:
        """Remove the contact's tasks and assignments; False if there were none."""
        with self._db.transaction("IMMEDIATE") as conn:
            erased = sum(conn.execute(f"DELETE FROM {table} WHERE contact_id = ?",
                                      (contact_id,)).rowcount
                         for table in ("agenda_tasks", "agenda_assignments"))
        return erased > 0

    # -- connections ---------------------------------------------------------------

    def ping(self) -> bool:
        """True when the file can be opened and read."""
        return self._db.ping()

    def close(self) -> None:
        """Close the connections this process opened."""
        self._db.close()

    def _one(self, sql: str, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
        with self._db.transaction("DEFERRED") as conn:
            return conn.execute(sql, params).fetchone()

    def _tasks(self, where: str, params: tuple[Any, ...]) -> list[Task]:
        with self._db.transaction("DEFERRED") as conn:
            rows = conn.execute(f"SELECT body FROM agenda_tasks {where}", params).fetchall()
        return [Task.restore(body) for (body,) in rows]


def _create_schema(conn: sqlite3.Connection) -> None:
    for statement in SCHEMA:
        conn.execute(statement)


def _version(conn: sqlite3.Connection, agent_id: str) -> int:
    row = conn.execute("SELECT v FROM agenda_versions WHERE agent_id = ?", (agent_id,)).fetchone()
    return 0 if row is None else row[0]


def _assign(conn: sqlite3.Connection, contact_id: str, queue: str, agent_id: str) -> None:
    conn.execute("INSERT INTO agenda_assignments (contact_id, queue, agent_id) VALUES (?, ?, ?) "
                 "ON CONFLICT (contact_id, queue) DO UPDATE SET agent_id = excluded.agent_id",
                 (contact_id, queue, agent_id))


def _task_row(task: Task) -> tuple[Any, ...]:
    """The columns of WRITE_TASK, in order."""
    slot_ts = None if task.slot_at is None else epoch_seconds(task.slot_at)
    return (task.task_id, task.contact_id, task.agent_id, slot_ts, epoch_seconds(task.created_at),
            task.status, task.dump())
