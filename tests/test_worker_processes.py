"""Exactly-once journey steps with real worker processes (``python -m engine
worker --once``) on SQLite, Redis and Redis Cluster: two workers at once never
execute a step twice, and a worker killed mid-pass leaves every step to the
next one with one effect (one history entry, one outbox message)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from engine.journeys.model import ContactEvent
from engine.journeys.runner import JourneyService
from engine.language.compiler import load_pack
from engine.model import ContactRecord
from engine.service import ActivePack, DecisionService
from store import journeys_from_url, store_from_url
from tests.conftest import PACKS, ROOT

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)
DUE = T0 + timedelta(hours=1)
PACK = PACKS / "journeys.yaml"
pytestmark = pytest.mark.slow


def _url(name: str, tmp: Path, request) -> str:
    if name == "sqlite":
        return f"sqlite:///{tmp}/nba.db"
    if name == "redis":
        server = request.getfixturevalue("redis_server")
        server.cli("FLUSHALL")
        return server.url
    cluster = request.getfixturevalue("redis_cluster")
    cluster.flush()
    return cluster.url


def _abandon_carts(url: str, contacts: int) -> None:
    store, journeys = store_from_url(url), journeys_from_url(url)
    service = JourneyService(DecisionService(store, ActivePack(load_pack(PACK)),
                                             events=journeys), journeys)
    for n in range(contacts):
        store.put_contact(ContactRecord(f"c{n}", {}, {"email": True}))
        service.ingest(ContactEvent(f"e{n}", f"c{n}", "cart_abandoned", T0, {"cart_value": 80}))
    store.close()
    journeys.close()


def _worker(url: str, now: datetime, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "NBA_STORE_URL": url, "NBA_PACK": str(PACK), "NBA_LOG_LEVEL": "WARNING"}
    return subprocess.Popen([sys.executable, "-m", "engine", "worker", "--once", "--now",
                             now.isoformat(), "--limit", "10", *extra], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _effects(url: str, contacts: int) -> tuple[dict[str, int], dict[str, int]]:
    """Per contact: reminder history entries, and reminder messages in the outbox."""
    store, journeys = store_from_url(url), journeys_from_url(url)
    entries = {f"c{n}": sum(e.step_id == "reminder" for e in store.history(f"c{n}"))
               for n in range(contacts)}
    messages = {f"c{n}": 0 for n in range(contacts)}
    for state in ("ready", "leased", "acked"):
        for message in journeys.outbox_messages("email", state, 10 * contacts):
            messages[message.contact_id] += 1
    store.close()
    journeys.close()
    return entries, messages


@pytest.mark.parametrize("name", ["sqlite", "redis", "redis_cluster"])
def test_two_workers_at_once_execute_each_step_once(name, tmp_path, request):
    url = _url(name, tmp_path, request)
    _abandon_carts(url, 60)
    workers = [_worker(url, DUE) for _ in range(2)]
    outputs = [w.communicate(timeout=120) for w in workers]
    assert all(w.returncode == 0 for w in workers), outputs
    entries, messages = _effects(url, 60)
    assert set(entries.values()) == {1}
    assert set(messages.values()) == {1}


@pytest.mark.parametrize("name", ["sqlite", "redis", "redis_cluster"])
def test_a_worker_killed_mid_pass_leaves_one_effect_per_step(name, tmp_path, request):
    url = _url(name, tmp_path, request)
    contacts = 300
    _abandon_carts(url, contacts)
    victim = _worker(url, DUE, "--lease", "5")
    done_before_kill = _kill_when_some_are_done(victim, url, contacts)
    assert 0 < done_before_kill < contacts  # it really was stopped part-way
    later = _worker(url, DUE + timedelta(seconds=10))
    out, err = later.communicate(timeout=180)
    assert later.returncode == 0, err
    entries, messages = _effects(url, contacts)
    assert set(entries.values()) == {1}
    assert set(messages.values()) == {1}


def _kill_when_some_are_done(victim: subprocess.Popen, url: str, contacts: int) -> int:
    journeys = journeys_from_url(url)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            done = len(journeys.outbox_messages("email", "ready", 10 * contacts))
            if done >= 30:
                victim.send_signal(signal.SIGKILL)
                victim.communicate(timeout=30)
                return len(journeys.outbox_messages("email", "ready", 10 * contacts))
            if victim.poll() is not None:
                pytest.fail(f"the worker finished before it could be killed: "
                            f"{victim.communicate()}")
            time.sleep(0.01)
    finally:
        journeys.close()
    pytest.fail("the worker did no work in 120 s")
