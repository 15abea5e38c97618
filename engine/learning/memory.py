"""Learning counts in process memory (tests, simulations, ``memory://``)."""
from __future__ import annotations

import threading
from datetime import datetime
from typing import Mapping

from engine.learning.posterior import Counts, is_warm

Key = tuple[str, str]


class MemoryLearningStore:
    def __init__(self) -> None:
        self._packs: dict[str, dict[Key, Counts]] = {}
        self._lock = threading.Lock()

    def add(self, pack: str, increments: Mapping[Key, Counts], at: datetime) -> None:
        with self._lock:
            stored = self._packs.setdefault(pack, {})
            for key, counts in increments.items():
                total = stored[key].plus(counts) if key in stored else counts
                if total.warm_at is None and is_warm(total):
                    total = Counts(total.scaled_exposures, total.scaled_successes,
                                   total.exposures, total.successes, at)
                stored[key] = total

    def read(self, pack: str) -> dict[Key, Counts]:
        with self._lock:
            return dict(self._packs.get(pack, {}))

    def close(self) -> None:
        pass
