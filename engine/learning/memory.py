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


class MemoryExperimentStore:
    """Experiment members and arm counts in process memory."""

    def __init__(self) -> None:
        self._members: dict[tuple[str, str], list] = {}  # -> [arm, converted]
        self._arms: dict[tuple[str, str], dict[str, float]] = {}
        self._lock = threading.Lock()

    def apply(self, batch, at: datetime) -> None:
        with self._lock:
            for experiment, unit, arm in batch.exposures:
                self._join(experiment, unit, arm)
            for experiment, unit, arm, value in batch.conversions:
                member = self._members.get((experiment, unit))
                if member is None and arm is not None:
                    member = self._join(experiment, unit, arm)
                if member is None or member[1]:
                    continue
                member[1] = True
                self._count(experiment, member[0], "conversions", 1)
                self._count(experiment, member[0], "revenue", value)
            for experiment, unit, outcome in batch.churn:
                member = self._members.get((experiment, unit))
                if member is not None:
                    self._count(experiment, member[0], outcome, 1)

    def arms(self, experiment_id: str):
        from engine.learning.tracking import ArmCounts

        with self._lock:
            return {arm: ArmCounts(int(c.get("units", 0)), int(c.get("conversions", 0)),
                                   c.get("revenue", 0.0), int(c.get("unsubscribed", 0)),
                                   int(c.get("complained", 0)))
                    for (experiment, arm), c in self._arms.items() if experiment == experiment_id}

    def arm_of(self, experiment_id: str, unit: str) -> str | None:
        member = self._members.get((experiment_id, unit))
        return member[0] if member else None

    def close(self) -> None:
        pass

    def _join(self, experiment: str, unit: str, arm: str) -> list:
        member = self._members.get((experiment, unit))
        if member is None:
            member = self._members[(experiment, unit)] = [arm, False]
            self._count(experiment, arm, "units", 1)
        return member

    def _count(self, experiment: str, arm: str, name: str, amount: float) -> None:
        counts = self._arms.setdefault((experiment, arm), {})
        counts[name] = counts.get(name, 0) + amount
