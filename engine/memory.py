"""An in-memory ContactStore: for unit tests and the pack test runner. No I/O.

Every method takes the one lock, so a reservation is checked and recorded
atomically even when a threaded server shares the store.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any, Mapping

from engine.decision.reservations import check_reservation
from engine.model import (
    ContactRecord,
    ContactSnapshot,
    HistoryEntry,
    Outcome,
    OutcomeRecorded,
    OutcomeReport,
    Reservation,
    ReservationResult,
)


class MemoryStore:
    """Contact state in dictionaries, guarded by one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._contacts: dict[str, ContactRecord] = {}
        self._history: dict[str, list[HistoryEntry]] = {}
        self._decisions: dict[tuple[str, str], str] = {}
        self._capacity: dict[str, int] = {}

    def contact_ids(self) -> list[str]:
        """Every contact with a recorded history."""
        with self._lock:
            return sorted(c for c, entries in self._history.items() if entries)

    def load(self, contact_id: str) -> ContactSnapshot:
        """Profile, consents and history of one contact (empty if unknown)."""
        with self._lock:
            record = self._contacts.get(contact_id)
            history = tuple(self._history.get(contact_id, ()))
        if record is None:
            return ContactSnapshot(contact_id, history=history, known=bool(history))
        return ContactSnapshot(
            contact_id, dict(record.profile), dict(record.consents), history, known=True
        )

    def load_many(self, contact_ids: list[str]) -> dict[str, ContactSnapshot]:
        """``load`` of each contact."""
        return {contact_id: self.load(contact_id) for contact_id in contact_ids}

    def reserve(self, reservation: Reservation, *, commit: bool = True) -> ReservationResult:
        """Check every cap and, if all hold and ``commit``, record the entries."""
        with self._lock:
            if reservation.entries and (reservation.entries[0].decision_id,
                                        reservation.entries[0].action_id) in self._decisions:
                return ReservationResult(ok=True)  # a retry whose first attempt was applied
            history = self._history.get(reservation.contact_id, [])
            result = check_reservation(history, reservation, self._capacity)
            if result.ok and commit:
                self._commit(reservation)
            return result

    def _commit(self, reservation: Reservation) -> None:
        contact_id = reservation.contact_id
        history = self._history.setdefault(contact_id, [])
        history.extend(_in_utc(entry) for entry in reservation.entries)
        history.sort(key=lambda e: e.at)  # stable: equal times keep insertion order
        for entry in reservation.entries:
            self._decisions[(entry.decision_id, entry.action_id)] = contact_id
        for claim in reservation.capacity:
            self._capacity[claim.key] = self._capacity.get(claim.key, 0) + 1
        self._contacts.setdefault(contact_id, ContactRecord(contact_id, {}, {}))

    def record_outcome(self, report: OutcomeReport) -> OutcomeRecorded | None:
        """Attach an outcome once; ``unsubscribed`` also revokes the channel's consent."""
        with self._lock:
            found = self._find_entry(report.decision_id, report.action_id)
            if found is None:
                return None
            contact_id, index = found
            entry = self._history[contact_id][index]
            if entry.has_outcome(report.outcome):
                return OutcomeRecorded(contact_id, entry, duplicate=True)
            outcome = Outcome(report.outcome, _utc(report.at), report.value)
            entry = replace(entry, outcomes=entry.outcomes + (outcome,))
            self._history[contact_id][index] = entry
            revoked = self._revoke(contact_id, entry) if report.outcome == "unsubscribed" else None
            return OutcomeRecorded(contact_id, entry, duplicate=False, consent_revoked=revoked)

    def _find_entry(self, decision_id: str, action_id: str) -> tuple[str, int] | None:
        contact_id = self._decisions.get((decision_id, action_id))
        if contact_id is None:
            return None
        for index, entry in enumerate(self._history.get(contact_id, ())):
            if (entry.decision_id, entry.action_id) == (decision_id, action_id):
                return contact_id, index
        return None

    def _revoke(self, contact_id: str, entry: HistoryEntry) -> str:
        record = self._contacts.get(contact_id) or ContactRecord(contact_id, {}, {})
        consents = {**record.consents, entry.channel: False}
        self._contacts[contact_id] = replace(record, consents=consents)
        return entry.channel

    def get_contact(self, contact_id: str) -> ContactRecord | None:
        """The stored profile and consents, or None."""
        with self._lock:
            record = self._contacts.get(contact_id)
        return None if record is None else _copy(record)

    def contact_records(self, limit: int) -> list[ContactRecord]:
        """Up to ``limit`` stored contacts (profile and consents), in id order."""
        with self._lock:
            return [_copy(self._contacts[c]) for c in sorted(self._contacts)[:limit]]

    def put_contact(self, record: ContactRecord) -> ContactRecord:
        """Replace the profile and consents."""
        record = _copy(record)
        with self._lock:
            self._contacts[record.contact_id] = record
        return _copy(record)

    def patch_contact(
        self, contact_id: str, profile: Mapping[str, Any], consents: Mapping[str, bool]
    ) -> ContactRecord:
        """Merge top-level attributes and consents into the stored ones."""
        with self._lock:
            old = self._contacts.get(contact_id) or ContactRecord(contact_id, {}, {})
            record = ContactRecord(contact_id, {**old.profile, **profile}, {**old.consents, **consents})
            self._contacts[contact_id] = record
        return _copy(record)

    def delete_contact(self, contact_id: str) -> bool:
        """Erase profile, consents and history; False if nothing was stored."""
        with self._lock:
            found = self._contacts.pop(contact_id, None) is not None
            history = self._history.pop(contact_id, [])
            for entry in history:
                self._decisions.pop((entry.decision_id, entry.action_id), None)
            return found or bool(history)

    def history(self, contact_id: str) -> tuple[HistoryEntry, ...]:
        """All recorded entries of a contact, oldest first."""
        with self._lock:
            return tuple(self._history.get(contact_id, ()))

    def ping(self) -> bool:
        """Always ready: there is nothing to reach."""
        return True

    def close(self) -> None:
        """Nothing to release."""
        return None


def _copy(record: ContactRecord) -> ContactRecord:
    """A record whose dictionaries the caller may change without touching the store."""
    return ContactRecord(record.contact_id, dict(record.profile), dict(record.consents))


def _in_utc(entry: HistoryEntry) -> HistoryEntry:
    """The entry with its times in UTC, as every store returns them."""
    outcomes = tuple(replace(o, at=_utc(o.at)) for o in entry.outcomes)
    return replace(entry, at=_utc(entry.at), outcomes=outcomes)


def _utc(moment: datetime) -> datetime:
    # A naive time is kept as given: this store does no I/O and need not guess a zone.
    return moment if moment.tzinfo is None else moment.astimezone(timezone.utc)
