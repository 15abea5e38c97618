"""Experiment members and arm counts on Redis or Redis Cluster: per experiment a
members hash and an arm counts hash under one hash tag, changed by one Lua
script per experiment and batch (``store/lua/experiment_apply.lua``)."""
from __future__ import annotations

from datetime import datetime

from engine.learning.tracking import ArmCounts, ExperimentBatch
from store.redis_base import RedisBackend, hash_tag

US = "\x1f"


class RedisExperimentStore(RedisBackend):
    SCRIPTS = ("experiment_apply",)

    def _keys(self, experiment_id: str) -> list[str]:
        tag = f"{self.prefix}:{{exp:{hash_tag(experiment_id)}}}"
        return [f"{tag}:members", f"{tag}:arms"]

    def apply(self, batch: ExperimentBatch, at: datetime) -> None:
        ops: dict[str, list[str]] = {}
        for experiment, unit, arm in batch.exposures:
            ops.setdefault(experiment, []).extend(("e", unit, arm, ""))
        for experiment, unit, arm, value in batch.conversions:
            ops.setdefault(experiment, []).extend(("c", unit, arm or "", repr(float(value))))
        for experiment, unit, outcome in batch.churn:
            ops.setdefault(experiment, []).extend(("u", unit, outcome, ""))
        calls = [("experiment_apply", self._keys(experiment), args)
                 for experiment, args in ops.items()]
        self._run_scripts("experiment_apply", calls)

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

    def arm_of(self, experiment_id: str, unit: str) -> str | None:
        member = self._run("experiment_member",
                           lambda: self._redis().hget(self._keys(experiment_id)[0], unit))
        return member.removesuffix(f"{US}c") if member else None
