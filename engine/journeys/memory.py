"""The in-memory JourneyStore: the reference for the contract suite, the pack
test runner and unit tests. One lock makes every method atomic."""
from __future__ import annotations

import threading
from dataclasses import replace
from datetime import datetime, timedelta, timezone

from engine.journeys.model import (
    CommitResult,
    ContactEvent,
    DueTimer,
    JourneyState,
    OutboxMessage,
    Run,
    RunChange,
)
from engine.journeys.ports import MAX_EVENTS_PER_CONTACT


class MemoryJourneyStore:
    """Journey state in dictionaries, guarded by one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: dict[str, list[ContactEvent]] = {}
        self._runs: dict[str, dict[str, Run]] = {}
        self._watches: dict[str, dict[str, datetime]] = {}
        # (contact, key) -> [due, leased until or None]
        self._timers: dict[tuple[str, str], list] = {}
        self._messages: dict[str, dict[str, OutboxMessage]] = {}
        self._lease: dict[tuple[str, str], datetime] = {}
        self._queued: set[tuple[str, str]] = set()
        self._counts: dict[str, dict[str, int]] = {}

    # -- events ----------------------------------------------------------------

    def events(self, contact_id: str) -> tuple[ContactEvent, ...]:
        with self._lock:
            return tuple(self._events.get(contact_id, ()))

    def has_event(self, contact_id: str, event_id: str) -> bool:
        with self._lock:
            return any(e.event_id == event_id for e in self._events.get(contact_id, ()))

    # -- runs ------------------------------------------------------------------

    def journey_state(self, contact_id: str) -> JourneyState:
        with self._lock:
            runs = tuple(sorted(self._runs.get(contact_id, {}).values(),
                                key=lambda r: (r.entered_at, r.run_id)))
            return JourneyState(contact_id, runs, dict(self._watches.get(contact_id, {})))

    def journey_states(self, contact_ids: list[str]) -> dict[str, JourneyState]:
        return {contact_id: self.journey_state(contact_id) for contact_id in contact_ids}

    def commit(self, change: RunChange) -> CommitResult:
        with self._lock:
            contact = change.contact_id
            events = self._events.get(contact, [])
            if change.event and any(e.event_id == change.event.event_id for e in events):
                return CommitResult(False, duplicate_event=True)
            runs = self._runs.get(contact, {})
            conflicts = tuple(u.run.run_id for u in change.runs
                              if _seq(runs.get(u.run.run_id)) != u.expected_seq)
            if conflicts:
                return CommitResult(False, conflicts=conflicts)
            self._apply(change)
            return CommitResult(True)

    def _apply(self, change: RunChange) -> None:
        contact = change.contact_id
        if change.event:
            events = self._events.setdefault(contact, [])
            events.append(change.event)
            events.sort(key=lambda e: e.at)
            del events[:-MAX_EVENTS_PER_CONTACT]
        runs = self._runs.setdefault(contact, {})
        for update in change.runs:
            runs[update.run.run_id] = update.run
        for run_id in change.delete_runs:
            runs.pop(run_id, None)
        for timer in change.timers:
            self._timers[(contact, timer.key)] = [timer.due_at, None]
        for timer in change.done:
            self._timers.pop((timer.contact_id, timer.key), None)
        watches = self._watches.setdefault(contact, {})
        for journey_id, due in change.watches.items():
            if due is None:
                watches.pop(journey_id, None)
            else:
                watches[journey_id] = due
        self._queue(change.messages)
        for channel, message_id in change.cancel:
            found = self._messages.get(channel, {}).get(message_id)
            if found is not None and found.state in ("ready", "leased"):
                self._messages[channel][message_id] = replace(found, state="cancelled")
        for journey_id, counter in change.counts:
            counts = self._counts.setdefault(journey_id, {})
            counts[counter] = counts.get(counter, 0) + 1

    def _queue(self, messages: tuple[OutboxMessage, ...]) -> None:
        for message in messages:
            key = (message.channel, message.message_id)
            if key in self._queued:
                continue
            self._queued.add(key)
            self._messages.setdefault(message.channel, {})[message.message_id] = \
                replace(message, state="ready", attempts=0)

    def requeue(self, contact_id: str, run_id: str) -> None:
        """Nothing to do: a commit queues its messages at once."""
        return None

    # -- the due queue -----------------------------------------------------------

    def claim_due(self, now: datetime, limit: int, lease_s: float) -> list[DueTimer]:
        with self._lock:
            due = sorted((slot[0], key) for key, slot in self._timers.items()
                         if slot[0] <= now and (slot[1] is None or slot[1] <= now))
            claimed = []
            for due_at, (contact, key) in due[:limit]:
                self._timers[(contact, key)][1] = now + timedelta(seconds=lease_s)
                claimed.append(DueTimer(contact, key, due_at))
            return claimed

    def oldest_due(self) -> datetime | None:
        with self._lock:
            return min((slot[0] for slot in self._timers.values()), default=None)

    def pending_timers(self) -> int:
        with self._lock:
            return len(self._timers)

    # -- outboxes ------------------------------------------------------------------

    def lease_outbox(self, channel: str, now: datetime, limit: int,
                     lease_s: float) -> list[OutboxMessage]:
        with self._lock:
            box = self._messages.get(channel, {})
            ready = sorted((m for m in box.values() if self._leasable(m, now)),
                           key=lambda m: (self._ready_at(m) or _FRESH, m.created_at,
                                          m.message_id))
            leased = []
            for message in ready[:limit]:
                message = replace(message, state="leased", attempts=message.attempts + 1)
                box[message.message_id] = message
                self._lease[(channel, message.message_id)] = now + timedelta(seconds=lease_s)
                leased.append(message)
            return leased

    def _ready_at(self, message: OutboxMessage) -> datetime | None:
        """When a leased or retried message is ready again (None: queued, ready)."""
        return self._lease.get((message.channel, message.message_id))

    def _leasable(self, message: OutboxMessage, now: datetime) -> bool:
        if message.state not in ("ready", "leased"):
            return False
        ready = self._ready_at(message)
        return ready is None or ready <= now

    def ack_outbox(self, channel: str, message_ids: list[str]) -> list[str]:
        with self._lock:
            box = self._messages.get(channel, {})
            acked = []
            for message_id in message_ids:
                found = box.get(message_id)
                if found is not None and found.state in ("ready", "leased", "acked"):
                    box[message_id] = replace(found, state="acked")
                    self._lease.pop((channel, message_id), None)
                    acked.append(message_id)
            return acked

    def retry_outbox(self, channel: str, message_id: str, at: datetime, error: str) -> None:
        with self._lock:
            found = self._messages.get(channel, {}).get(message_id)
            if found is not None and found.state in ("ready", "leased"):
                self._messages[channel][message_id] = replace(found, state="ready",
                                                              last_error=error)
                self._lease[(channel, message_id)] = at

    def fail_outbox(self, channel: str, message_id: str, error: str) -> None:
        with self._lock:
            found = self._messages.get(channel, {}).get(message_id)
            if found is not None and found.state in ("ready", "leased"):
                self._messages[channel][message_id] = replace(found, state="failed",
                                                              last_error=error)
                self._lease.pop((channel, message_id), None)

    def outbox_messages(self, channel: str, state: str, limit: int) -> list[OutboxMessage]:
        with self._lock:
            found = [m for m in self._messages.get(channel, {}).values() if m.state == state]
            found.sort(key=lambda m: (m.created_at, m.message_id))
            return found[:limit]

    # -- statistics and erasure --------------------------------------------------------

    def journey_counts(self, journey_id: str) -> dict[str, int]:
        with self._lock:
            return dict(self._counts.get(journey_id, {}))

    def erase_contact(self, contact_id: str) -> bool:
        with self._lock:
            found = bool(self._events.pop(contact_id, None))
            found |= bool(self._runs.pop(contact_id, None))
            found |= bool(self._watches.pop(contact_id, None))
            for key in [k for k in self._timers if k[0] == contact_id]:
                del self._timers[key]
                found = True
            for channel, box in self._messages.items():
                for message_id in [i for i, m in box.items() if m.contact_id == contact_id]:
                    del box[message_id]
                    self._lease.pop((channel, message_id), None)
                    found = True
            return found

    def ping(self) -> bool:
        return True

    def close(self) -> None:
        return None


_FRESH = datetime(1970, 1, 1, tzinfo=timezone.utc)  # queued messages sort first


def _seq(run: Run | None) -> int | None:
    return None if run is None else run.seq
