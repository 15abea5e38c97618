"""An AgendaStore on Redis or Redis Cluster (see engine/agenda/ports.py).

Every key of the agenda is under ONE hash tag, ``{agenda}``, so on a cluster
they all live in one slot and one Lua script books a task atomically: the
version check, the task, its agenda and queue entries, both agents' versions
and the sticky agent. One slot is enough: agents and tasks are few beside
contacts (the contact and journey stores spread millions of them over the
cluster); a call centre books thousands of calls a day. Measured: about
1.3 KB of Redis memory per decided task with its index entries and a sticky
agent (10,000 tasks, one contact each, Redis 7.0), so a million tasks is
about 1.3 GB on one node. Booking, results and erasure touch only the
entries of the tasks concerned. Old done tasks are not expired here.

Key layout (``nba`` is the prefix):

- ``nba:{agenda}:agents``: hash, agent id -> ``Agent.dump``;
- ``nba:{agenda}:tasks``: hash, task id -> ``Task.dump``;
- ``nba:{agenda}:versions``: hash, agent id -> the agenda's version;
- ``nba:{agenda}:agenda:<agent>``: zset of the agent's task ids, scored by slot
  (by creation for a task without one) in microseconds; ``...:open:<agent>``:
  the same for its planned and open tasks only;
- ``nba:{agenda}:unassigned``: zset of open tasks without an agent, by creation;
- ``nba:{agenda}:contact:<contact>``: zset of the contact's task ids by creation;
- ``nba:{agenda}:assign:<contact>``: hash, routing queue -> sticky agent.

Equal scores are ordered by task id, as the memory store's sorts are.
Scripts declare every key they touch: a caller that does not know where a
stored task is (its agent, its contact) guesses, and the script answers with
the truth instead of writing, to be called again. A call retried after a
timeout that was in fact applied answers as if it had lost a race
(``save_task`` with ``expected``: False; ``record_result``: not first).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from engine.agenda.model import Agent, Task, TaskResult
from engine.errors import StoreUnavailable
from store.redis.base import RedisBackend, micros

TAG = "{agenda}"
# A script that learns the stored task moved since it was read is called again.
ROUNDS = 8
SAVED, STALE, ELSEWHERE = 1, 0, -1


class RedisAgendaStore(RedisBackend):
    """Agents, tasks, agenda versions and sticky agents in Redis or Redis Cluster."""

    SCRIPTS = ("agenda_save", "agenda_result", "agenda_erase", "agenda_read")

    def __init__(self, url: str, *, max_history_days: float = 730, **options: Any) -> None:
        """The options of RedisBackend; ``max_history_days`` (a contact store
        option the same settings may carry) is accepted and unused."""
        super().__init__(url, **options)

    # -- keys ---------------------------------------------------------------------

    def _key(self, *parts: str) -> str:
        return ":".join((self.prefix, TAG, *parts))

    def _agent_keys(self, agent_id: str | None) -> list[str]:
        """The agent's agenda and open zsets; placeholders without an agent."""
        if not agent_id:
            return [self._key("none"), self._key("none")]
        return [self._key("agenda", agent_id), self._key("open", agent_id)]

    # -- agents -------------------------------------------------------------------

    def put_agent(self, agent: Agent) -> None:
        """Create or replace an agent."""
        key, body = self._key("agents"), agent.dump()
        self._run("put_agent", lambda: self._redis().hset(key, agent.agent_id, body))

    def get_agent(self, agent_id: str) -> Agent | None:
        """The agent, or None."""
        key = self._key("agents")
        body = self._run("get_agent", lambda: self._redis().hget(key, agent_id))
        return None if body is None else Agent.restore(body)

    def delete_agent(self, agent_id: str) -> bool:
        """Remove an agent (its tasks stay, to be reassigned); False if unknown."""
        key = self._key("agents")
        return bool(self._run("delete_agent", lambda: self._redis().hdel(key, agent_id)))

    def agents(self) -> list[Agent]:
        """Every agent, by id."""
        key = self._key("agents")
        bodies = self._run("agents", lambda: self._redis().hgetall(key))
        return [Agent.restore(bodies[agent_id]) for agent_id in sorted(bodies)]

    # -- tasks --------------------------------------------------------------------

    def agenda_version(self, agent_id: str) -> int:
        """The version of the agent's agenda (0 before any task)."""
        key = self._key("versions")
        return int(self._run("agenda_version", lambda: self._redis().hget(key, agent_id)) or 0)

    def save_task(self, task: Task, expected: int | None = None,
                  assign: tuple[str, str, str] | None = None) -> bool:
        """Write ``task`` and its index entries, bump the versions of its agent
        and of the one it left, and record ``assign``, in one script; with
        ``expected``, only if the agenda of ``task.agent_id`` is at that version."""
        args = _save_args(task, expected, assign)  # first: a naive time fails before any call
        believed = (task.agent_id or "", task.contact_id)
        for _ in range(ROUNDS):
            keys = self._save_keys(task, believed, assign)
            argv = [*args[:3], *believed, *args[3:]]
            reply = self._run("save_task", lambda keys=keys, argv=argv:
                              self._script("agenda_save")(keys=keys, args=argv))
            if reply[0] != ELSEWHERE:
                return reply[0] == SAVED
            believed = (reply[1], reply[2])
        raise StoreUnavailable(f"redis agenda: task {task.task_id} kept moving while saved")

    def _save_keys(self, task: Task, believed: tuple[str, str],
                   assign: tuple[str, str, str] | None) -> list[str]:
        """KEYS of agenda_save.lua, in order."""
        assigned = self._key("assign", assign[0]) if assign else self._key("none")
        return [self._key("tasks"), self._key("versions"), self._key("unassigned"),
                *self._agent_keys(task.agent_id), *self._agent_keys(believed[0]),
                self._key("contact", task.contact_id), self._key("contact", believed[1]),
                assigned]

    def get_task(self, task_id: str) -> Task | None:
        """The task, or None."""
        body = self._task_body(task_id)
        return None if body is None else Task.restore(body)

    def agent_tasks(self, agent_id: str, start: datetime, end: datetime) -> list[Task]:
        """The agent's tasks whose slot starts in [start, end), by slot."""
        found = self._read(self._key("agenda", agent_id), str(micros(start)),
                           f"({micros(end)}")
        # A task without a slot is scored by its creation: read, never returned.
        return [t for t in found if t.slot_at is not None and start <= t.slot_at < end]

    def open_agent_tasks(self, agent_id: str) -> list[Task]:
        """The agent's planned and open tasks, by slot (by creation if it has none)."""
        return self._read(self._key("open", agent_id))

    def unassigned_tasks(self, limit: int = 100) -> list[Task]:
        """Open tasks no agent could take, oldest first."""
        return self._read(self._key("unassigned"), limit=limit) if limit > 0 else []

    def contact_tasks(self, contact_id: str) -> list[Task]:
        """The contact's tasks, by creation."""
        return self._read(self._key("contact", contact_id))

    def record_result(self, task_id: str, result: TaskResult) -> tuple[Task | None, bool]:
        """Record the result of an open task once (see AgendaStore.record_result):
        the task is read and checked here, then written if it is still as read."""
        for _ in range(ROUNDS):
            body = self._task_body(task_id)
            task = None if body is None else Task.restore(body)
            if task is None or task.result is not None or task.status != "open":
                return task, False
            done = replace(task, status="done", result=result)
            keys = [self._key("tasks"), self._key("versions"),
                    self._agent_keys(task.agent_id)[1], self._key("unassigned")]
            args = [task_id, body, done.dump(), task.agent_id or ""]
            if self._run("record_result",
                         lambda keys=keys, args=args:
                         self._script("agenda_result")(keys=keys, args=args)):
                return done, True
        raise StoreUnavailable(f"redis agenda: task {task_id} kept changing while recorded")

    def assignment(self, contact_id: str, queue: str) -> str | None:
        """The contact's sticky agent for a routing queue."""
        key = self._key("assign", contact_id)
        return self._run("assignment", lambda: self._redis().hget(key, queue))

    def erase_contact(self, contact_id: str) -> bool:
        """Remove the contact's tasks (with their index entries) and assignments."""
        for _ in range(ROUNDS):
            tasks = self.contact_tasks(contact_id)
            keys = [self._key("tasks"), self._key("unassigned"),
                    self._key("contact", contact_id), self._key("assign", contact_id)]
            for task in tasks:
                keys += self._agent_keys(task.agent_id)
            args = [len(tasks), *(t.task_id for t in tasks),
                    *(t.agent_id or "" for t in tasks)]
            reply = self._run("erase_contact", lambda keys=keys, args=args:
                              self._script("agenda_erase")(keys=keys, args=args))
            if reply != ELSEWHERE:
                return reply == 1
        raise StoreUnavailable(f"redis agenda: contact {contact_id}'s tasks kept changing")

    # -- reads --------------------------------------------------------------------

    def _task_body(self, task_id: str) -> str | None:
        key = self._key("tasks")
        return self._run("get_task", lambda: self._redis().hget(key, task_id))

    def _read(self, index: str, low: str = "-inf", high: str = "+inf",
              limit: int = -1) -> list[Task]:
        """The tasks of one index zset between two scores, in index order, at once."""
        keys, args = [index, self._key("tasks")], [low, high, limit]
        bodies = self._run("read_tasks",
                           lambda: self._script("agenda_read")(keys=keys, args=args))
        return [Task.restore(body) for body in bodies]


def _save_args(task: Task, expected: int | None,
               assign: tuple[str, str, str] | None) -> list[Any]:
    """ARGV of agenda_save.lua without the stored task's believed agent and contact
    (they go after the first three)."""
    created = micros(task.created_at)
    score = created if task.slot_at is None else micros(task.slot_at)
    sticky = ["1", assign[1], assign[2]] if assign else ["0", "", ""]
    return [task.task_id, task.dump(), task.agent_id or "", score, created,
            "1" if task.is_open else "0", "" if expected is None else expected, *sticky]
