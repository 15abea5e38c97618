from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import pytest

from engine.backends import ExecutionBackend, backend_from_name
from engine.language.compiler import load_pack
from engine.memory import MemoryStore
from engine.model import ContactRecord, DecisionRequest, HistoryEntry, OutcomeReport, Reservation
from engine.service import ActivePack, DecisionService

ROOT = Path(__file__).resolve().parent.parent
PACKS = Path(__file__).resolve().parent / "packs"
# The whole suite runs on the backend NBA_ENGINE names (the app reads it too):
#   NBA_ENGINE=durable .venv/bin/python -m pytest
ENGINE = os.environ.get("NBA_ENGINE", "compiled")


def engine_backend() -> ExecutionBackend:
    """A fresh backend of the kind the suite runs on."""
    return backend_from_name(ENGINE)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


class Desk:
    """A decision service over an in-memory store, as a test drives it."""

    def __init__(self, pack: str = "minimal.yaml"):
        self.plan = load_pack(PACKS / pack)
        self.store = MemoryStore()
        self.service = DecisionService(self.store, ActivePack(self.plan), engine_backend())

    def contact(self, contact_id: str, consents=None, **profile) -> None:
        self.store.put_contact(ContactRecord(contact_id, profile, consents or {}))

    def decide(self, contact_id: str, channel: str, when: str, **options):
        options.setdefault("explain", True)
        request = DecisionRequest(contact_id=contact_id, channel=channel, at=at(when), **options)
        return self.service.decide(request)

    def chosen(self, *args, **options) -> list[str]:
        return [a.action_id for a in self.decide(*args, **options).decision.actions]

    def remember(self, contact_id: str, action_id: str, channel: str, when: str) -> None:
        """Record that ``action_id`` went out at ``when``, as an earlier decision would."""
        action = self.plan.action(action_id)
        entry = HistoryEntry(f"past-{when}", action.id, action.program, action.kind, channel,
                             at(when))
        assert self.store.reserve(Reservation(contact_id, (entry,))).ok

    def outcome(self, result, outcome: str, when: str, index: int = 0):
        action = result.decision.actions[index].action_id
        return self.service.record_outcome(
            OutcomeReport(result.decision_id, action, outcome, at(when)))


@pytest.fixture
def desk() -> Desk:
    return Desk()


# The four backends a secondary store's contract suite runs on (pack registry,
# learning, experiments, reports, shadows), each by its URL.
URLS = {
    "memory": lambda tmp, request: "memory://",
    "sqlite": lambda tmp, request: f"sqlite:///{tmp}/db/nba.db",
    "redis": lambda tmp, request: request.getfixturevalue("redis_server").url,
    "redis_cluster": lambda tmp, request: request.getfixturevalue("redis_cluster").url,
}


@pytest.fixture(params=list(URLS))
def url(request, tmp_path) -> str:
    """A fresh store URL of each backend (Redis flushed first)."""
    if request.param == "redis":
        request.getfixturevalue("redis_server").cli("FLUSHALL")
    if request.param == "redis_cluster":
        request.getfixturevalue("redis_cluster").flush()
    return URLS[request.param](tmp_path, request)


@pytest.fixture(params=["sqlite", "redis"])
def store_url(request, tmp_path) -> str:
    """A fresh store several processes can share, of each kind: a SQLite file or a
    flushed Redis (modules that need other kinds define their own)."""
    if request.param == "redis":
        request.getfixturevalue("redis_server").cli("FLUSHALL")
    return URLS[request.param](tmp_path, request)


@pytest.fixture(scope="session")
def redis_server():
    """One throwaway redis-server for the session (tests flush it as they need)."""
    from tests.servers import RedisServer

    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_cluster():
    """A throwaway 3-master Redis Cluster for the session."""
    from tests.servers import RedisCluster

    cluster = RedisCluster().start()
    yield cluster
    cluster.stop()
