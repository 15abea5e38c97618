"""A ContactStore on one SQLite file, shared by several processes of one machine.

Gunicorn runs several worker processes, each with threads, against the same
file. SQLite serialises writers with a file lock; this module makes every
check-then-write a single ``BEGIN IMMEDIATE`` transaction, so the write lock
is taken *before* the history is read and two workers can never both read a
window under its cap and both write past it. WAL mode lets readers go on
while one writer holds the lock.

Connections are never shared: one is opened lazily per (process, thread), and
a process created by ``fork`` opens its own instead of using its parent's
(store/sqlite/connections.py, which every SQLite store uses).
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import AbstractContextManager
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
from store.errors import DuplicateHistoryEntry
from store.sqlite.connections import SQLiteConnections
from store.sqlite.times import dump_time, load_time, utc

# Entries are pre-selected by epoch seconds in SQL, then counted exactly by
# check_reservation; the margin keeps float rounding from dropping any.
SINCE_MARGIN_S = 1.0

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS contacts (
        contact_id TEXT PRIMARY KEY,
        profile TEXT NOT NULL DEFAULT '{}',
        consents TEXT NOT NULL DEFAULT '{}',
        updated_at TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS history (
        contact_id TEXT NOT NULL,
        decision_id TEXT NOT NULL,
        action_id TEXT NOT NULL,
        program TEXT NOT NULL,
        kind TEXT NOT NULL,
        channel TEXT NOT NULL,
        placement TEXT,
        at_ts REAL NOT NULL,
        at TEXT NOT NULL,
        outcomes TEXT NOT NULL DEFAULT '[]',
        journey_id TEXT,
        run_id TEXT,
        step_id TEXT,
        segment TEXT,
        probability REAL,
        PRIMARY KEY (decision_id, action_id))""",
    "CREATE INDEX IF NOT EXISTS history_by_contact ON history (contact_id, at_ts)",
    """CREATE TABLE IF NOT EXISTS capacity (
        key TEXT PRIMARY KEY,
        used INTEGER NOT NULL DEFAULT 0)""",
)
# In the order of HistoryEntry fields.
HISTORY_COLUMNS = ("decision_id, action_id, program, kind, channel, at, placement, outcomes, "
                   "journey_id, run_id, step_id, segment, probability")
# Columns added after the first release: (table, column, type), added to older files.
ADDED_COLUMNS = (("history", "journey_id", "TEXT"), ("history", "run_id", "TEXT"),
                 ("history", "step_id", "TEXT"), ("history", "segment", "TEXT"),
                 ("history", "probability", "REAL"))


