"""The interfaces through which the core reaches the outside world.

A store keeps contact profiles, consents, contact history and channel
capacity counters. It is deliberately narrow so that a networked backend can
serve each call in one round trip: ``load`` reads everything a decision needs
about one contact, ``reserve`` checks every cap and records the new entries
atomically.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Callable, Mapping, Protocol

from engine.model import (
    ContactRecord,
    ContactSnapshot,
    HistoryEntry,
    OutcomeRecorded,
    OutcomeReport,
    Reservation,
    ReservationResult,
)

Clock = Callable[[], datetime]


class ContactStore(Protocol):
    """Contact state. Every method is atomic on its own."""

    def load(self, contact_id: str) -> ContactSnapshot:
        """Profile, consents and history of one contact (empty if unknown)."""

    def load_many(self, contact_ids: list[str]) -> dict[str, ContactSnapshot]:
        """``load`` of several contacts, in one round trip where the store can
        (the journey worker reads the contacts of a pass at once)."""

    def reserve(self, reservation: Reservation, *, commit: bool = True) -> ReservationResult:
        """Check every cap of ``reservation`` and, if all hold and ``commit``,
        record its entries and capacity claims, all or nothing."""

    def record_outcome(self, report: OutcomeReport) -> OutcomeRecorded | None:
        """Attach an outcome to a recorded action; None if there is no such
        action. Recording the same outcome twice has one effect.
        ``unsubscribed`` also revokes consent on the entry's channel."""

    def get_contact(self, contact_id: str) -> ContactRecord | None:
        """The stored profile and consents, or None."""

    def put_contact(self, record: ContactRecord) -> ContactRecord:
        """Replace the profile and consents."""

    def patch_contact(
        self, contact_id: str, profile: Mapping[str, Any], consents: Mapping[str, bool]
    ) -> ContactRecord:
        """Merge attributes and consents into the stored ones (creating the contact)."""

    def delete_contact(self, contact_id: str) -> bool:
        """Erase profile and history everywhere; False if nothing was stored."""

    def history(self, contact_id: str) -> tuple[HistoryEntry, ...]:
        """All recorded entries of a contact, oldest first."""

    def ping(self) -> bool:
        """True when the store can serve requests."""

    def close(self) -> None:
        """Release connections."""


class EventSource(Protocol):
    """Where decisions read a contact's events from (the journey store)."""

    def events(self, contact_id: str) -> tuple[Any, ...]:
        """The contact's events, oldest first."""
