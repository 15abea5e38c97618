"""Experiment members and arm counts in the service's SQLite file: a unit joins
once (``INSERT OR IGNORE``), converts once (``UPDATE ... WHERE converted = 0``),
each batch one ``BEGIN IMMEDIATE`` transaction."""
from __future__ import annotations

import sqlite3
from datetime import datetime

from engine.learning.tracking import ArmCounts, ExperimentBatch
from store.sqlite import SQLiteConnections

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
)
_COUNT = """INSERT INTO experiment_arms (experiment, arm, {name}) VALUES (?, ?, ?)
    ON CONFLICT (experiment, arm) DO UPDATE SET {name} = {name} + excluded.{name}"""
COUNTED = ("units", "conversions", "revenue", "unsubscribed", "complained")


class SQLiteExperimentStore:
    def __init__(self, path: str) -> None:
        self.path = path
        self._db = SQLiteConnections(path, _create_schema)

    def apply(self, batch: ExperimentBatch, at: datetime) -> None:
        with self._db.transaction("IMMEDIATE") as conn:
            for experiment, unit, arm in batch.exposures:
                _join(conn, experiment, unit, arm, at)
            for experiment, unit, arm, value in batch.conversions:
                if arm is not None:
                    _join(conn, experiment, unit, arm, at)
                row = conn.execute(
                    "UPDATE experiment_members SET converted = 1 WHERE experiment = ? AND "
                    "unit = ? AND converted = 0 RETURNING arm", (experiment, unit)).fetchone()
                if row is not None:
                    _count(conn, experiment, row[0], "conversions", 1)
                    _count(conn, experiment, row[0], "revenue", value)
            for experiment, unit, outcome in batch.churn:
                found = _arm(conn, experiment, unit)
                if found is not None:
                    _count(conn, experiment, found, outcome, 1)

    def arms(self, experiment_id: str) -> dict[str, ArmCounts]:
        with self._db.transaction("DEFERRED") as conn:
            rows = conn.execute(f"SELECT arm, {', '.join(COUNTED)} FROM experiment_arms "
                                "WHERE experiment = ?", (experiment_id,)).fetchall()
        return {arm: ArmCounts(units, conversions, revenue, unsubscribed, complained)
                for arm, units, conversions, revenue, unsubscribed, complained in rows}

    def arm_of(self, experiment_id: str, unit: str) -> str | None:
        with self._db.transaction("DEFERRED") as conn:
            return _arm(conn, experiment_id, unit)

    def close(self) -> None:
        self._db.close()


def _join(conn: sqlite3.Connection, experiment: str, unit: str, arm: str, at: datetime) -> None:
    joined = conn.execute("INSERT OR IGNORE INTO experiment_members (experiment, unit, arm, "
                          "joined_at) VALUES (?, ?, ?, ?)",
                          (experiment, unit, arm, at.isoformat())).rowcount
    if joined:
        _count(conn, experiment, arm, "units", 1)


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