class SQLiteStore:
    """Contact state in one SQLite file (WAL mode), safe across processes and threads."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._db = SQLiteConnections(path, _create_schema)

    # -- reads ---------------------------------------------------------------

    def load(self, contact_id: str) -> ContactSnapshot:
        """Profile, consents and history of one contact, read in one snapshot."""
        with self._transaction("DEFERRED") as conn:
            record = _select_contact(conn, contact_id)
            history = _select_history(conn, contact_id)
        if record is None:
            return ContactSnapshot(contact_id, history=history, known=bool(history))
        return ContactSnapshot(contact_id, record.profile, record.consents, history, known=True)

    def load_many(self, contact_ids: list[str]) -> dict[str, ContactSnapshot]:
        """``load`` of each contact (one file: no round trip to save)."""
        return {contact_id: self.load(contact_id) for contact_id in contact_ids}

    def history(self, contact_id: str) -> tuple[HistoryEntry, ...]:
        """All recorded entries of a contact, oldest first."""
        with self._transaction("DEFERRED") as conn:
            return _select_history(conn, contact_id)

    def contact_ids(self) -> list[str]:
        """Every contact with a recorded history (the evaluator reads them all)."""
        with self._transaction("DEFERRED") as conn:
            return [row[0] for row in conn.execute(
                "SELECT DISTINCT contact_id FROM history ORDER BY contact_id")]

    def get_contact(self, contact_id: str) -> ContactRecord | None:
        """The stored profile and consents, or None."""
        with self._transaction("DEFERRED") as conn:
            return _select_contact(conn, contact_id)

    def contact_records(self, limit: int) -> list[ContactRecord]:
        """Up to ``limit`` stored contacts (profile and consents), in id order."""
        with self._transaction("DEFERRED") as conn:
            rows = conn.execute("SELECT contact_id, profile, consents FROM contacts "
                                "ORDER BY contact_id LIMIT ?", (limit,)).fetchall()
        return [ContactRecord(c, json.loads(p), json.loads(k)) for c, p, k in rows]

    # -- writes --------------------------------------------------------------

    def reserve(self, reservation: Reservation, *, commit: bool = True) -> ReservationResult:
        """Check every cap and, if all hold and ``commit``, record it, all or nothing."""
        with self._transaction("IMMEDIATE") as conn:
            if _already_recorded(conn, reservation):
                conn.execute("ROLLBACK")
                return ReservationResult(ok=True)  # a retry whose first attempt was applied
            history = _history_for_checks(conn, reservation)
            result = check_reservation(history, reservation, _capacity_used(conn, reservation))
            if result.ok and commit:
                _insert_reservation(conn, reservation)
            else:
                conn.execute("ROLLBACK")
            return result

    def record_outcome(self, report: OutcomeReport) -> OutcomeRecorded | None:
        """Attach an outcome once; ``unsubscribed`` also revokes the channel's consent."""
        with self._transaction("IMMEDIATE") as conn:
            found = _select_entry(conn, report.decision_id, report.action_id)
            if found is None:
                return None
            contact_id, entry = found
            if entry.has_outcome(report.outcome):
                return OutcomeRecorded(contact_id, entry, duplicate=True)
            entry = _add_outcome(conn, entry, Outcome(report.outcome, report.at, report.value))
            revoked = None
            if report.outcome == "unsubscribed":
                revoked = _revoke_consent(conn, contact_id, entry.channel)
            return OutcomeRecorded(contact_id, entry, duplicate=False, consent_revoked=revoked)

    def put_contact(self, record: ContactRecord) -> ContactRecord:
        """Replace the profile and consents."""
        record = ContactRecord(record.contact_id, dict(record.profile), dict(record.consents))
        with self._transaction("IMMEDIATE") as conn:
            _upsert_contact(conn, record)
        return record

    def patch_contact(
        self, contact_id: str, profile: Mapping[str, Any], consents: Mapping[str, bool]
    ) -> ContactRecord:
        """Merge top-level attributes and consents into the stored ones."""
        with self._transaction("IMMEDIATE") as conn:
            old = _select_contact(conn, contact_id) or ContactRecord(contact_id, {}, {})
            record = ContactRecord(contact_id, {**old.profile, **profile}, {**old.consents, **consents})
            _upsert_contact(conn, record)
        return record

    def delete_contact(self, contact_id: str) -> bool:
        """Erase profile, consents and history; False if nothing was stored."""
        with self._transaction("IMMEDIATE") as conn:
            erased = conn.execute("DELETE FROM contacts WHERE contact_id = ?", (contact_id,)).rowcount
            erased += conn.execute("DELETE FROM history WHERE contact_id = ?", (contact_id,)).rowcount
        return erased > 0

    # -- connections ---------------------------------------------------------

    def ping(self) -> bool:
        """True when the file can be opened and read."""
        return self._db.ping()

    def close(self) -> None:
        """Close the connections this process opened (other processes keep theirs)."""
        self._db.close()

    def _transaction(self, mode: str) -> AbstractContextManager[sqlite3.Connection]:
        return self._db.transaction(mode)


def _create_schema(conn: sqlite3.Connection) -> None:
    """The contact store's tables, in a transaction the caller opened."""
    for statement in SCHEMA:
        conn.execute(statement)
    _add_missing_columns(conn)


def _add_missing_columns(conn: sqlite3.Connection) -> None:
    """Bring a file made by an earlier version up to the current columns."""
    for table, column, kind in ADDED_COLUMNS:
        present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if column not in present:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")


# -- rows and values ---------------------------------------------------------


def _select_contact(conn: sqlite3.Connection, contact_id: str) -> ContactRecord | None:
    row = conn.execute(
        "SELECT profile, consents FROM contacts WHERE contact_id = ?", (contact_id,)
    ).fetchone()
    if row is None:
        return None
    return ContactRecord(contact_id, json.loads(row[0]), json.loads(row[1]))


def _upsert_contact(conn: sqlite3.Connection, record: ContactRecord) -> None:
    conn.execute(
        "INSERT INTO contacts (contact_id, profile, consents, updated_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (contact_id) DO UPDATE SET profile = excluded.profile, "
        "consents = excluded.consents, updated_at = excluded.updated_at",
        (record.contact_id, json.dumps(dict(record.profile)), json.dumps(dict(record.consents)), _now()),
    )


def _revoke_consent(conn: sqlite3.Connection, contact_id: str, channel: str) -> str:
    old = _select_contact(conn, contact_id) or ContactRecord(contact_id, {}, {})
    _upsert_contact(conn, ContactRecord(contact_id, old.profile, {**old.consents, channel: False}))
    return channel


