"""Experiment members, arm counts and daily arm counters in the service's SQLite
file: a unit joins once (``INSERT OR IGNORE``), converts once (``UPDATE ... WHERE
converted = 0``), and every goal event of a member adds to its arm's day
(``experiment_days``) and to its running goal value (``experiment_unit_goals``).
Each batch is one ``BEGIN IMMEDIATE`` transaction, applied once per batch id
(``experiment_batches``, kept an hour: see ``BATCHES_KEPT_S``)."""
from __future__ import annotations

import sqlite3
from datetime import date, datetime

from engine.learning.tracking import ArmCounts, ArmDay, ExperimentBatch
from store.sqlite.connections import SQLiteConnections

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS experiment_members (
        experiment TEXT NOT NULL,
        unit TEXT NOT NULL,
        arm TEXT NOT NULL,
        joined_at TEXT NOT NULL,
        converted INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (experiment, unit))""",
    """CREATE TABLE IF NOT EXISTS experiment_arms (
        experiment TEXT NOT NULL,
        arm TEXT NOT NULL,
        units INTEGER NOT NULL DEFAULT 0,
        conversions INTEGER NOT NULL DEFAULT 0,
        revenue REAL NOT NULL DEFAULT 0,
        unsubscribed INTEGER NOT NULL DEFAULT 0,
        complained INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (experiment, arm))""",
    """CREATE TABLE IF NOT EXISTS experiment_days (
        experiment TEXT NOT NULL,
        arm TEXT NOT NULL,
        day TEXT NOT NULL,
        joined INTEGER NOT NULL DEFAULT 0,
        goal_events INTEGER NOT NULL DEFAULT 0,
        goal_revenue REAL NOT NULL DEFAULT 0,
        goal_square REAL NOT NULL DEFAULT 0,
        PRIMARY KEY (experiment, arm, day))""",
    """CREATE TABLE IF NOT EXISTS experiment_unit_goals (
        experiment TEXT NOT NULL,
        unit TEXT NOT NULL,
        revenue REAL NOT NULL,
        PRIMARY KEY (experiment, unit))""",
    """CREATE TABLE IF NOT EXISTS experiment_batches (
        batch_id TEXT PRIMARY KEY, applied_at REAL NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS experiment_batches_at ON experiment_batches (applied_at)",
)
_COUNT = """INSERT INTO experiment_arms (experiment, arm, {name}) VALUES (?, ?, ?)
    ON CONFLICT (experiment, arm) DO UPDATE SET {name} = {name} + excluded.{name}"""
COUNTED = ("units", "conversions", "revenue", "unsubscribed", "complained")
_DAY = """INSERT INTO experiment_days (experiment, arm, day, joined, goal_events, goal_revenue,
    goal_square) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (experiment, arm, day) DO UPDATE SET
    joined = joined + excluded.joined, goal_events = goal_events + excluded.goal_events,
    goal_revenue = goal_revenue + excluded.goal_revenue,
    goal_square = goal_square + excluded.goal_square"""
_GOAL = """INSERT INTO experiment_unit_goals (experiment, unit, revenue) VALUES (?, ?, ?)
    ON CONFLICT (experiment, unit) DO UPDATE SET revenue = revenue + excluded.revenue"""
# A batch id is remembered for an hour: a batch whose reply was lost is sent again
# at the tracker's next flush (seconds later), and a busy process sends one batch a
# second per experiment (a week of markers would be 600,000 keys per process). Only
# a lost reply followed by an hour without the store could count a batch twice.
BATCHES_KEPT_S = 3600


