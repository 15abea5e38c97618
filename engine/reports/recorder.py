"""Recorded decisions and outcomes into daily report counters.

``ReportRecorder`` is an ``engine.service.RecordObserver``: each recorded
message adds one to its day's ``messages`` and its channel's ``cost``; each
first recording of an outcome adds one to that outcome's count (and its value
to ``revenue`` for ``converted``) on the day of the message it follows, so a
day's row says what the messages sent that day cost and brought. Increments
are kept in the process and applied to a ``ReportStore`` in one atomic batch
at most every ``flush_s`` seconds (when the next one is recorded, when
``flush_if_due`` is called, at exit). Each batch has an id the store applies
once: a batch that failed (perhaps after the store applied it, on a timeout)
is kept as it was and sent again with the same id before newer ones, so a
retry never counts twice. A process killed without its exit handlers loses at most its
last ``flush_s`` seconds of counts.
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import Any, Callable, Iterable

from engine.reports.model import DayKey, Tally
from engine.reports.ports import ReportStore

log = logging.getLogger("nba.reports")
CONVERTED = "converted"


class _Batch:
    """Increments not yet in the store, for one pack."""

    def __init__(self) -> None:
        self.batch_id = uuid.uuid4().hex
        self.tallies: dict[DayKey, Tally] = {}
        self.contacts: dict[DayKey, set[str]] = {}

    def add(self, key: DayKey, tally: Tally, contact_id: str | None = None) -> None:
        self.tallies[key] = self.tallies[key].plus(tally) if key in self.tallies else tally
        if contact_id is not None:
            self.contacts.setdefault(key, set()).add(contact_id)


class ReportRecorder:
    def __init__(self, store: ReportStore, flush_s: float = 1.0,
                 monotonic: Callable[[], float] = time.monotonic):
        self.store = store
        self.flush_s = flush_s
        self.monotonic = monotonic
        self._lock = threading.RLock()
        self._pending: dict[str, _Batch] = {}
        self._failed: list[tuple[str, _Batch]] = []  # oldest first, retried as they were
        self._flushed_at = monotonic()

    # --- RecordObserver ------------------------------------------------------------

    def decision_recorded(self, plan: Any, request: Any, entries: Iterable[Any]) -> None:
        """One message per recorded entry, at its channel's cost."""
        with self._lock:
            batch = self._pending.setdefault(plan.name, _Batch())
            for entry in entries:
                channel = plan.channels.get(entry.channel)
                cost = channel.cost if channel is not None else 0.0
                batch.add(day_key(plan, entry), Tally(1, cost), request.contact_id)
            self._flush_if_due()

    def outcome_recorded(self, plan: Any, recorded: Any, report: Any) -> None:
        """One more of ``report.outcome`` (and its value as revenue if a conversion)."""
        revenue = float(report.value or 0.0) if report.outcome == CONVERTED else 0.0
        with self._lock:
            batch = self._pending.setdefault(plan.name, _Batch())
            batch.add(day_key(plan, recorded.entry), Tally(revenue=revenue,
                                                           outcomes={report.outcome: 1}))
            self._flush_if_due()

    # --- batches ---------------------------------------------------------------------

    def flush(self) -> None:
        """Apply this process's increments to the store (kept for the next try if it fails)."""
        with self._lock:
            waiting = self._failed + [(pack, batch) for pack, batch in self._pending.items()]
            self._pending, self._failed = {}, []
            for index, (pack, batch) in enumerate(waiting):
                try:
                    self.store.add(pack, batch.batch_id, batch.tallies,
                                   {k: frozenset(v) for k, v in batch.contacts.items()})
                except Exception:
                    log.warning("could not store report counts; retrying later", exc_info=True)
                    self._failed = waiting[index:]
                    break
            self._flushed_at = self.monotonic()

    def flush_if_due(self) -> None:
        """``flush`` if there is something to apply and ``flush_s`` has passed."""
        with self._lock:
            self._flush_if_due()

    def pending(self, pack: str) -> dict[DayKey, Tally]:
        """What this process has not applied yet for ``pack`` (tests, diagnostics)."""
        with self._lock:
            total: dict[DayKey, Tally] = {}
            for batch in [b for p, b in self._failed if p == pack] + (
                    [self._pending[pack]] if pack in self._pending else []):
                for key, tally in batch.tallies.items():
                    total[key] = total[key].plus(tally) if key in total else tally
            return total

    def close(self) -> None:
        self.flush()

    def _flush_if_due(self) -> None:
        if (self._pending or self._failed) and self.monotonic() - self._flushed_at >= self.flush_s:
            self.flush()


def day_key(plan: Any, entry: Any) -> DayKey:
    """The row an entry counts in: its day in the pack's timezone, program, action, channel."""
    return (entry.at.astimezone(plan.tz).date(), entry.program, entry.action_id, entry.channel)
