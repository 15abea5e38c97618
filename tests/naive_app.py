"""A deliberately unsafe service, for the negative control of the concurrency test.

Its store checks the caps and writes the entries in two separate
transactions (read, then write), as a naive implementation would. The test
shows it over-sends under the same load that the real service withstands.
"""
from __future__ import annotations

import os
import time

from api import create_app
from engine.model import Reservation, ReservationResult
from engine.reservations import check_reservation
from store.sqlite import SQLiteStore


class ReadThenWriteStore(SQLiteStore):
    def reserve(self, reservation: Reservation, *, commit: bool = True) -> ReservationResult:
        history = self.history(reservation.contact_id)
        result = check_reservation(history, reservation, {})
        time.sleep(0.02)  # widen the gap between the read and the write
        if result.ok and commit:
            super().reserve(Reservation(reservation.contact_id, reservation.entries))
        return result


app = create_app({"NBA_STORE": ReadThenWriteStore(os.environ["NAIVE_DB"])})
