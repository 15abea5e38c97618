"""Shadow runs and their counters on Redis or Redis Cluster (``ShadowStore``).

Every key is under one hash tag (``nba:{shadow}:...``), so on a cluster they
live on one node: the current run (a string), each candidate's latest run (a
hash), and per run a hash of counters (``HINCRBY``: every worker of every
machine adds to it atomically) and a list of at most ``MAX_EXAMPLES`` examples.
A run's counters expire 30 days after its last comparison."""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from typing import Any

from engine.authoring.shadow import MAX_EXAMPLES, ShadowRun
from store.redis.base import RedisBackend

KEPT_S = 30 * 24 * 3600


class RedisShadowStore(RedisBackend):
    """Shadow runs in Redis."""

    def _key(self, part: str) -> str:
        return f"{self.prefix}:{{shadow}}:{part}"

    def start(self, run: ShadowRun) -> None:
        def write() -> None:
            pipe = self._redis().pipeline(transaction=False)
            pipe.hset(self._key("runs"), run.candidate, run.to_json())
            pipe.set(self._key("current"), run.candidate)
            pipe.execute()

        self._run("shadow_start", write)

    def current(self) -> ShadowRun | None:
        def read() -> str | None:
            candidate = self._redis().get(self._key("current"))
            return self._redis().hget(self._key("runs"), candidate) if candidate else None

        text = self._run("shadow_current", read)
        return ShadowRun.from_json(text) if text else None

    def last_run(self, candidate: str) -> ShadowRun | None:
        text = self._run("shadow_run", lambda: self._redis().hget(self._key("runs"), candidate))
        return ShadowRun.from_json(text) if text else None

    def stop(self, candidate: str, at: datetime) -> bool:
        def write() -> bool:
            client = self._redis()
            if client.get(self._key("current")) != candidate:
                return False
            run = ShadowRun.from_json(client.hget(self._key("runs"), candidate))
            ended = replace(run, ends_at=max(run.started_at, min(run.ends_at, at)))
            client.hset(self._key("runs"), candidate, ended.to_json())
            client.delete(self._key("current"))
            return True

        return self._run("shadow_stop", write)

    def count(self, run_id: str, increments: dict[str, int],
              example: dict[str, Any] | None) -> None:
        counts, examples = self._key(f"counts:{run_id}"), self._key(f"examples:{run_id}")

        def write() -> None:
            pipe = self._redis().pipeline(transaction=False)
            for name, n in increments.items():
                pipe.hincrby(counts, name, n)
            pipe.expire(counts, KEPT_S)
            if example is not None:
                pipe.rpush(examples, json.dumps(example))
                pipe.ltrim(examples, 0, MAX_EXAMPLES - 1)
                pipe.expire(examples, KEPT_S)
            pipe.execute()

        self._run("shadow_count", write)

    def counters(self, run_id: str) -> tuple[dict[str, int], list[dict[str, Any]]]:
        def read() -> tuple[dict, list]:
            client = self._redis()
            return (client.hgetall(self._key(f"counts:{run_id}")),
                    client.lrange(self._key(f"examples:{run_id}"), 0, -1))

        counts, examples = self._run("shadow_counters", read)
        return ({name: int(n) for name, n in counts.items()},
                [json.loads(text) for text in examples])
