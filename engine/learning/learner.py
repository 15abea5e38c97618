"""Evidence in and posteriors out, for the processes that serve decisions.

``Learner`` keeps, per pack, the counts read from a ``LearningStore`` (the
cache decisions read, refreshed every ``refresh_s`` seconds), and the
increments this process made since (applied to the store in one atomic batch
every ``flush_s`` seconds, and added to what its own decisions see at once).
A decision thus costs no store round trip for learning; one process's
evidence reaches the others within about ``flush_s + refresh_s`` seconds. A
process killed without its exit handlers loses at most its last
``flush_s`` seconds of increments.
"""
from __future__ import annotations

import logging
import threading
import time
from datetime import datetime
from typing import Any, Callable, Iterable, Mapping, Protocol

from engine.learning import risk
from engine.learning.model import Learned, count_levels
from engine.learning.posterior import Counts, weight_at
from engine.model import MARKETING_KINDS

log = logging.getLogger("nba.learning")
Key = tuple[str, str]  # (action id, segment; "" for the action as a whole)


class LearningStore(Protocol):
    """Per pack, per action and segment: evidence sums that only grow."""

    def add(self, pack: str, increments: Mapping[Key, Counts], at: datetime) -> None:
        """Add every increment atomically (no update lost to a concurrent one); an
        entry whose raw totals reach the warm thresholds gets ``warm_at = at``."""

    def read(self, pack: str) -> dict[Key, Counts]:
        """Everything stored for ``pack``."""

    def close(self) -> None:
        """Release connections."""


