"""The storage interface of journeys: events, runs, the due queue, the outbox.

Every backend (memory, SQLite, Redis, Redis Cluster) implements it and passes
``tests/test_journey_store_contract.py``. Each method is atomic on its own as
far as the contract says; ``commit`` is the one that changes runs.

Leases use the caller's ``now`` for due-ness and the store's own wall clock is
never read: a worker simulating time (``worker --once --now``) and tests pass
the moment they mean.
"""
from __future__ import annotations

from datetime import datetime
from typing import Protocol

from engine.journeys.model import (
    CommitResult,
    ContactEvent,
    DueTimer,
    JourneyState,
    OutboxMessage,
    RunChange,
)

# Events kept per contact (the most recent ones).
MAX_EVENTS_PER_CONTACT = 500


class JourneyStore(Protocol):
    # -- events --------------------------------------------------------------

    def events(self, contact_id: str) -> tuple[ContactEvent, ...]:
        """The contact's kept events, oldest first (at most MAX_EVENTS_PER_CONTACT,
        the most recent by ``at``)."""

    def has_event(self, contact_id: str, event_id: str) -> bool:
        """Whether the contact has a recorded event with this id."""

    # -- runs ----------------------------------------------------------------

    def journey_state(self, contact_id: str) -> JourneyState:
        """The contact's runs (any state) and trigger watches, read at once."""

    def journey_states(self, contact_ids: list[str]) -> dict[str, JourneyState]:
        """``journey_state`` of several contacts, in one round trip where the store
        can (the worker reads the contacts of a pass at once)."""

    def commit(self, change: RunChange) -> CommitResult:
        """Apply ``change`` (see RunChange) all or nothing as far as the contact's
        event and runs go. A duplicate event or a run not at its expected seq
        rejects the whole change and nothing is written. On a store where the
        due queue and the outboxes live apart from the contact (Redis Cluster),
        timers are scheduled before and messages queued after the contact's
        part, so that a crash leaves at worst a stale timer (ignored when it
        fires) or messages the worker queues again (``requeue``) when the run's
        old timer comes back."""

    def requeue(self, contact_id: str, run_id: str) -> None:
        """Queue again the messages the run's last commit queued, if a crash
        kept them from reaching their outbox (only a store that queues messages
        after the contact's part can lose them; elsewhere this does nothing).
        A message already queued, leased, acked, failed or cancelled is left as
        it is: requeue is idempotent."""

    # -- the due queue ---------------------------------------------------------

    def claim_due(self, now: datetime, limit: int, lease_s: float) -> list[DueTimer]:
        """Up to ``limit`` timers due at or before ``now`` and not leased, earliest
        first, each leased until ``now + lease_s``: no other claim returns them
        until the lease ends or they are done (removed by a commit's ``done``)."""

    def oldest_due(self) -> datetime | None:
        """The due time of the earliest timer in the queue (leased or not)."""

    def pending_timers(self) -> int:
        """How many timers the queue holds."""

    # -- outboxes ----------------------------------------------------------------

    def lease_outbox(self, channel: str, now: datetime, limit: int,
                     lease_s: float) -> list[OutboxMessage]:
        """Up to ``limit`` of the channel's ready messages, leased until
        ``now + lease_s`` with ``attempts`` + 1: first the queued ones, oldest
        first (a message is ready once queued: the worker queues it when its
        step is due, on its own clock, which may be simulated), then those whose
        lease or retry backoff ended by ``now``. An unacknowledged lease comes
        back once it ends."""

    def ack_outbox(self, channel: str, message_ids: list[str]) -> list[str]:
        """Confirm delivered messages; the ids that were queued in this channel
        and are now acked (acking twice is harmless and returns the id again)."""

    def retry_outbox(self, channel: str, message_id: str, at: datetime, error: str) -> None:
        """A delivery attempt failed: the message is ready again at ``at``."""

    def fail_outbox(self, channel: str, message_id: str, error: str) -> None:
        """Give up on a message: it leaves the queue and is listed as failed."""

    def outbox_messages(self, channel: str, state: str, limit: int) -> list[OutboxMessage]:
        """Messages of the channel in ``state`` (ready, leased, acked, failed,
        cancelled), for inspection, oldest first."""

    # -- statistics and erasure ----------------------------------------------------

    def journey_counts(self, journey_id: str) -> dict[str, int]:
        """The counters commits incremented for this journey."""

    def erase_contact(self, contact_id: str) -> bool:
        """Remove the contact's events, runs, watches, timers and queued messages;
        False if nothing was stored."""

    def ping(self) -> bool:
        """True when the store can serve requests."""

    def close(self) -> None:
        """Release connections."""