def _select_history(
    conn: sqlite3.Connection, contact_id: str, since_ts: float | None = None
) -> tuple[HistoryEntry, ...]:
    sql = f"SELECT {HISTORY_COLUMNS} FROM history WHERE contact_id = ?"
    params: tuple[Any, ...] = (contact_id,)
    if since_ts is not None:
        sql, params = sql + " AND at_ts >= ?", (contact_id, since_ts)
    rows = conn.execute(sql + " ORDER BY at_ts, rowid", params).fetchall()
    return tuple(_entry(row) for row in rows)


def _already_recorded(conn: sqlite3.Connection, reservation: Reservation) -> bool:
    if not reservation.entries:
        return False
    first = reservation.entries[0]
    return conn.execute("SELECT 1 FROM history WHERE decision_id = ? AND action_id = ?",
                        (first.decision_id, first.action_id)).fetchone() is not None


def _history_for_checks(conn: sqlite3.Connection, reservation: Reservation) -> tuple[HistoryEntry, ...]:
    """Only the entries a window check can count: none before the earliest ``since``."""
    if not reservation.checks:
        return ()
    since_ts = min(check.since.timestamp() for check in reservation.checks) - SINCE_MARGIN_S
    return _select_history(conn, reservation.contact_id, since_ts)


def _select_entry(
    conn: sqlite3.Connection, decision_id: str, action_id: str
) -> tuple[str, HistoryEntry] | None:
    row = conn.execute(
        f"SELECT contact_id, {HISTORY_COLUMNS} FROM history WHERE decision_id = ? AND action_id = ?",
        (decision_id, action_id),
    ).fetchone()
    return None if row is None else (row[0], _entry(row[1:]))


def _add_outcome(conn: sqlite3.Connection, entry: HistoryEntry, outcome: Outcome) -> HistoryEntry:
    outcomes = entry.outcomes + (outcome,)
    conn.execute(
        "UPDATE history SET outcomes = ? WHERE decision_id = ? AND action_id = ?",
        (_dump_outcomes(outcomes), entry.decision_id, entry.action_id),
    )
    return replace(entry, outcomes=outcomes)


def _capacity_used(conn: sqlite3.Connection, reservation: Reservation) -> dict[str, int]:
    keys = sorted({claim.key for claim in reservation.capacity})
    if not keys:
        return {}
    marks = ", ".join("?" for _ in keys)
    rows = conn.execute(f"SELECT key, used FROM capacity WHERE key IN ({marks})", keys)
    return {key: used for key, used in rows}


def _insert_reservation(conn: sqlite3.Connection, reservation: Reservation) -> None:
    contact_id = reservation.contact_id
    try:
        conn.executemany(
            f"INSERT INTO history (contact_id, {HISTORY_COLUMNS}, at_ts) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(contact_id, *_entry_row(entry)) for entry in reservation.entries],
        )
    except sqlite3.IntegrityError as exc:
        raise DuplicateHistoryEntry(
            f"contact {contact_id!r}: an entry of this reservation is already recorded "
            "(same decision_id and action_id)"
        ) from exc
    conn.executemany(
        "INSERT INTO capacity (key, used) VALUES (?, 1) ON CONFLICT (key) DO UPDATE SET used = used + 1",
        [(claim.key,) for claim in reservation.capacity],
    )
    conn.execute(
        "INSERT OR IGNORE INTO contacts (contact_id, updated_at) VALUES (?, ?)", (contact_id, _now())
    )


def _entry_row(entry: HistoryEntry) -> tuple[Any, ...]:
    """The history columns after contact_id, in HISTORY_COLUMNS order, then at_ts."""
    head = (entry.decision_id, entry.action_id, entry.program, entry.kind, entry.channel)
    tail = (entry.placement, _dump_outcomes(entry.outcomes), entry.journey_id, entry.run_id,
            entry.step_id, entry.segment, entry.probability, utc(entry.at).timestamp())
    return (*head, dump_time(entry.at), *tail)


def _entry(row: tuple[Any, ...]) -> HistoryEntry:
    """A HistoryEntry from the HISTORY_COLUMNS of one row."""
    *head, at, placement, outcomes, journey_id, run_id, step_id, segment, probability = row
    return HistoryEntry(*head, load_time(at), placement, _load_outcomes(outcomes),
                        journey_id, run_id, step_id, segment, probability)


def _dump_outcomes(outcomes: tuple[Outcome, ...]) -> str:
    return json.dumps(
        [{"outcome": o.outcome, "at": dump_time(o.at), "value": o.value} for o in outcomes]
    )


def _load_outcomes(text: str) -> tuple[Outcome, ...]:
    return tuple(
        Outcome(item["outcome"], load_time(item["at"]), item.get("value")) for item in json.loads(text)
    )





def _now() -> str:
    return datetime.now(timezone.utc).isoformat()