class Learner:
    def __init__(self, store: LearningStore, clock: Callable[[], datetime],
                 refresh_s: float = 5.0, flush_s: float = 1.0,
                 monotonic: Callable[[], float] = time.monotonic):
        self.store = store
        self.clock = clock
        self.refresh_s = refresh_s
        self.flush_s = flush_s
        self.monotonic = monotonic
        self._lock = threading.RLock()
        self._cache: dict[str, dict[Key, Counts]] = {}
        self._read_at: dict[str, float] = {}
        self._pending: dict[str, dict[Key, Counts]] = {}
        self._flushed: dict[str, dict[Key, Counts]] = {}
        self._flushed_at = monotonic()
        # Choice probabilities already estimated since the last read of the store
        # (engine.learning.view), per pack: they change when the posteriors do.
        self._choices: dict[str, dict[Any, dict[str, float]]] = {}
        # Posteriors per (action, segment) with the counts and second they were
        # computed from (engine.learning.view), per pack: emptied at each read.
        self._posteriors: dict[str, dict[Any, tuple]] = {}
        # The store's counts with this process's own, per pack, until either changes.
        self._merged: dict[str, tuple[int, dict[Key, Counts]]] = {}
        self._version: dict[str, int] = {}

    # --- what decisions read ---------------------------------------------------

    def counts(self, plan: Any) -> Mapping[Key, Counts]:
        """What this process knows of ``plan``'s evidence now (at most ``refresh_s`` old
        for other processes' evidence, up to date for its own)."""
        pack = pack_key(plan)
        with self._lock:
            self._maybe_flush()
            if self.monotonic() - self._read_at.get(pack, -1e18) >= self.refresh_s:
                self._refresh(pack)
            extra = [self._flushed.get(pack), self._pending.get(pack)]
            if not any(extra):
                return self._cache[pack]
            version = self._version.get(pack, 0)
            found = self._merged.get(pack)
            if found is not None and found[0] == version:
                return found[1]  # no evidence since: the same merge (and posteriors)
            merged = dict(self._cache[pack])
            for batch in extra:
                for key, counts in (batch or {}).items():
                    merged[key] = merged[key].plus(counts) if key in merged else counts
            self._merged[pack] = (version, merged)
            return merged

    def choices(self, plan: Any) -> dict[Any, dict[str, float]]:
        """The pack's cache of estimated choice probabilities, emptied at each read of
        the store (so an estimate is at most ``refresh_s`` older than the posteriors)."""
        cache = self._choices.setdefault(pack_key(plan), {})
        if len(cache) > 10_000:
            cache.clear()
        return cache

    def posteriors(self, plan: Any) -> dict[Any, tuple]:
        """The pack's cache of posteriors (engine.learning.view checks that an entry's
        counts and second are still the decision's), emptied at each read of the store."""
        cache = self._posteriors.setdefault(pack_key(plan), {})
        if len(cache) > 10_000:
            cache.clear()
        return cache

    def refresh(self, plan: Any) -> Mapping[Key, Counts]:
        """``counts`` read from the store now (what a report shows)."""
        with self._lock:
            self._refresh(pack_key(plan))
        return self.counts(plan)

    # --- evidence ----------------------------------------------------------------

    def exposed(self, plan: Any, entries: Iterable[Any]) -> None:
        """Recorded entries (chosen and committed): one exposure each for learned actions."""
        for entry in entries:
            action = plan.action(entry.action_id)
            if action is not None and isinstance(action.propensity, Learned):
                self._add(plan, entry, Counts(weight_at(entry.at, plan.learning.half_life), 0.0,
                                              1, 0))

    def succeeded(self, plan: Any, entry: Any, outcome: str) -> None:
        """A first recording of ``outcome`` on ``entry``: a success if it is the one the
        action learns from. Weighted at the exposure's time, like the exposure."""
        action = plan.action(entry.action_id)
        if (action is None or not isinstance(action.propensity, Learned)
                or outcome != action.propensity.success):
            return
        self._add(plan, entry, Counts(0.0, weight_at(entry.at, plan.learning.half_life), 0, 1))

    def risk_exposed(self, plan: Any, entries: Iterable[Any], pressure: float) -> None:
        """Recorded marketing entries: one exposure each for the risks of their channel,
        in the group of the contact's pressure before them (engine.learning.risk)."""
        for entry in entries:
            if entry.kind in MARKETING_KINDS:
                weight = weight_at(entry.at, plan.learning.half_life)
                self._add_keys(plan, [(risk.key(outcome, entry.channel), risk.group(pressure))
                                      for outcome in risk.OUTCOMES], Counts(weight, 0.0, 1, 0))

    def risk_outcome(self, plan: Any, entry: Any, outcome: str, pressure: float) -> None:
        """An unsubscription or complaint on ``entry``, sent at ``pressure`` points."""
        weight = weight_at(entry.at, plan.learning.half_life)
        self._add_keys(plan, [(risk.key(outcome, entry.channel), risk.group(pressure))],
                       Counts(0.0, weight, 0, 1))

    def flush(self) -> None:
        """Apply this process's increments to the store (kept for the next try if it fails)."""
        with self._lock:
            for pack in list(self._pending):
                batch = self._pending.pop(pack)
                try:
                    self.store.add(pack, batch, self.clock())
                except Exception:
                    log.warning("could not store learning counts; retrying later", exc_info=True)
                    self._pending[pack] = _merge(batch, self._pending.get(pack, {}))
                    continue
                self._flushed[pack] = _merge(self._flushed.get(pack, {}), batch)
            self._flushed_at = self.monotonic()

    def flush_if_due(self) -> None:
        """``flush`` when there is something to add and ``flush_s`` has passed (an API
        process calls it before each request, so that an idle one's last counts go)."""
        with self._lock:
            self._maybe_flush()

    def close(self) -> None:
        self.flush()

    def _add(self, plan: Any, entry: Any, counts: Counts) -> None:
        # The action as a whole and every segment the entry's segment nests in.
        levels = count_levels(getattr(entry, "segment", None))
        self._add_keys(plan, [(entry.action_id, level) for level in levels], counts)

    def _add_keys(self, plan: Any, keys: list[Key], counts: Counts) -> None:
        pack = pack_key(plan)
        with self._lock:
            batch = self._pending.setdefault(pack, {})
            for key in keys:
                batch[key] = batch[key].plus(counts) if key in batch else counts
            self._changed(pack)
            self._maybe_flush()

    def _maybe_flush(self) -> None:
        if self._pending and self.monotonic() - self._flushed_at >= self.flush_s:
            self.flush()

    def _refresh(self, pack: str) -> None:
        self.flush()
        self._choices.pop(pack, None)
        self._posteriors.pop(pack, None)
        try:
            self._cache[pack] = self.store.read(pack)
            self._flushed.pop(pack, None)  # the store has them now
        except Exception:
            log.warning("could not read learning counts; using the last ones", exc_info=True)
            self._cache.setdefault(pack, {})
        self._read_at[pack] = self.monotonic()
        self._changed(pack)

    def _changed(self, pack: str) -> None:
        """What ``counts`` merges changed: the next call merges again."""
        self._version[pack] = self._version.get(pack, 0) + 1


def pack_key(plan: Any) -> str:
    """Where a pack's counts are kept: its name and half-life (not its version: a new
    version keeps learning from the old one's evidence)."""
    return f"{plan.name}:{plan.learning.counts_key}"


def _merge(first: dict[Key, Counts], second: dict[Key, Counts]) -> dict[Key, Counts]:
    merged = dict(first)
    for key, counts in second.items():
        merged[key] = merged[key].plus(counts) if key in merged else counts
    return merged
