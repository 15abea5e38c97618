"""An in-memory ContactStore: for unit tests and the pack test runner. No I/O."""
from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any, Mapping

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
from engine.reservations import check_reservation


class MemoryStore:
    """Contact state in dictionaries, guarded by one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._contacts: dict[str, ContactRecord] = {}
        self._history: dict[str, list[HistoryEntry]] = {}
        self._decisions: dict[tuple[str, str], str] = {}
        self._capacity: dict[str, int] = {}

    def load(self, contact_id: str) -> ContactSnapshot:
        with self._lock:
            record = self._contacts.get(contact_id)
            history = tuple(self._history.get(contact_id, ()))
        if record is None:
            return ContactSnapshot(contact_id, history=history, known=bool(history))
        return ContactSnapshot(contact_id, dict(record.profile), dict(record.consents),
                               history, known=True)

    def reserve(self, reservation: Reservation, *, commit: bool = True) -> ReservationResult:
        with self._lock:
            history = self._history.get(reservation.contact_id, [])
            result = check_reservation(history, reservation, self._capacity)
            if result.ok and commit:
                self._commit(reservation)
            return result

    def _commit(self, reservation: Reservation) -> None:
        contact_id = reservation.contact_id
        history = self._history.setdefault(contact_id, [])
        history.extend(reservation.entries)
        history.sort(key=lambda e: e.at)
        for entry in reservation.entries:
            self._decisions[(entry.decision_id, entry.action_id)] = contact_id
        for claim in reservation.capacity:
            self._capacity[claim.key] = self._capacity.get(claim.key, 0) + 1
        self._contacts.setdefault(contact_id, ContactRecord(contact_id, {}, {}))

    def record_outcome(self, report: OutcomeReport) -> OutcomeRecorded | None:
        with self._lock:
            contact_id = self._decisions.get((report.decision_id, report.action_id))
            if contact_id is None:
                return None
            history = self._history[contact_id]
            index = next(i for i, e in enumerate(history)
                         if (e.decision_id, e.action_id) == (report.decision_id, report.action_id))
            entry = history[index]
            if entry.has_outcome(report.outcome):
                return OutcomeRecorded(contact_id, entry, duplicate=True)
            entry = replace(entry, outcomes=entry.outcomes
                            + (Outcome(report.outcome, report.at, report.value),))
            history[index] = entry
            revoked = self._revoke(contact_id, entry) if report.outcome == "unsubscribed" else None
            return OutcomeRecorded(contact_id, entry, duplicate=False, consent_revoked=revoked)

    def _revoke(self, contact_id: str, entry: HistoryEntry) -> str:
        record = self._contacts.get(contact_id) or ContactRecord(contact_id, {}, {})
        consents = {**record.consents, entry.channel: False}
        self._contacts[contact_id] = replace(record, consents=consents)
        return entry.channel

    def get_contact(self, contact_id: str) -> ContactRecord | None:
        with self._lock:
            return self._contacts.get(contact_id)

    def put_contact(self, record: ContactRecord) -> ContactRecord:
        record = ContactRecord(record.contact_id, dict(record.profile), dict(record.consents))
        with self._lock:
            self._contacts[record.contact_id] = record
        return record

    def patch_contact(self, contact_id: str, profile: Mapping[str, Any],
                      consents: Mapping[str, bool]) -> ContactRecord:
        with self._lock:
            old = self._contacts.get(contact_id) or ContactRecord(contact_id, {}, {})
            record = ContactRecord(contact_id, {**old.profile, **profile},
                                   {**old.consents, **consents})
            self._contacts[contact_id] = record
            return record

    def delete_contact(self, contact_id: str) -> bool:
        with self._lock:
            found = self._contacts.pop(contact_id, None) is not None
            history = self._history.pop(contact_id, [])
            for entry in history:
                self._decisions.pop((entry.decision_id, entry.action_id), None)
            return found or bool(history)

    def history(self, contact_id: str) -> tuple[HistoryEntry, ...]:
        with self._lock:
            return tuple(self._history.get(contact_id, ()))

    def ping(self) -> bool:
        return True

    def close(self) -> None:
        return None
