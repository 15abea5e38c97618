"""Experiment members, arm counts and daily arm counters on Redis or Redis Cluster:
per experiment a members hash, an arm counts hash, a daily counters hash and the
members' running goal values, under one hash tag, changed by one Lua script per
experiment and batch (``store/redis/lua/experiment_apply.lua``), once per batch id (a
marker kept an hour: see ``BATCHES_KEPT_S``)."""
from __future__ import annotations

from datetime import date, datetime

from engine.learning.tracking import ArmCounts, ArmDay, ExperimentBatch
from store.redis.base import RedisBackend, hash_tag

US = "\x1f"
# A batch id is remembered for an hour: a batch whose reply was lost is sent again
# at the tracker's next flush (seconds later), and a busy process sends one batch a
# second per experiment (a week of markers would be 600,000 keys per process). Only
# a lost reply followed by an hour without the store could count a batch twice.
BATCHES_KEPT_S = 3600


class RedisExperimentStore(RedisBackend):
    SCRIPTS = ("experiment_apply",)

    def _keys(self, experiment_id: str, batch_id: str = "") -> list[str]:
        tag = f"{self.prefix}:{{exp:{hash_tag(experiment_id)}}}"
        return [f"{tag}:members", f"{tag}:arms", f"{tag}:days", f"{tag}:goals",
                f"{tag}:b:{batch_id}"]

    def apply(self, batch: ExperimentBatch, at: datetime) -> bool:
        ops: dict[str, list[str]] = {}
        for experiment, unit, arm in batch.exposures:
            ops.setdefault(experiment, []).extend(("e", unit, arm, ""))
        for experiment, unit, arm, value in batch.conversions:
            ops.setdefault(experiment, []).extend(("c", unit, arm or "", repr(float(value))))
        for experiment, unit, outcome in batch.churn:
            ops.setdefault(experiment, []).extend(("u", unit, outcome, ""))
        head = [str(BATCHES_KEPT_S), (batch.day or at.date()).isoformat()]
        calls = [("experiment_apply", self._keys(experiment, batch.batch_id), head + args)
                 for experiment, args in ops.items()]
        return any(reply != -1 for reply in self._run_scripts("experiment_apply", calls)) \
            or not calls

    def arms(self, experiment_id: str) -> dict[str, ArmCounts]:
        flat = self._run("experiment_arms",
                         lambda: self._redis().hgetall(self._keys(experiment_id)[1]))
        fields: dict[str, dict[str, str]] = {}
        for name, value in flat.items():
            arm, part = name.rsplit(US, 1)
            fields.setdefault(arm, {})[part] = value
        return {arm: ArmCounts(int(f.get("units", 0)), int(f.get("conversions", 0)),
                               float(f.get("revenue", 0)), int(f.get("unsubscribed", 0)),
                               int(f.get("complained", 0))) for arm, f in fields.items()}

    def arm_days(self, experiment_id: str) -> dict[tuple[str, date], ArmDay]:
        flat = self._run("experiment_days",
                         lambda: self._redis().hgetall(self._keys(experiment_id)[2]))
        fields: dict[tuple[str, date], dict[str, float]] = {}
        for name, value in flat.items():
            arm, day, part = name.rsplit(US, 2)
            fields.setdefault((arm, date.fromisoformat(day)), {})[part] = float(value)
        return {key: ArmDay(int(f.get("joined", 0)), int(f.get("goal_events", 0)),
                            f.get("goal_revenue", 0.0), f.get("goal_square", 0.0))
                for key, f in fields.items()}

    def arm_of(self, experiment_id: str, unit: str) -> str | None:
        member = self._run("experiment_member",
                           lambda: self._redis().hget(self._keys(experiment_id)[0], unit))
        return member.removesuffix(f"{US}c") if member else None
