"""Learning counts in the service's SQLite file: one row per pack, action and
segment, grown by ``UPDATE ... SET x = x + ?`` in one ``BEGIN IMMEDIATE``
transaction per batch (no increment lost to a concurrent process)."""
from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from typing import Mapping

from engine.learning.posterior import WARM_EXPOSURES, WARM_SUCCESSES, Counts
from store.sqlite.connections import SQLiteConnections

Key = tuple[str, str]
SCHEMA = (
    """CREATE TABLE IF NOT EXISTS learning_counts (
        pack TEXT NOT NULL,
        action_id TEXT NOT NULL,
        segment TEXT NOT NULL,
        scaled_exposures REAL NOT NULL DEFAULT 0,
        scaled_successes REAL NOT NULL DEFAULT 0,
        exposures INTEGER NOT NULL DEFAULT 0,
        successes INTEGER NOT NULL DEFAULT 0,
        warm_at TEXT,
        PRIMARY KEY (pack, action_id, segment))""",
)
_ADD = """INSERT INTO learning_counts (pack, action_id, segment, scaled_exposures,
        scaled_successes, exposures, successes) VALUES (?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (pack, action_id, segment) DO UPDATE SET
        scaled_exposures = scaled_exposures + excluded.scaled_exposures,
        scaled_successes = scaled_successes + excluded.scaled_successes,
        exposures = exposures + excluded.exposures,
        successes = successes + excluded.successes"""
_WARM = f"""UPDATE learning_counts SET warm_at = ? WHERE pack = ? AND warm_at IS NULL
    AND exposures >= {WARM_EXPOSURES} AND successes >= {WARM_SUCCESSES}"""


class SQLiteLearningStore:
    def __init__(self, path: str) -> None:
        self.path = path
        self._db = SQLiteConnections(path, _create_schema)

    def add(self, pack: str, increments: Mapping[Key, Counts], at: datetime) -> None:
        rows = [(pack, action, segment, c.scaled_exposures, c.scaled_successes, c.exposures,
                 c.successes) for (action, segment), c in increments.items()]
        with self._db.transaction("IMMEDIATE") as conn:
            conn.executemany(_ADD, rows)
            conn.execute(_WARM, (at.astimezone(timezone.utc).isoformat(), pack))

    def read(self, pack: str) -> dict[Key, Counts]:
        with self._db.transaction("DEFERRED") as conn:
            rows = conn.execute(
                "SELECT action_id, segment, scaled_exposures, scaled_successes, exposures, "
                "successes, warm_at FROM learning_counts WHERE pack = ?", (pack,)).fetchall()
        return {(action, segment): Counts(n, s, raw_n, raw_s,
                                          datetime.fromisoformat(warm) if warm else None)
                for action, segment, n, s, raw_n, raw_s, warm in rows}

    def close(self) -> None:
        self._db.close()


def _create_schema(conn: sqlite3.Connection) -> None:
    for statement in SCHEMA:
        conn.execute(statement)
