"""A JourneyStore in the SQLite file of the contact store (``store.sqlite.contacts``).

Every write is one ``BEGIN IMMEDIATE`` transaction, so a commit's checks (the
event's id, every run's seq) and its writes happen under the write lock, and
two processes claiming the due queue at once never lease the same timer.
Instants are stored twice: epoch seconds (REAL) to compare and order, and ISO
text or the value's own JSON to read back exactly.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Iterable

from engine.journeys.model import (
    CommitResult,
    ContactEvent,
    DueTimer,
    JourneyState,
    OutboxMessage,
    Run,
    RunChange,
    RunUpdate,
)
from engine.journeys.ports import MAX_EVENTS_PER_CONTACT
from store.sqlite.connections import SQLiteConnections
from store.sqlite.times import dump_time, epoch_seconds, load_time

# Leasable message states: this exact text is both the outbox index's WHERE and
# the lease query's condition, so that SQLite knows the partial index applies.
DELIVERABLE = "state IN ('ready', 'leased')"
SCHEMA = (
    """CREATE TABLE IF NOT EXISTS events (
        contact_id TEXT NOT NULL,
        event_id TEXT NOT NULL,
        type TEXT NOT NULL,
        at_ts REAL NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (contact_id, event_id))""",
    "CREATE INDEX IF NOT EXISTS events_by_time ON events (contact_id, at_ts)",
    """CREATE TABLE IF NOT EXISTS runs (
        contact_id TEXT NOT NULL,
        run_id TEXT NOT NULL,
        journey_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        state TEXT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (contact_id, run_id))""",
    """CREATE TABLE IF NOT EXISTS watches (
        contact_id TEXT NOT NULL,
        journey_id TEXT NOT NULL,
        due TEXT NOT NULL,
        PRIMARY KEY (contact_id, journey_id))""",
    """CREATE TABLE IF NOT EXISTS timers (
        contact_id TEXT NOT NULL,
        key TEXT NOT NULL,
        due_ts REAL NOT NULL,
        due TEXT NOT NULL,
        lease_until_ts REAL,
        PRIMARY KEY (contact_id, key))""",
    # Claims walk this index from the earliest due time and stop at ``now``.
    "CREATE INDEX IF NOT EXISTS timers_by_due ON timers (due_ts, contact_id, key)",
    """CREATE TABLE IF NOT EXISTS outbox (
        channel TEXT NOT NULL,
        message_id TEXT NOT NULL,
        contact_id TEXT NOT NULL,
        state TEXT NOT NULL,
        due_ts REAL NOT NULL,
        ready_ts REAL NOT NULL,
        created_ts REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        body TEXT NOT NULL,
        PRIMARY KEY (channel, message_id))""",
    # Only deliverable messages are indexed for leasing: acked ones never slow it.
    f"""CREATE INDEX IF NOT EXISTS outbox_ready ON outbox (channel, ready_ts, created_ts, message_id)
        WHERE {DELIVERABLE}""",
    """CREATE INDEX IF NOT EXISTS outbox_by_state
        ON outbox (channel, state, created_ts)""",
    "CREATE INDEX IF NOT EXISTS outbox_by_contact ON outbox (contact_id)",
    """CREATE TABLE IF NOT EXISTS counts (
        journey_id TEXT NOT NULL,
        counter TEXT NOT NULL,
        n INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (journey_id, counter))""",
)
MESSAGE_COLUMNS = "body, state, attempts, last_error"
# Parameters: now, now, limit.
CLAIM_DUE = ("SELECT contact_id, key, due FROM timers WHERE due_ts <= ? "
             "AND (lease_until_ts IS NULL OR lease_until_ts <= ?) "
             "ORDER BY due_ts, contact_id, key LIMIT ?")
# Parameters: channel, now, limit. A queued message is ready at once (ready_ts 0:
# the worker queued it when its step was due); a leased or retried one when its
# lease or backoff ends.
LEASE_READY = (f"SELECT message_id, {MESSAGE_COLUMNS} FROM outbox "
               f"WHERE channel = ? AND {DELIVERABLE} AND ready_ts <= ? "
               "ORDER BY ready_ts, created_ts, message_id LIMIT ?")
READY_AT_ONCE = 0.0
ERASED_TABLES = ("events", "runs", "watches", "timers",
                 "outbox")


class SQLiteJourneyStore:
    """Events, runs, the due queue and outboxes of journeys in one SQLite file."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._db = SQLiteConnections(path, _create_schema)

    # -- events ----------------------------------------------------------------

    def events(self, contact_id: str) -> tuple[ContactEvent, ...]:
        """The contact's kept events, oldest first."""
        with self._db.transaction("DEFERRED") as conn:
            rows = conn.execute("SELECT body FROM events WHERE contact_id = ? "
                                "ORDER BY at_ts, rowid", (contact_id,)).fetchall()
        return tuple(ContactEvent.restore(body) for (body,) in rows)

    def has_event(self, contact_id: str, event_id: str) -> bool:
        """Whether the contact has a recorded event with this id."""
        with self._db.transaction("DEFERRED") as conn:
            return _has_event(conn, contact_id, event_id)

    # -- runs ------------------------------------------------------------------

    def journey_states(self, contact_ids: list[str]) -> dict[str, JourneyState]:
        """``journey_state`` of each contact (one file: no round trip to save)."""
        return {contact_id: self.journey_state(contact_id) for contact_id in contact_ids}

    def journey_state(self, contact_id: str) -> JourneyState:
        """The contact's runs (by entry time) and trigger watches, in one snapshot."""
        with self._db.transaction("DEFERRED") as conn:
            bodies = conn.execute("SELECT body FROM runs WHERE contact_id = ?",
                                  (contact_id,)).fetchall()
            watches = conn.execute("SELECT journey_id, due FROM watches "
                                   "WHERE contact_id = ?", (contact_id,)).fetchall()
        runs = sorted((Run.restore(body) for (body,) in bodies),
                      key=lambda r: (r.entered_at, r.run_id))
        return JourneyState(contact_id, tuple(runs),
                            {journey_id: load_time(due) for journey_id, due in watches})

    def commit(self, change: RunChange) -> CommitResult:
        """Check the event and every run's seq, then apply all of ``change``, at once."""
        with self._db.transaction("IMMEDIATE") as conn:
            result = _check(conn, change)
            if not result.ok:
                conn.execute("ROLLBACK")
                return result
            _apply(conn, change)
            return result

    def requeue(self, contact_id: str, run_id: str) -> None:
        """Nothing to do: a commit queues its messages in the same transaction."""
        return None

    # -- the due queue -----------------------------------------------------------

    def claim_due(self, now: datetime, limit: int, lease_s: float) -> list[DueTimer]:
        """Lease up to ``limit`` due, unleased timers until ``now + lease_s``, earliest first."""
        now_ts, until_ts = epoch_seconds(now), epoch_seconds(now + timedelta(seconds=lease_s))
        with self._db.transaction("IMMEDIATE") as conn:
            rows = conn.execute(CLAIM_DUE, (now_ts, now_ts, limit)).fetchall()
            conn.executemany("UPDATE timers SET lease_until_ts = ? "
                             "WHERE contact_id = ? AND key = ?",
                             [(until_ts, contact_id, key) for contact_id, key, _ in rows])
        return [DueTimer(contact_id, key, load_time(due)) for contact_id, key, due in rows]

    def oldest_due(self) -> datetime | None:
        """The due time of the earliest timer, leased or not."""
        with self._db.transaction("DEFERRED") as conn:
            row = conn.execute("SELECT due FROM timers ORDER BY due_ts LIMIT 1").fetchone()
        return None if row is None else load_time(row[0])

    def pending_timers(self) -> int:
        """How many timers the queue holds."""
        with self._db.transaction("DEFERRED") as conn:
            return conn.execute("SELECT COUNT(*) FROM timers").fetchone()[0]

    # -- outboxes ------------------------------------------------------------------

    def lease_outbox(self, channel: str, now: datetime, limit: int,
                     lease_s: float) -> list[OutboxMessage]:
        """Lease up to ``limit`` ready messages of the channel, oldest first."""
        now_ts, until_ts = epoch_seconds(now), epoch_seconds(now + timedelta(seconds=lease_s))
        with self._db.transaction("IMMEDIATE") as conn:
            rows = conn.execute(LEASE_READY, (channel, now_ts, limit)).fetchall()
            conn.executemany("UPDATE outbox SET state = 'leased', "
                             "attempts = attempts + 1, ready_ts = ? "
                             "WHERE channel = ? AND message_id = ?",
                             [(until_ts, channel, row[0]) for row in rows])
        return [replace(_message(row[1:]), state="leased", attempts=row[3] + 1) for row in rows]

    def ack_outbox(self, channel: str, message_ids: list[str]) -> list[str]:
        """Mark delivered messages acked; the ids that are now acked."""
        with self._db.transaction("IMMEDIATE") as conn:
            return [message_id for message_id in message_ids if conn.execute(
                "UPDATE outbox SET state = 'acked' WHERE channel = ? AND message_id = ? "
                "AND state IN ('ready', 'leased', 'acked')", (channel, message_id)).rowcount]

    def retry_outbox(self, channel: str, message_id: str, at: datetime, error: str) -> None:
        """A delivery attempt failed: the message is ready again at ``at``."""
        with self._db.transaction("IMMEDIATE") as conn:
            conn.execute(f"UPDATE outbox SET state = 'ready', last_error = ?, ready_ts = ? "
                         f"WHERE channel = ? AND message_id = ? AND {DELIVERABLE}",
                         (error, epoch_seconds(at), channel, message_id))

    def fail_outbox(self, channel: str, message_id: str, error: str) -> None:
        """Give up on a message: it leaves the queue and is listed as failed."""
        with self._db.transaction("IMMEDIATE") as conn:
            conn.execute(f"UPDATE outbox SET state = 'failed', last_error = ? "
                         f"WHERE channel = ? AND message_id = ? AND {DELIVERABLE}",
                         (error, channel, message_id))

    def outbox_messages(self, channel: str, state: str, limit: int) -> list[OutboxMessage]:
        """The channel's messages in ``state``, oldest first."""
        with self._db.transaction("DEFERRED") as conn:
            rows = conn.execute(
                f"SELECT {MESSAGE_COLUMNS} FROM outbox WHERE channel = ? AND state = ? "
                "ORDER BY created_ts, message_id LIMIT ?", (channel, state, limit)).fetchall()
        return [_message(row) for row in rows]

    # -- statistics and erasure --------------------------------------------------------

    def journey_counts(self, journey_id: str) -> dict[str, int]:
        """The counters commits incremented for this journey."""
        with self._db.transaction("DEFERRED") as conn:
            rows = conn.execute("SELECT counter, n FROM counts WHERE journey_id = ?",
                                (journey_id,)).fetchall()
        return dict(rows)

    def erase_contact(self, contact_id: str) -> bool:
        """Remove the contact's events, runs, watches, timers and messages."""
        with self._db.transaction("IMMEDIATE") as conn:
            erased = sum(conn.execute(f"DELETE FROM {table} WHERE contact_id = ?",
                                      (contact_id,)).rowcount for table in ERASED_TABLES)
        return erased > 0

    def ping(self) -> bool:
        """True when the file can be opened and read."""
        return self._db.ping()

    def close(self) -> None:
        """Close the connections this process opened."""
        self._db.close()


