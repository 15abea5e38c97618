"""A PackRegistry on Redis or Redis Cluster: every key under one hash tag
(``nba:{packs}:...``), so each change and its audit entry is one Lua script
(``store/redis/lua/packs.lua``) on the node that owns the registry. The active
version is a plain string key: the one GET every process makes about twice a
second to follow activations."""
from __future__ import annotations

from engine.authoring.model import AuditEntry, PackMeta
from store.redis.base import RedisBackend

PARTS = ("meta", "source", "order", "stack", "active", "audit", "audit_seq")


class RedisPackRegistry(RedisBackend):
    """Pack versions, activations and audit log in Redis."""

    SCRIPTS = ("packs",)

    def _keys(self) -> list[str]:
        return [f"{self.prefix}:{{packs}}:{part}" for part in PARTS]

    def _change(self, operation: str, audit: AuditEntry, *args: str):
        script = self._script("packs")
        return self._run(f"packs_{operation}", lambda: script(
            keys=self._keys(), args=[operation, audit.to_json(), *args]))

    def add(self, meta: PackMeta, source: str, audit: AuditEntry) -> bool:
        return int(self._change("add", audit, meta.hash, meta.to_json(), source)) == 1

    def get(self, pack_hash: str) -> PackMeta | None:
        text = self._run("packs_get", lambda: self._redis().hget(self._keys()[0], pack_hash))
        return PackMeta.from_json(text) if text else None

    def source(self, pack_hash: str) -> str | None:
        return self._run("packs_source",
                         lambda: self._redis().hget(self._keys()[1], pack_hash))

    def versions(self) -> list[PackMeta]:
        meta, _, order = self._keys()[:3]

        def read() -> list[PackMeta]:
            hashes = self._redis().lrange(order, 0, -1)
            texts = self._redis().hmget(meta, hashes) if hashes else []
            return [PackMeta.from_json(text) for text in texts if text]

        return self._run("packs_versions", read)

    def active(self) -> str | None:
        return self._run("packs_active", lambda: self._redis().get(self._keys()[4]))

    def activate(self, pack_hash: str, audit: AuditEntry, *, only_if_none: bool = False) -> bool:
        return int(self._change("activate", audit, pack_hash, "1" if only_if_none else "0")) == 1

    def rollback(self, audit: AuditEntry, undo: str) -> str | None:
        return self._change("rollback", audit, undo) or None

    def record(self, audit: AuditEntry) -> None:
        self._change("record", audit)

    def audit(self, limit: int = 100, before: int | None = None) -> list[AuditEntry]:
        keys = self._keys()

        def read() -> list[str]:
            latest = int(self._redis().get(keys[6]) or 0)
            start = 0 if before is None else max(0, latest - before + 1)
            return self._redis().lrange(keys[5], start, start + limit - 1)

        return [AuditEntry.from_json(text) for text in self._run("packs_audit", read)]

