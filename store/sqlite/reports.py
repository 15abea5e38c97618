"""Report counters in the service's SQLite file: one row per pack, local day,
program, action, channel and measure, grown by ``INSERT ... ON CONFLICT DO
UPDATE SET amount = amount + excluded.amount``, and one row per contact reached
there (distinct contacts are exact). A batch is one ``BEGIN IMMEDIATE``
transaction, applied once per batch id (``report_batches``, kept a week)."""
from __future__ import annotations

import sqlite3
import time
from datetime import date
from typing import Mapping

from engine.reports.model import DayKey, ReportData, Tally
from store.sqlite.connections import SQLiteConnections

BATCHES_KEPT_S = 7 * 86400
SCHEMA = (
    """CREATE TABLE IF NOT EXISTS report_counts (
        pack TEXT NOT NULL, day TEXT NOT NULL, program TEXT NOT NULL,
        action_id TEXT NOT NULL, channel TEXT NOT NULL, measure TEXT NOT NULL,
        amount REAL NOT NULL DEFAULT 0,
        PRIMARY KEY (pack, day, program, action_id, channel, measure)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS report_contacts (
        pack TEXT NOT NULL, day TEXT NOT NULL, program TEXT NOT NULL,
        action_id TEXT NOT NULL, channel TEXT NOT NULL, contact_id TEXT NOT NULL,
        PRIMARY KEY (pack, day, program, action_id, channel, contact_id)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS report_batches (
        batch_id TEXT PRIMARY KEY, applied_at REAL NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS report_batches_at ON report_batches (applied_at)",
)
_ADD = """INSERT INTO report_counts (pack, day, program, action_id, channel, measure, amount)
    VALUES (?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (pack, day, program, action_id, channel, measure) DO UPDATE SET
        amount = amount + excluded.amount"""
_REACHED = """INSERT OR IGNORE INTO report_contacts (pack, day, program, action_id, channel,
    contact_id) VALUES (?, ?, ?, ?, ?, ?)"""
_RANGE = "pack = ? AND day >= ? AND day < ?"


class SQLiteReportStore:
    def __init__(self, path: str, wall_clock=time.time) -> None:
        self.path = path
        self.wall_clock = wall_clock
        self._db = SQLiteConnections(path, _create_schema)

    def add(self, pack: str, batch_id: str, increments: Mapping[DayKey, Tally],
            contacts: Mapping[DayKey, frozenset[str]]) -> bool:
        counts = [(pack, day.isoformat(), program, action, channel, measure, amount)
                  for (day, program, action, channel), tally in increments.items()
                  for measure, amount in tally.measures().items()]
        reached = [(pack, day.isoformat(), program, action, channel, contact)
                   for (day, program, action, channel), ids in contacts.items()
                   for contact in ids]
        now = self.wall_clock()
        with self._db.transaction("IMMEDIATE") as conn:
            if conn.execute("INSERT OR IGNORE INTO report_batches VALUES (?, ?)",
                            (batch_id, now)).rowcount == 0:
                return False
            conn.executemany(_ADD, counts)
            conn.executemany(_REACHED, reached)
            conn.execute("DELETE FROM report_batches WHERE applied_at < ?",
                         (now - BATCHES_KEPT_S,))
        return True

    def read(self, pack: str, start: date, end: date) -> ReportData:
        bounds = (pack, start.isoformat(), end.isoformat())
        with self._db.transaction("DEFERRED") as conn:
            rows = conn.execute("SELECT day, program, action_id, channel, measure, amount "
                                f"FROM report_counts WHERE {_RANGE}", bounds).fetchall()
            per_row = conn.execute(
                "SELECT program, action_id, channel, COUNT(DISTINCT contact_id) FROM "
                f"report_contacts WHERE {_RANGE} GROUP BY program, action_id, channel",
                bounds).fetchall()
            per_program = conn.execute(
                "SELECT program, COUNT(DISTINCT contact_id) FROM report_contacts "
                f"WHERE {_RANGE} GROUP BY program", bounds).fetchall()
        measures: dict[DayKey, dict[str, float]] = {}
        for day, program, action, channel, measure, amount in rows:
            key = (date.fromisoformat(day), program, action, channel)
            measures.setdefault(key, {})[measure] = amount
        return ReportData({k: Tally.from_measures(m) for k, m in measures.items()},
                          {(p, a, c): n for p, a, c, n in per_row},
                          dict(per_program), "exact")

    def close(self) -> None:
        self._db.close()


def _create_schema(conn: sqlite3.Connection) -> None:
    for statement in SCHEMA:
        conn.execute(statement)
