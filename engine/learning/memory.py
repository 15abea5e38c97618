"""Learning counts in process memory (tests, simulations, ``memory://``)."""
from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import datetime
from typing import Mapping

from engine.learning.posterior import Counts, is_warm

Key = tuple[str, str]
BATCHES_KEPT = 10_000  # experiment batch ids remembered (an hour of a busy process)


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
    """Experiment members, arm counts and daily arm counters in process memory."""

    def __init__(self) -> None:
        self._members: dict[tuple[str, str], list] = {}  # -> [arm, converted, goal revenue]
        self._arms: dict[tuple[str, str], dict[str, float]] = {}
        self._days: dict[str, dict] = {}  # experiment -> {(arm, day): ArmDay}
        self._batches: OrderedDict[str, None] = OrderedDict()  # the last BATCHES_KEPT ids
        self._lock = threading.Lock()

    def apply(self, batch, at: datetime) -> bool:
        day = batch.day or at.date()
        with self._lock:
            if batch.batch_id in self._batches:
                return False
            self._batches[batch.batch_id] = None
            if len(self._batches) > BATCHES_KEPT:
                self._batches.popitem(last=False)
            for experiment, unit, arm in batch.exposures:
                self._join(experiment, unit, arm, day)
            for experiment, unit, arm, value in batch.conversions:
                member = self._members.get((experiment, unit))
                if member is None and arm is not None:
                    member = self._join(experiment, unit, arm, day)
                if member is not None:
                    self._convert(experiment, member, value, day)
            for experiment, unit, outcome in batch.churn:
                member = self._members.get((experiment, unit))
                if member is not None:
                    self._count(experiment, member[0], outcome, 1)
        return True

    def arms(self, experiment_id: str):
        from engine.learning.tracking import ArmCounts

        with self._lock:
            return {arm: ArmCounts(int(c.get("units", 0)), int(c.get("conversions", 0)),
                                   c.get("revenue", 0.0), int(c.get("unsubscribed", 0)),
                                   int(c.get("complained", 0)))
                    for (experiment, arm), c in self._arms.items() if experiment == experiment_id}

    def arm_days(self, experiment_id: str):
        with self._lock:
            return dict(self._days.get(experiment_id, {}))

    def arm_of(self, experiment_id: str, unit: str) -> str | None:
        member = self._members.get((experiment_id, unit))
        return member[0] if member else None

    def close(self) -> None:
        pass

    def _join(self, experiment: str, unit: str, arm: str, day) -> list:
        from engine.learning.tracking import ArmDay

        member = self._members.get((experiment, unit))
        if member is None:
            member = self._members[(experiment, unit)] = [arm, False, 0.0]
            self._count(experiment, arm, "units", 1)
            self._add_day(experiment, arm, day, ArmDay(joined=1))
        return member

    def _convert(self, experiment: str, member: list, value: float, day) -> None:
        from engine.learning.tracking import ArmDay

        before = member[2]
        member[2] = before + value
        self._add_day(experiment, member[0], day,
                      ArmDay(0, 1, value, value * (2 * before + value)))
        if not member[1]:
            member[1] = True
            self._count(experiment, member[0], "conversions", 1)
            self._count(experiment, member[0], "revenue", value)

    def _add_day(self, experiment: str, arm: str, day, counters) -> None:
        days = self._days.setdefault(experiment, {})
        key = (arm, day)
        days[key] = days[key].plus(counters) if key in days else counters

    def _count(self, experiment: str, arm: str, name: str, amount: float) -> None:
        counts = self._arms.setdefault((experiment, arm), {})
        counts[name] = counts.get(name, 0) + amount
