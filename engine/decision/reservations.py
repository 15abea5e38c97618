"""How a store decides whether a reservation still fits, given what it holds.

Stores that keep history in Python (memory, SQLite) call ``check_reservation``
inside their transaction; a networked store re-implements the same rule next
to its data (the Redis backend in a Lua script), and the shared contract
suite holds them to the same answers.
"""
from __future__ import annotations

from typing import Iterable, Mapping

from engine.model import HistoryEntry, Reservation, ReservationResult


def check_reservation(
    history: Iterable[HistoryEntry],
    reservation: Reservation,
    capacity_used: Mapping[str, int],
) -> ReservationResult:
    """Which window checks and capacity claims ``reservation`` would break."""
    earliest = min((check.since for check in reservation.checks), default=None)
    if earliest is None:
        live: list[HistoryEntry] = []
    else:
        floor = earliest.timestamp()
        live = [e for e in history if e.ts >= floor and not e.failed]
    failed_checks = tuple(
        check.rule
        for check in reservation.checks
        if _count(live, check) + _count(reservation.entries, check) > check.limit
    )
    full = frozenset(
        claim.channel
        for claim in reservation.capacity
        if capacity_used.get(claim.key, 0) + _claims_on(reservation, claim.key) > claim.limit
    )
    return ReservationResult(ok=not failed_checks and not full,
                             failed_checks=failed_checks, full_channels=full)


def _count(entries: Iterable[HistoryEntry], check) -> float:
    since = check.since
    return sum(check.weight(e) for e in entries if e.at >= since and check.matches(e))


def _claims_on(reservation: Reservation, key: str) -> int:
    return sum(1 for claim in reservation.capacity if claim.key == key)