def _create_schema(conn: sqlite3.Connection) -> None:
    for statement in SCHEMA:
        conn.execute(statement)


# -- commit ----------------------------------------------------------------------


def _check(conn: sqlite3.Connection, change: RunChange) -> CommitResult:
    """Whether ``change`` may be applied: a new event, every run at its expected seq."""
    contact_id = change.contact_id
    if change.event and _has_event(conn, contact_id, change.event.event_id):
        return CommitResult(False, duplicate_event=True)
    conflicts = tuple(u.run.run_id for u in change.runs
                      if _stored_seq(conn, contact_id, u.run.run_id) != u.expected_seq)
    return CommitResult(False, conflicts=conflicts) if conflicts else CommitResult(True)


def _apply(conn: sqlite3.Connection, change: RunChange) -> None:
    """Every write of ``change``, in the order of RunChange's description."""
    if change.event:
        _insert_event(conn, change.event, change.contact_id)
    _write_runs(conn, change.contact_id, change.runs, change.delete_runs)
    _write_timers(conn, change.contact_id, change.timers, change.done)
    _write_watches(conn, change.contact_id, change.watches.items())
    _queue(conn, change.messages)
    conn.executemany(f"UPDATE outbox SET state = 'cancelled' "
                     f"WHERE channel = ? AND message_id = ? AND {DELIVERABLE}", change.cancel)
    conn.executemany("INSERT INTO counts (journey_id, counter, n) VALUES (?, ?, 1) "
                     "ON CONFLICT (journey_id, counter) DO UPDATE SET n = n + 1", change.counts)


