"""A PackRegistry in the service's SQLite file: versions, the stack of
activations and the audit log, each change one ``BEGIN IMMEDIATE`` transaction
(so two processes starting at once cannot both activate)."""
from __future__ import annotations

import sqlite3
from dataclasses import replace

from engine.authoring.model import AuditEntry, PackMeta
from store.sqlite.connections import SQLiteConnections

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS pack_versions (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        hash TEXT NOT NULL UNIQUE,
        meta TEXT NOT NULL,
        source TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS pack_activations (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        hash TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS audit_log (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        entry TEXT NOT NULL)""",
)


class SQLitePackRegistry:
    """Pack versions and audit log in one SQLite file (shared with the contacts)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._db = SQLiteConnections(path, _create_schema)

    def add(self, meta: PackMeta, source: str, audit: AuditEntry) -> bool:
        with self._db.transaction("IMMEDIATE") as conn:
            created = conn.execute(
                "INSERT OR IGNORE INTO pack_versions (hash, meta, source) VALUES (?, ?, ?)",
                (meta.hash, meta.to_json(), source)).rowcount == 1
            if created:
                _append(conn, audit)
        return created

    def get(self, pack_hash: str) -> PackMeta | None:
        with self._db.transaction("DEFERRED") as conn:
            row = conn.execute("SELECT meta FROM pack_versions WHERE hash = ?",
                               (pack_hash,)).fetchone()
        return PackMeta.from_json(row[0]) if row else None

    def source(self, pack_hash: str) -> str | None:
        with self._db.transaction("DEFERRED") as conn:
            row = conn.execute("SELECT source FROM pack_versions WHERE hash = ?",
                               (pack_hash,)).fetchone()
        return row[0] if row else None

    def versions(self) -> list[PackMeta]:
        with self._db.transaction("DEFERRED") as conn:
            rows = conn.execute("SELECT meta FROM pack_versions ORDER BY seq").fetchall()
        return [PackMeta.from_json(row[0]) for row in rows]

    def active(self) -> str | None:
        with self._db.transaction("DEFERRED") as conn:
            return _top(conn)

    def activate(self, pack_hash: str, audit: AuditEntry, *, only_if_none: bool = False) -> bool:
        with self._db.transaction("IMMEDIATE") as conn:
            previous = _top(conn)
            if previous == pack_hash or (only_if_none and previous is not None):
                return False
            conn.execute("INSERT INTO pack_activations (hash) VALUES (?)", (pack_hash,))
            _append(conn, replace(audit, what={**audit.what, "previous": previous}))
        return True

    def rollback(self, audit: AuditEntry, undo: str) -> str | None:
        with self._db.transaction("IMMEDIATE") as conn:
            rows = conn.execute("SELECT seq, hash FROM pack_activations "
                                "ORDER BY seq DESC LIMIT 2").fetchall()
            if len(rows) < 2 or rows[0][1] != undo:
                return None
            (undone_seq, undone), (_, restored) = rows
            conn.execute("DELETE FROM pack_activations WHERE seq = ?", (undone_seq,))
            _append(conn, replace(audit, what={**audit.what, "from": undone, "to": restored}))
        return restored

    def record(self, audit: AuditEntry) -> None:
        with self._db.transaction("IMMEDIATE") as conn:
            _append(conn, audit)

    def audit(self, limit: int = 100, before: int | None = None) -> list[AuditEntry]:
        with self._db.transaction("DEFERRED") as conn:
            rows = conn.execute(
                "SELECT seq, entry FROM audit_log WHERE seq < ? ORDER BY seq DESC LIMIT ?",
                (before if before is not None else 2**62, limit)).fetchall()
        return [AuditEntry.from_json(entry, seq) for seq, entry in rows]

    def ping(self) -> bool:
        return self._db.ping()

    def close(self) -> None:
        self._db.close()


def _top(conn: sqlite3.Connection) -> str | None:
    row = conn.execute("SELECT hash FROM pack_activations ORDER BY seq DESC LIMIT 1").fetchone()
    return row[0] if row else None


def _append(conn: sqlite3.Connection, audit: AuditEntry) -> None:
    conn.execute("INSERT INTO audit_log (entry) VALUES (?)", (audit.to_json(),))


def _create_schema(conn: sqlite3.Connection) -> None:
    for statement in SCHEMA:
        conn.execute(statement)

