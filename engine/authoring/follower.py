"""Keeping a process's ``ActivePack`` on the registry's active version.

Every API worker and every journey worker has a follower. ``refresh`` is
called often (before each request, at each worker pass) and asks the registry
at most every ``interval_s`` which version is active: one cheap read. When
it changed, the follower compiles that version (once per process: compiled
plans are kept), prepares the execution backend, and swaps the plan with one
reference assignment, so a decision in progress finishes on the plan it
started with and the next one uses the new plan.
"""
from __future__ import annotations

import logging
import time
from collections import OrderedDict
from datetime import datetime
from typing import Callable

from engine.authoring.errors import UnknownPackVersion
from engine.authoring.model import Actor, AuditEntry, PackMeta, PackTestSummary
from engine.authoring.ports import PackRegistry
from engine.backends import ExecutionBackend
from engine.errors import EngineError, InvalidPack, StoreUnavailable
from engine.language.compiler import compile_pack
from engine.plan import Plan
from engine.service import ActivePack

log = logging.getLogger("nba.packs")
REFRESH_INTERVAL_S = 0.5
KEPT_PLANS = 4
STARTUP = Actor("operator", None)


class PackFollower:
    """Follows the registry's active version for one process."""

    def __init__(self, registry: PackRegistry, backend: ExecutionBackend,
                 interval_s: float = REFRESH_INTERVAL_S,
                 monotonic: Callable[[], float] = time.monotonic,
                 on_swap: Callable[[Plan], None] | None = None):
        self.registry = registry
        self.backend = backend
        self.interval_s = interval_s
        self.monotonic = monotonic
        self.on_swap = on_swap
        self.pack: ActivePack | None = None
        self._plans: OrderedDict[str, Plan] = OrderedDict()
        self._refused: set[str] = set()
        self._checked_at = float("-inf")

    def start(self, file_plan: Plan, force: bool, now: datetime) -> ActivePack:
        """Register the pack a process was started with (NBA_PACK) and activate it
        if no version is active (or if ``force``); then follow the active version,
        which may be another one. InvalidPack if the active version cannot be served."""
        self._keep(file_plan)
        try:
            active = self._register(file_plan, force, now)
        except StoreUnavailable as exc:
            log.warning("pack registry unreachable at start: serving %s from NBA_PACK until "
                        "it answers: %s", file_plan.hash, exc)
            active = file_plan.hash
        plan = self.plan_of(active)
        self.backend.prepare(plan)
        self.pack = ActivePack(plan)
        self._checked_at = self.monotonic()
        return self.pack

    def _register(self, file_plan: Plan, force: bool, now: datetime) -> str:
        meta = PackMeta(file_plan.hash, file_plan.name, file_plan.version, "NBA_PACK",
                        STARTUP, now, PackTestSummary(ran=False), size=len(file_plan.source))
        self.registry.add(meta, file_plan.source,
                          AuditEntry(now, STARTUP, "upload", {"hash": file_plan.hash,
                                                              "from": "NBA_PACK"}))
        self.registry.activate(file_plan.hash, AuditEntry(
            now, STARTUP, "activate", {"hash": file_plan.hash, "from": "NBA_PACK",
                                       "forced": force}), only_if_none=not force)
        return self.registry.active() or file_plan.hash

    def plan_of(self, pack_hash: str) -> Plan:
        """The compiled plan of a stored version (compiled once per process)."""
        if pack_hash in self._plans:
            self._plans.move_to_end(pack_hash)
            return self._plans[pack_hash]
        source = self.registry.source(pack_hash)
        if source is None:
            raise UnknownPackVersion(f"no pack version {pack_hash!r}")
        plan = compile_pack(source.encode("utf-8"), f"<pack {pack_hash}>")
        self._keep(plan)
        return plan

    def refresh(self, *, now_please: bool = False) -> bool:
        """Serve the registry's active version if it changed; True if swapped.
        A registry that cannot be reached, or a version this process cannot
        serve, leaves the current plan in place (and is logged)."""
        if self.pack is None:
            return False
        moment = self.monotonic()
        if not now_please and moment - self._checked_at < self.interval_s:
            return False
        self._checked_at = moment
        try:
            active = self.registry.active()
        except StoreUnavailable as exc:
            log.warning("cannot read the active pack version, keeping %s: %s",
                        self.pack.plan.hash, exc)
            return False
        if active is None or active == self.pack.plan.hash or active in self._refused:
            return False
        return self._swap(active)

    def _swap(self, pack_hash: str) -> bool:
        try:
            plan = self.plan_of(pack_hash)
            self.backend.prepare(plan)
        except (InvalidPack, UnknownPackVersion) as exc:
            self._refused.add(pack_hash)
            log.error("cannot serve pack version %s, keeping %s: %s", pack_hash,
                      self.pack.plan.hash, exc)
            return False
        except (StoreUnavailable, EngineError) as exc:
            log.warning("cannot load pack version %s yet: %s", pack_hash, exc)
            return False
        previous = self.pack.swap(plan)
        log.info("now serving pack %s %s (%s), was %s", plan.name, plan.version, plan.hash,
                 previous.hash)
        if self.on_swap is not None:
            self.on_swap(plan)
        return True

    def _keep(self, plan: Plan) -> None:
        self._plans[plan.hash] = plan
        self._plans.move_to_end(plan.hash)
        while len(self._plans) > KEPT_PLANS:
            self._plans.popitem(last=False)