def _has_event(conn: sqlite3.Connection, contact_id: str, event_id: str) -> bool:
    return conn.execute("SELECT 1 FROM events WHERE contact_id = ? AND event_id = ?",
                        (contact_id, event_id)).fetchone() is not None


def _stored_seq(conn: sqlite3.Connection, contact_id: str, run_id: str) -> int | None:
    row = conn.execute("SELECT seq FROM runs WHERE contact_id = ? AND run_id = ?",
                       (contact_id, run_id)).fetchone()
    return None if row is None else row[0]


def _insert_event(conn: sqlite3.Connection, event: ContactEvent, contact_id: str) -> None:
    """Record the event, then keep only the contact's most recent ones (ties: newest kept)."""
    conn.execute("INSERT INTO events (contact_id, event_id, type, at_ts, body) "
                 "VALUES (?, ?, ?, ?, ?)",
                 (contact_id, event.event_id, event.type, epoch_seconds(event.at), event.dump()))
    conn.execute("DELETE FROM events WHERE rowid IN (SELECT rowid FROM events "
                 "WHERE contact_id = ? ORDER BY at_ts DESC, rowid DESC LIMIT -1 OFFSET ?)",
                 (contact_id, MAX_EVENTS_PER_CONTACT))


def _write_runs(conn: sqlite3.Connection, contact_id: str, updates: tuple[RunUpdate, ...],
                deleted: tuple[str, ...]) -> None:
    conn.executemany(
        "INSERT INTO runs (contact_id, run_id, journey_id, seq, state, body) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (contact_id, run_id) DO UPDATE SET "
        "journey_id = excluded.journey_id, seq = excluded.seq, state = excluded.state, "
        "body = excluded.body",
        [(contact_id, u.run.run_id, u.run.journey_id, u.run.seq, u.run.state, u.run.dump())
         for u in updates])
    conn.executemany("DELETE FROM runs WHERE contact_id = ? AND run_id = ?",
                     [(contact_id, run_id) for run_id in deleted])