class SQLiteExperimentStore:
    def __init__(self, path: str) -> None:
        self.path = path
        self._db = SQLiteConnections(path, _create_schema)

    def apply(self, batch: ExperimentBatch, at: datetime) -> bool:
        day = (batch.day or at.date()).isoformat()
        now = at.timestamp()
        with self._db.transaction("IMMEDIATE") as conn:
            if conn.execute("INSERT OR IGNORE INTO experiment_batches VALUES (?, ?)",
                            (batch.batch_id, now)).rowcount == 0:
                return False
            for experiment, unit, arm in batch.exposures:
                _join(conn, experiment, unit, arm, at, day)
            for experiment, unit, arm, value in batch.conversions:
                if arm is not None:
                    _join(conn, experiment, unit, arm, at, day)
                _convert(conn, experiment, unit, value, day)
            for experiment, unit, outcome in batch.churn:
                found = _arm(conn, experiment, unit)
                if found is not None:
                    _count(conn, experiment, found, outcome, 1)
            conn.execute("DELETE FROM experiment_batches WHERE applied_at < ?",
                         (now - BATCHES_KEPT_S,))
        return True

    def arms(self, experiment_id: str) -> dict[str, ArmCounts]:
        with self._db.transaction("DEFERRED") as conn:
            rows = conn.execute(f"SELECT arm, {', '.join(COUNTED)} FROM experiment_arms "
                                "WHERE experiment = ?", (experiment_id,)).fetchall()
        return {arm: ArmCounts(units, conversions, revenue, unsubscribed, complained)
                for arm, units, conversions, revenue, unsubscribed, complained in rows}

    def arm_days(self, experiment_id: str) -> dict[tuple[str, date], ArmDay]:
        with self._db.transaction("DEFERRED") as conn:
            rows = conn.execute("SELECT arm, day, joined, goal_events, goal_revenue, goal_square "
                                "FROM experiment_days WHERE experiment = ?",
                                (experiment_id,)).fetchall()
        return {(arm, date.fromisoformat(day)): ArmDay(joined, events, revenue, square)
                for arm, day, joined, events, revenue, square in rows}

    def arm_of(self, experiment_id: str, unit: str) -> str | None:
        with self._db.transaction("DEFERRED") as conn:
            return _arm(conn, experiment_id, unit)

    def close(self) -> None:
        self._db.close()


def _join(conn: sqlite3.Connection, experiment: str, unit: str, arm: str, at: datetime,
          day: str) -> None:
    joined = conn.execute("INSERT OR IGNORE INTO experiment_members (experiment, unit, arm, "
                          "joined_at) VALUES (?, ?, ?, ?)",
                          (experiment, unit, arm, at.isoformat())).rowcount
    if joined:
        _count(conn, experiment, arm, "units", 1)
        conn.execute(_DAY, (experiment, arm, day, 1, 0, 0.0, 0.0))


def _convert(conn: sqlite3.Connection, experiment: str, unit: str, value: float,
             day: str) -> None:
    """A member's goal event: its day's counters, and its first conversion."""
    arm = _arm(conn, experiment, unit)
    if arm is None:
        return  # not a member: counts nowhere
    row = conn.execute("SELECT revenue FROM experiment_unit_goals WHERE experiment = ? AND "
                       "unit = ?", (experiment, unit)).fetchone()
    before = row[0] if row else 0.0
    conn.execute(_GOAL, (experiment, unit, value))
    conn.execute(_DAY, (experiment, arm, day, 0, 1, value, value * (2 * before + value)))
    if conn.execute("UPDATE experiment_members SET converted = 1 WHERE experiment = ? AND "
                    "unit = ? AND converted = 0", (experiment, unit)).rowcount:
        _count(conn, experiment, arm, "conversions", 1)
        _count(conn, experiment, arm, "revenue", value)


def _arm(conn: sqlite3.Connection, experiment: str, unit: str) -> str | None:
    row = conn.execute("SELECT arm FROM experiment_members WHERE experiment = ? AND unit = ?",
                       (experiment, unit)).fetchone()
    return row[0] if row else None


def _count(conn: sqlite3.Connection, experiment: str, arm: str, name: str, amount: float) -> None:
    if name not in COUNTED:
        raise ValueError(name)
    conn.execute(_COUNT.format(name=name), (experiment, arm, amount))


def _create_schema(conn: sqlite3.Connection) -> None:
    for statement in SCHEMA:
        conn.execute(statement)
