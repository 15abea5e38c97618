"""Storage backends for contact state, chosen by URL."""
from __future__ import annotations

from engine.ports import ContactStore
from store.errors import UnknownStoreURL

SCHEMES = "memory://, sqlite:///relative/path.db, sqlite:////absolute/path.db"


def store_from_url(url: str) -> ContactStore:
    """The store ``url`` names; UnknownStoreURL for anything else."""
    if url == "memory://":
        from engine.memory import MemoryStore

        return MemoryStore()
    if url.startswith("sqlite:///"):
        from store.sqlite import SQLiteStore

        return SQLiteStore(url[len("sqlite:///"):])
    raise UnknownStoreURL(f"unsupported NBA_STORE_URL {url!r}; supported: {SCHEMES} "
                          "(redis:// is not available yet)")
