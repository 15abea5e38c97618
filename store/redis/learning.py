"""Learning counts on Redis or Redis Cluster: one hash per pack (its own hash
tag), grown by one Lua script per batch (``store/redis/lua/learning_add.lua``):
HINCRBYFLOAT for the decayed sums, HINCRBY for the raw ones, so concurrent
workers never lose an increment. Each process sends a batch about once a
second and reads the hash every few seconds (engine.learning.learner)."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Mapping

from engine.learning.posterior import WARM_EXPOSURES, WARM_SUCCESSES, Counts
from store.redis.base import RedisBackend, hash_tag

Key = tuple[str, str]
US = "\x1f"


class RedisLearningStore(RedisBackend):
    SCRIPTS = ("learning_add",)

    def _key(self, pack: str) -> str:
        return f"{self.prefix}:{{learn:{hash_tag(pack)}}}"

    def add(self, pack: str, increments: Mapping[Key, Counts], at: datetime) -> None:
        args: list[str] = [at.astimezone(timezone.utc).isoformat(), str(WARM_EXPOSURES),
                           str(WARM_SUCCESSES)]
        for (action, segment), c in increments.items():
            args += [f"{action}{US}{segment}", repr(c.scaled_exposures),
                     repr(c.scaled_successes), str(c.exposures), str(c.successes)]
        script = self._script("learning_add")
        self._run("learning_add", lambda: script(keys=[self._key(pack)], args=args))

    def read(self, pack: str) -> dict[Key, Counts]:
        flat = self._run("learning_read", lambda: self._redis().hgetall(self._key(pack)))
        fields: dict[Key, dict[str, str]] = {}
        for name, value in flat.items():
            action, segment, part = name.split(US)
            fields.setdefault((action, segment), {})[part] = value
        return {key: Counts(float(f.get("n", 0)), float(f.get("s", 0)), int(f.get("N", 0)),
                            int(f.get("S", 0)),
                            datetime.fromisoformat(f["w"]) if "w" in f else None)
                for key, f in fields.items()}
