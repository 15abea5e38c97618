"""A deliberately unsafe service, for the negative control of the concurrency tests.

Its store checks the caps and writes the entries in two separate steps (read,
then write), as a naive implementation would, over any real store
(NAIVE_STORE_URL: SQLite, Redis or Redis Cluster). The tests show it
over-sends under the same load that the real service withstands.
"""
from __future__ import annotations

import os
import time

from api import create_app
from engine.decision.reservations import check_reservation
from engine.model import Reservation, ReservationResult
from engine.ports import ContactStore
from store import store_from_url


class ReadThenWriteStore:
    """Every method of the real store, but reserve reads, waits, then writes."""

    def __init__(self, inner: ContactStore) -> None:
        self.inner = inner

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def reserve(self, reservation: Reservation, *, commit: bool = True) -> ReservationResult:
        history = self.inner.history(reservation.contact_id)
        result = check_reservation(history, reservation, {})
        time.sleep(0.02)  # widen the gap between the read and the write
        if result.ok and commit:
            self.inner.reserve(Reservation(reservation.contact_id, reservation.entries))
        return result


app = create_app({"NBA_STORE": ReadThenWriteStore(store_from_url(os.environ["NAIVE_STORE_URL"]))})
