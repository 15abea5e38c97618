"""Storage backends for contact state, chosen by URL.

Each backend lives in its own module and is imported only when its URL is
used, so that a deployment never loads a driver it does not need.
"""

from __future__ import annotations

from engine.ports import ContactStore
from store.errors import UnknownStoreURL

MEMORY_URL = "memory://"
SQLITE_PREFIX = "sqlite:///"
SUPPORTED = (
    "memory:// (in-process, lost on restart), sqlite:///relative/path.db or "
    "sqlite:////absolute/path.db; redis:// is planned but not available yet"
)


def store_from_url(url: str) -> ContactStore:
    """The store ``url`` names; UnknownStoreURL for anything else.

    SQLite URLs follow SQLAlchemy: ``sqlite:///var/nba.db`` is relative to the
    working directory, ``sqlite:////tmp/nba.db`` is absolute.
    """
    if url == MEMORY_URL:
        from engine.memory import MemoryStore

        return MemoryStore()
    if url.startswith(SQLITE_PREFIX):
        from store.sqlite import SQLiteStore

        return SQLiteStore(_sqlite_path(url))
    raise UnknownStoreURL(f"unsupported store URL {url!r}; supported: {SUPPORTED}")


def _sqlite_path(url: str) -> str:
    path = url[len(SQLITE_PREFIX) :]
    if not path or path == ":memory:" or "?" in path:
        raise UnknownStoreURL(
            f"store URL {url!r} does not name a database file (in-memory SQLite and query "
            f"options are not supported); supported: {SUPPORTED}"
        )
    return path