def _write_timers(conn: sqlite3.Connection, contact_id: str, timers: tuple[DueTimer, ...],
                  done: tuple[DueTimer, ...]) -> None:
    """Schedule (replacing any timer of the same key, lease cleared), then remove ``done``."""
    conn.executemany(
        "INSERT INTO timers (contact_id, key, due_ts, due, lease_until_ts) "
        "VALUES (?, ?, ?, ?, NULL) ON CONFLICT (contact_id, key) DO UPDATE SET "
        "due_ts = excluded.due_ts, due = excluded.due, lease_until_ts = NULL",
        [(contact_id, t.key, epoch_seconds(t.due_at), dump_time(t.due_at)) for t in timers])
    conn.executemany("DELETE FROM timers WHERE contact_id = ? AND key = ?",
                     [(t.contact_id, t.key) for t in done])


def _write_watches(conn: sqlite3.Connection, contact_id: str,
                   watches: Iterable[tuple[str, datetime | None]]) -> None:
    for journey_id, due in watches:
        if due is None:
            conn.execute("DELETE FROM watches WHERE contact_id = ? AND journey_id = ?",
                         (contact_id, journey_id))
        else:
            conn.execute("INSERT INTO watches (contact_id, journey_id, due) "
                         "VALUES (?, ?, ?) ON CONFLICT (contact_id, journey_id) "
                         "DO UPDATE SET due = excluded.due",
                         (contact_id, journey_id, dump_time(due)))


def _queue(conn: sqlite3.Connection, messages: tuple[OutboxMessage, ...]) -> None:
    """Queue messages as ready; one already queued (in any state) is left as it is."""
    conn.executemany(
        "INSERT OR IGNORE INTO outbox (channel, message_id, contact_id, state, due_ts, "
        "ready_ts, created_ts, attempts, last_error, body) "
        "VALUES (?, ?, ?, 'ready', ?, ?, ?, 0, ?, ?)",
        [_message_row(m) for m in messages])


def _message_row(message: OutboxMessage) -> tuple[Any, ...]:
    return (message.channel, message.message_id, message.contact_id, epoch_seconds(message.due_at),
            READY_AT_ONCE, epoch_seconds(message.created_at), message.last_error, message.dump())


def _message(row: tuple[Any, ...]) -> OutboxMessage:
    """An OutboxMessage from MESSAGE_COLUMNS: the queued JSON with its current state."""
    body, state, attempts, last_error = row
    return replace(OutboxMessage.restore(body), state=state, attempts=attempts,
                   last_error=last_error)


# -- instants ---------------------------------------------------------------------



