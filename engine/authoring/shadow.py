"""Shadow runs: a candidate version decides beside the active one on live traffic.

An author starts a shadow of a stored version for a share of the decision
requests and a duration. For a request drawn into the share, once its answer
has been sent, the candidate decides for the same contact as the active
version saw it (the history without the live decision's own entries), as a dry
run: nothing is reserved or recorded. Each comparison increments counters in
the ``ShadowStore`` (the same database as the contacts), so every worker of
every machine adds to one report: how often the two differ, by channel and by
action, with a few examples.
"""
from __future__ import annotations

import json
import logging
import random
import time
import uuid
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Callable, Protocol

from engine.authoring.errors import ShadowRefused
from engine.authoring.model import Actor
from engine.backends import ExecutionBackend
from engine.decision.fallbacks import fallback_decision
from engine.model import DecisionRequest
from engine.plan import Plan

log = logging.getLogger("nba.shadow")
MAX_EXAMPLES = 10
MAX_DURATION = timedelta(days=7)
CONFIG_INTERVAL_S = 0.5
NOTHING = "(nothing)"


@dataclass(frozen=True)
class ShadowRun:
    """One shadow: which version, against which, for what share, until when."""

    run_id: str
    candidate: str
    against: str | None
    share: float
    started_at: datetime
    ends_at: datetime
    started_by: Actor

    def running(self, now: datetime) -> bool:
        return self.started_at <= now < self.ends_at

    def to_json(self) -> str:
        body = asdict(self)
        body.update(started_at=self.started_at.isoformat(), ends_at=self.ends_at.isoformat())
        return json.dumps(body, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ShadowRun:
        body = json.loads(text)
        return cls(**{**body, "started_by": Actor(**body["started_by"]),
                      "started_at": datetime.fromisoformat(body["started_at"]),
                      "ends_at": datetime.fromisoformat(body["ends_at"])})


class ShadowStore(Protocol):
    """Where shadow runs and their counters live; each method atomic on its own,
    across processes and machines."""

    def start(self, run: ShadowRun) -> None:
        """Make ``run`` the current shadow (replacing any), with empty counters."""

    def current(self) -> ShadowRun | None:
        """The current shadow run (running or ended), or None."""

    def last_run(self, candidate: str) -> ShadowRun | None:
        """The latest shadow run of ``candidate``, current or not."""

    def stop(self, candidate: str, at: datetime) -> bool:
        """End the current shadow at ``at`` if it is ``candidate``'s; True if it was."""

    def count(self, run_id: str, increments: dict[str, int],
              example: dict[str, Any] | None) -> None:
        """Add ``increments`` to the run's counters, and ``example`` to its examples
        while it has fewer than MAX_EXAMPLES."""

    def counters(self, run_id: str) -> tuple[dict[str, int], list[dict[str, Any]]]:
        """A run's counters and examples (oldest first)."""


def compared(channel: str, active: tuple[str, ...], candidate: tuple[str, ...]
             ) -> tuple[dict[str, int], bool]:
    """The counters one comparison adds, and whether the two answers differ."""
    differs = active != candidate
    first_active, first_candidate = (active or (NOTHING,))[0], (candidate or (NOTHING,))[0]
    increments = {"compared": 1, f"channel:{channel}:compared": 1,
                  f"active:{first_active}": 1, f"candidate:{first_candidate}": 1}
    if differs:
        increments.update({"differing": 1, f"channel:{channel}:differing": 1,
                           f"change:{first_active}>{first_candidate}": 1})
    return increments, differs


def report(run: ShadowRun, counts: dict[str, int], examples: list[dict[str, Any]],
           now: datetime, active: str | None) -> dict[str, Any]:
    """What a shadow found: how often the candidate differs, where, with examples."""
    total, differing = counts.get("compared", 0), counts.get("differing", 0)
    channels = sorted({k.split(":")[1] for k in counts if k.startswith("channel:")})
    actions = sorted({k.split(":", 1)[1] for k in counts
                      if k.startswith(("active:", "candidate:"))})
    changes = sorted(((k.split(":", 1)[1].split(">", 1), n) for k, n in counts.items()
                      if k.startswith("change:")), key=lambda item: (-item[1], item[0]))
    return {
        "candidate": run.candidate, "against": run.against, "share": run.share,
        "started_at": run.started_at.isoformat(), "ends_at": run.ends_at.isoformat(),
        "started_by": asdict(run.started_by),
        "state": _state(run, now, active), "compared": total, "differing": differing,
        "difference_rate": round(differing / total, 4) if total else None,
        "by_channel": {c: {"compared": counts.get(f"channel:{c}:compared", 0),
                           "differing": counts.get(f"channel:{c}:differing", 0)}
                       for c in channels},
        "by_action": {a: {"active": counts.get(f"active:{a}", 0),
                          "candidate": counts.get(f"candidate:{a}", 0)} for a in actions},
        "changes": [{"active": old, "candidate": new, "count": n} for (old, new), n in changes],
        "examples": examples,
    }


def _state(run: ShadowRun, now: datetime, active: str | None) -> str:
    if active == run.candidate:
        return "candidate_active"
    return "running" if run.running(now) else "ended"


class ShadowService:
    """Starts and stops shadows, draws requests into them, compares, reports."""

    def __init__(self, store: ShadowStore, plan_of: Callable[[str], Plan],
                 active: Callable[[], str | None], backend: Callable[[], ExecutionBackend],
                 clock: Callable[[], datetime], draw: Callable[[], float] = random.random,
                 monotonic: Callable[[], float] = time.monotonic):
        self.store, self.plan_of, self.active = store, plan_of, active
        self._backend_factory, self._backend = backend, None
        self.clock, self.draw, self.monotonic = clock, draw, monotonic
        self._cached: ShadowRun | None = None
        self._cached_at = float("-inf")

    def start(self, candidate: str, share: float, duration: timedelta, actor: Actor) -> ShadowRun:
        """Shadow ``candidate`` (a stored version, not the active one)."""
        active = self.active()
        if candidate == active:
            raise ShadowRefused("this version is the active one: a shadow compares another "
                                "version with it")
        self.plan_of(candidate)  # UnknownPackVersion or InvalidPack before anything starts
        now = self.clock()
        run = ShadowRun(uuid.uuid4().hex, candidate, active, share, now, now + duration, actor)
        self.store.start(run)
        self._cached_at = float("-inf")
        return run

    def stop(self, candidate: str) -> bool:
        stopped = self.store.stop(candidate, self.clock())
        self._cached_at = float("-inf")
        return stopped

    def sample(self) -> ShadowRun | None:
        """The running shadow if this request is drawn into its share, else None.
        Reads the store at most every CONFIG_INTERVAL_S; never raises."""
        moment = self.monotonic()
        if moment - self._cached_at >= CONFIG_INTERVAL_S:
            self._cached_at = moment
            try:
                self._cached = self.store.current()
            except Exception:  # a shadow must never fail a live request
                log.exception("cannot read the current shadow run")
                self._cached = None
        run = self._cached
        if run is None or not run.running(self.clock()) or self.draw() >= run.share:
            return None
        return run

    def compare(self, run: ShadowRun, load: Callable[[Plan, str], Any],
                request: DecisionRequest, live_plan: Plan, live_decision_id: str,
                live_actions: tuple[str, ...]) -> None:
        """Decide ``request`` with the candidate as the live decision saw the
        contact, and count the comparison. Logs and swallows every failure."""
        try:
            if live_plan.hash == run.candidate:
                return  # the candidate is active now: nothing left to compare
            plan = self.plan_of(run.candidate)
            snapshot = load(plan, request.contact_id)
            before = replace(snapshot, history=tuple(
                e for e in snapshot.history if e.decision_id != live_decision_id))
            candidate = self._decide(plan, before, replace(request, dry_run=True, explain=False))
            increments, differs = compared(request.channel, live_actions, candidate)
            example = None if not differs else {
                "decision_id": live_decision_id, "contact_id": request.contact_id,
                "channel": request.channel, "placement": request.placement,
                "at": request.at.isoformat(), "active_pack": live_plan.hash,
                "active": list(live_actions), "candidate": list(candidate)}
            self.store.count(run.run_id, increments, example)
        except Exception:
            log.exception("shadow comparison failed for candidate %s", run.candidate)

    def _decide(self, plan: Plan, snapshot, request: DecisionRequest) -> tuple[str, ...]:
        if self._backend is None:
            self._backend = self._backend_factory()
        decision = self._backend.decide(plan, snapshot, request, "shadow", frozenset())
        if not decision.actions:
            decision = fallback_decision(plan, request, "nothing_eligible", decision) or decision
        return tuple(a.action_id for a in decision.actions)

    def report(self, candidate: str) -> dict[str, Any] | None:
        """The latest shadow run of ``candidate`` and what it found, or None."""
        run = self.store.last_run(candidate)
        if run is None:
            return None
        counts, examples = self.store.counters(run.run_id)
        return report(run, counts, examples, self.clock(), self.active())
