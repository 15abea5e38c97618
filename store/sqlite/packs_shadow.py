"""Shadow runs and their counters in the service's SQLite file (``ShadowStore``):
each comparison is one ``BEGIN IMMEDIATE`` transaction that adds its counters
(upserts) and, while the run has fewer than ``MAX_EXAMPLES``, its example, so
every gunicorn worker adds to the same report."""
from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from datetime import datetime
from typing import Any

from engine.authoring.shadow import MAX_EXAMPLES, ShadowRun
from store.sqlite.connections import SQLiteConnections

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS shadow_runs (
        candidate TEXT PRIMARY KEY,
        run TEXT NOT NULL,
        current INTEGER NOT NULL DEFAULT 0)""",
    """CREATE TABLE IF NOT EXISTS shadow_counts (
        run_id TEXT NOT NULL,
        name TEXT NOT NULL,
        n INTEGER NOT NULL,
        PRIMARY KEY (run_id, name))""",
    """CREATE TABLE IF NOT EXISTS shadow_examples (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT NOT NULL,
        example TEXT NOT NULL)""",
)


class SQLiteShadowStore:
    """Shadow runs in one SQLite file (shared with the contacts)."""

    def __init__(self, path: str) -> None:
        self._db = SQLiteConnections(path, _create_schema)

    def start(self, run: ShadowRun) -> None:
        """The candidate's previous run (and its counters) is replaced."""
        with self._db.transaction("IMMEDIATE") as conn:
            previous = conn.execute("SELECT run FROM shadow_runs WHERE candidate = ?",
                                    (run.candidate,)).fetchone()
            if previous is not None:
                old = ShadowRun.from_json(previous[0]).run_id
                conn.execute("DELETE FROM shadow_counts WHERE run_id = ?", (old,))
                conn.execute("DELETE FROM shadow_examples WHERE run_id = ?", (old,))
            conn.execute("UPDATE shadow_runs SET current = 0")
            conn.execute("INSERT INTO shadow_runs (candidate, run, current) VALUES (?, ?, 1) "
                         "ON CONFLICT (candidate) DO UPDATE SET run = excluded.run, current = 1",
                         (run.candidate, run.to_json()))

    def current(self) -> ShadowRun | None:
        with self._db.transaction("DEFERRED") as conn:
            row = conn.execute("SELECT run FROM shadow_runs WHERE current = 1").fetchone()
        return ShadowRun.from_json(row[0]) if row else None

    def last_run(self, candidate: str) -> ShadowRun | None:
        with self._db.transaction("DEFERRED") as conn:
            row = conn.execute("SELECT run FROM shadow_runs WHERE candidate = ?",
                               (candidate,)).fetchone()
        return ShadowRun.from_json(row[0]) if row else None

    def stop(self, candidate: str, at: datetime) -> bool:
        with self._db.transaction("IMMEDIATE") as conn:
            row = conn.execute("SELECT run FROM shadow_runs WHERE candidate = ? AND current = 1",
                               (candidate,)).fetchone()
            if row is None:
                return False
            run = ShadowRun.from_json(row[0])
            ended = replace(run, ends_at=max(run.started_at, min(run.ends_at, at)))
            conn.execute("UPDATE shadow_runs SET run = ?, current = 0 WHERE candidate = ?",
                         (ended.to_json(), candidate))
        return True

    def count(self, run_id: str, increments: dict[str, int],
              example: dict[str, Any] | None) -> None:
        with self._db.transaction("IMMEDIATE") as conn:
            conn.executemany(
                "INSERT INTO shadow_counts (run_id, name, n) VALUES (?, ?, ?) "
                "ON CONFLICT (run_id, name) DO UPDATE SET n = n + excluded.n",
                [(run_id, name, n) for name, n in increments.items()])
            if example is not None:
                conn.execute(
                    "INSERT INTO shadow_examples (run_id, example) SELECT ?, ? WHERE "
                    "(SELECT COUNT(*) FROM shadow_examples WHERE run_id = ?) < ?",
                    (run_id, json.dumps(example), run_id, MAX_EXAMPLES))

    def counters(self, run_id: str) -> tuple[dict[str, int], list[dict[str, Any]]]:
        with self._db.transaction("DEFERRED") as conn:
            counts = conn.execute("SELECT name, n FROM shadow_counts WHERE run_id = ?",
                                  (run_id,)).fetchall()
            examples = conn.execute("SELECT example FROM shadow_examples WHERE run_id = ? "
                                    "ORDER BY seq", (run_id,)).fetchall()
        return dict(counts), [json.loads(row[0]) for row in examples]

    def close(self) -> None:
        self._db.close()


def _create_schema(conn: sqlite3.Connection) -> None:
    for statement in SCHEMA:
        conn.execute(statement)
