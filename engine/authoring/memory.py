"""An in-memory PackRegistry: for tests and ``memory://``. No I/O."""
from __future__ import annotations

import threading
from dataclasses import replace

from engine.authoring.model import AuditEntry, PackMeta


class MemoryPackRegistry:
    """Versions, activations and audit in lists, guarded by one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._metas: dict[str, PackMeta] = {}
        self._sources: dict[str, str] = {}
        self._stack: list[str] = []
        self._audit: list[AuditEntry] = []

    def add(self, meta: PackMeta, source: str, audit: AuditEntry) -> bool:
        with self._lock:
            if meta.hash in self._metas:
                return False
            self._metas[meta.hash] = meta
            self._sources[meta.hash] = source
            self._append(audit)
            return True

    def get(self, pack_hash: str) -> PackMeta | None:
        with self._lock:
            return self._metas.get(pack_hash)

    def source(self, pack_hash: str) -> str | None:
        with self._lock:
            return self._sources.get(pack_hash)

    def versions(self) -> list[PackMeta]:
        with self._lock:
            return list(self._metas.values())

    def active(self) -> str | None:
        with self._lock:
            return self._stack[-1] if self._stack else None

    def activate(self, pack_hash: str, audit: AuditEntry, *, only_if_none: bool = False) -> bool:
        with self._lock:
            previous = self._stack[-1] if self._stack else None
            if previous == pack_hash or (only_if_none and previous is not None):
                return False
            self._stack.append(pack_hash)
            self._append(replace(audit, what={**audit.what, "previous": previous}))
            return True

    def rollback(self, audit: AuditEntry, undo: str) -> str | None:
        with self._lock:
            if len(self._stack) < 2 or self._stack[-1] != undo:
                return None
            undone = self._stack.pop()
            self._append(replace(audit, what={**audit.what, "from": undone,
                                              "to": self._stack[-1]}))
            return self._stack[-1]

    def record(self, audit: AuditEntry) -> None:
        with self._lock:
            self._append(audit)

    def audit(self, limit: int = 100, before: int | None = None) -> list[AuditEntry]:
        with self._lock:
            entries = [e for e in reversed(self._audit) if before is None or e.seq < before]
            return entries[:limit]

    def _append(self, audit: AuditEntry) -> None:
        self._audit.append(replace(audit, seq=len(self._audit) + 1))


class MemoryShadowStore:
    """Shadow runs and their counters in dictionaries (tests, ``memory://``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[str, object] = {}
        self._current: str | None = None
        self._counts: dict[str, dict[str, int]] = {}
        self._examples: dict[str, list] = {}

    def start(self, run) -> None:
        with self._lock:
            self._runs[run.candidate] = run
            self._current = run.candidate
            self._counts[run.run_id], self._examples[run.run_id] = {}, []

    def current(self):
        with self._lock:
            return self._runs.get(self._current) if self._current else None

    def last_run(self, candidate: str):
        with self._lock:
            return self._runs.get(candidate)

    def stop(self, candidate: str, at) -> bool:
        with self._lock:
            if self._current != candidate:
                return False
            run = self._runs[candidate]
            self._runs[candidate] = replace(run, ends_at=max(run.started_at, min(run.ends_at, at)))
            self._current = None
            return True

    def count(self, run_id: str, increments: dict[str, int], example) -> None:
        from engine.authoring.shadow import MAX_EXAMPLES

        with self._lock:
            counts = self._counts.setdefault(run_id, {})
            for key, n in increments.items():
                counts[key] = counts.get(key, 0) + n
            examples = self._examples.setdefault(run_id, [])
            if example is not None and len(examples) < MAX_EXAMPLES:
                examples.append(example)

    def counters(self, run_id: str):
        with self._lock:
            return dict(self._counts.get(run_id, {})), list(self._examples.get(run_id, []))

