"""Connections to one SQLite file shared by several processes of one machine:
one per (process, thread), opened lazily, in WAL mode with a busy timeout,
each store's schema created by the first connection a process opens. A process
created by ``fork`` opens its own instead of using its parent's.
"""
from __future__ import annotations

import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from engine.errors import StoreUnavailable

BUSY_TIMEOUT_MS = 10_000


class SQLiteConnections:
    """Connections to one SQLite file: one per (process, thread), opened lazily.

    Every connection is in WAL mode with a busy timeout; the first one a process
    opens runs ``create_schema`` in a ``BEGIN IMMEDIATE`` transaction. Several
    stores (contacts, journeys) share one file, each with its own schema.
    """

    def __init__(self, path: str, create_schema: Callable[[sqlite3.Connection], None]) -> None:
        self.path = path
        self._create_schema = create_schema
        self._local = threading.local()
        self._opened: list[_Opened] = []
        self._opened_lock = threading.Lock()
        self._schema_pid: int | None = None

    def ping(self) -> bool:
        """True when the file can be opened and read."""
        try:
            self._connection().execute("SELECT 1").fetchone()
        except (sqlite3.Error, OSError):
            return False
        return True

    def close(self) -> None:
        """Close the connections this process opened (other processes keep theirs)."""
        pid = os.getpid()
        with self._opened_lock:
            mine = [o for o in self._opened if o.pid == pid]
            self._opened = [o for o in self._opened if o.pid != pid]
        for opened in mine:
            opened.conn.close()
        self._local = threading.local()

    @contextmanager
    def transaction(self, mode: str) -> Iterator[sqlite3.Connection]:
        """One transaction: committed on success, rolled back on any exception.

        The body may end the transaction itself (``ROLLBACK``) to discard it.
        ``sqlite3.OperationalError`` (locked, unreadable file) is StoreUnavailable.
        """
        try:
            conn = self._connection()
            conn.execute(f"BEGIN {mode}")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            if conn.in_transaction:
                conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(f"SQLite store {self.path!r}: {exc}") from exc

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use in this process."""
        pid = os.getpid()
        if getattr(self._local, "pid", None) != pid:
            # A connection inherited through fork stays referenced in self._opened
            # (never used, never closed here): closing it in the child could
            # checkpoint or unlink the parent's WAL.
            self._local.conn = self._open(pid)
            self._local.pid = pid
        return self._local.conn

    def _open(self, pid: int) -> sqlite3.Connection:
        if self._schema_pid != pid:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: transactions are begun explicitly, never implicitly.
        # check_same_thread=False only so that close() may run on any thread.
        conn = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
        )
        try:
            _configure(conn)
            if self._schema_pid != pid:
                _in_immediate_transaction(conn, self._create_schema)
        except BaseException:
            conn.close()
            raise
        self._schema_pid = pid
        self._remember(_Opened(pid, threading.current_thread(), conn))
        return conn

    def _remember(self, opened: _Opened) -> None:
        """Track a new connection; close this process's ones whose thread has ended."""
        with self._opened_lock:
            ended = [o for o in self._opened if o.pid == opened.pid and not o.thread.is_alive()]
            self._opened = [o for o in self._opened if o not in ended] + [opened]
        for old in ended:
            old.conn.close()


@dataclass(frozen=True, eq=False)
class _Opened:
    """A connection with the process and thread that opened (and alone use) it."""

    pid: int
    thread: threading.Thread
    conn: sqlite3.Connection


def _configure(conn: sqlite3.Connection) -> None:
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    _use_wal(conn)
    conn.execute("PRAGMA synchronous = NORMAL")


def _use_wal(conn: sqlite3.Connection) -> None:
    """Switch the file to WAL, retrying while another process switches it.

    SQLite answers "database is locked" at once, without waiting for the busy
    timeout, when two connections change the journal mode of a new file
    together; once the file is in WAL mode the pragma no longer needs the lock.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    pause = 0.005
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL").fetchone()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.1)


def _in_immediate_transaction(
    conn: sqlite3.Connection, body: Callable[[sqlite3.Connection], None]
) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        body(conn)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
