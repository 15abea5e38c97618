"""Storage backends for contact state, chosen by URL.

Each backend lives in its own module and is imported only when its URL is
used, so that a deployment never loads a driver it does not need.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Mapping

from engine.ports import ContactStore
from store.errors import UnknownStoreURL

if TYPE_CHECKING:
    from engine.agenda.ports import AgendaStore

MEMORY_URL = "memory://"
SQLITE_PREFIX = "sqlite:///"
REDIS_PREFIXES = ("redis://", "rediss://", "unix://", "redis+cluster://")
SUPPORTED = (
    "memory:// (in-process, lost on restart), sqlite:///relative/path.db or "
    "sqlite:////absolute/path.db, redis://[:password@]host:port/db (also rediss:// "
    "and unix://), redis+cluster://host:port (any seed node of a Redis Cluster)"
)


def store_from_url(url: str, options: Mapping[str, Any] | None = None) -> ContactStore:
    """The store ``url`` names; UnknownStoreURL for anything else.

    SQLite URLs follow SQLAlchemy: ``sqlite:///var/nba.db`` is relative to the
    working directory, ``sqlite:////tmp/nba.db`` is absolute.
    """
    if url == MEMORY_URL:
        from engine.memory import MemoryStore

        return MemoryStore()
    if url.startswith(SQLITE_PREFIX):
        from store.sqlite.contacts import SQLiteStore

        return SQLiteStore(_sqlite_path(url))
    if url.startswith(REDIS_PREFIXES):
        from store.redis.contacts import RedisStore

        return RedisStore(url, **(options or {}))
    raise UnknownStoreURL(f"unsupported store URL {url!r}; supported: {SUPPORTED}")


def _sqlite_path(url: str) -> str:
    path = url[len(SQLITE_PREFIX) :]
    if not path or path == ":memory:" or "?" in path:
        raise UnknownStoreURL(
            f"store URL {url!r} does not name a database file (in-memory SQLite and query "
            f"options are not supported); supported: {SUPPORTED}"
        )
    return path


def journeys_from_url(url: str, options: Mapping[str, Any] | None = None):
    """The JourneyStore (events, runs, due queue, outboxes) for the same URL
    schemes as ``store_from_url``; the same database or Redis holds both."""
    if url == MEMORY_URL:
        from engine.journeys.memory import MemoryJourneyStore

        return MemoryJourneyStore()
    if url.startswith(SQLITE_PREFIX):
        from store.sqlite.journeys import SQLiteJourneyStore

        return SQLiteJourneyStore(_sqlite_path(url))
    if url.startswith(REDIS_PREFIXES):
        from store.redis.journeys import RedisJourneyStore

        return RedisJourneyStore(url, **(options or {}))
    raise UnknownStoreURL(f"unsupported store URL {url!r}; supported: {SUPPORTED}")


def agenda_from_url(url: str, options: Mapping[str, Any] | None = None) -> AgendaStore:
    """The AgendaStore (agents, tasks, agendas, sticky agents) for the same URL
    schemes as ``store_from_url``; the same database or Redis holds both."""
    if url == MEMORY_URL:
        from engine.agenda.memory import MemoryAgendaStore

        return MemoryAgendaStore()
    if url.startswith(SQLITE_PREFIX):
        from store.sqlite.agenda import SQLiteAgendaStore

        return SQLiteAgendaStore(_sqlite_path(url))
    if url.startswith(REDIS_PREFIXES):
        from store.redis.agenda import RedisAgendaStore

        return RedisAgendaStore(url, **(options or {}))
    raise UnknownStoreURL(f"unsupported store URL {url!r}; supported: {SUPPORTED}")


def packs_from_url(url: str, options: Mapping[str, Any] | None = None):
    """The PackRegistry (pack versions, activations, audit log)."""
    return _beside_contacts(url, options, "engine.authoring.memory:MemoryPackRegistry",
                            "store.sqlite.packs:SQLitePackRegistry",
                            "store.redis.packs:RedisPackRegistry")


def learning_from_url(url: str, options: Mapping[str, Any] | None = None):
    """The LearningStore (counts behind learned propensities)."""
    return _beside_contacts(url, options, "engine.learning.memory:MemoryLearningStore",
                            "store.sqlite.learning:SQLiteLearningStore",
                            "store.redis.learning:RedisLearningStore")


def experiments_from_url(url: str, options: Mapping[str, Any] | None = None):
    """The ExperimentStore (members and arm counts of experiments)."""
    return _beside_contacts(url, options, "engine.learning.memory:MemoryExperimentStore",
                            "store.sqlite.experiments:SQLiteExperimentStore",
                            "store.redis.experiments:RedisExperimentStore")


def reports_from_url(url: str, options: Mapping[str, Any] | None = None):
    """The ReportStore (daily counters of the ROI report)."""
    return _beside_contacts(url, options, "engine.reports.memory:MemoryReportStore",
                            "store.sqlite.reports:SQLiteReportStore",
                            "store.redis.reports:RedisReportStore")


def shadows_from_url(url: str, options: Mapping[str, Any] | None = None):
    """The ShadowStore (shadow runs of pack versions and their counters)."""
    return _beside_contacts(url, options, "engine.authoring.memory:MemoryShadowStore",
                            "store.sqlite.packs_shadow:SQLiteShadowStore",
                            "store.redis.packs_shadow:RedisShadowStore")


def _beside_contacts(url: str, options: Mapping[str, Any] | None, memory: str, sqlite: str,
                     redis: str) -> Any:
    """A secondary store for the same URL schemes as ``store_from_url``, kept in the
    same database or Redis as the contacts; each backend is ``module:Class``, imported
    only when its URL is used. On Redis it gets the connection options and the
    ``breaker`` given (the contact store's, so that one circuit covers one Redis),
    else a breaker of its own (the circuit metric stays the contact store's)."""
    if url == MEMORY_URL:
        return _class(memory)()
    if url.startswith(SQLITE_PREFIX):
        return _class(sqlite)(_sqlite_path(url))
    if url.startswith(REDIS_PREFIXES):
        allowed = ("timeout_ms", "connect_timeout_ms", "retries", "breaker_failures",
                   "breaker_reset_s", "on_error", "breaker")
        return _class(redis)(url, **{k: v for k, v in (options or {}).items() if k in allowed})
    raise UnknownStoreURL(f"unsupported store URL {url!r}; supported: {SUPPORTED}")


def _class(path: str) -> Any:
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)
