"""A Redis outage, for real: the process is killed (or frozen) and restarted.

While the store is down, inbound channels get the pack's fallback (marked,
never recorded) and outbound channels get a 503 (fail closed); an open
circuit answers at once; the service recovers by itself when Redis is back,
and nothing acknowledged before the outage is lost.
"""
from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import dataclass

import pytest
import requests

from api import create_app
from tests.conftest import PACKS
from tests.servers import Gunicorn, RedisServer

TIMEOUT_MS = 50
RETRIES = 1
# The longest a decision may wait on the store: a load and a reserve, each
# tried (retries + 1) times up to the socket timeout.
BUDGET_S = 2 * (RETRIES + 1) * TIMEOUT_MS / 1000
MARGIN_S = 0.5  # interpreter, HTTP and a noisy shared machine
SETTINGS = {
    "NBA_PACK": str(PACKS / "faults.yaml"),
    "NBA_REDIS_TIMEOUT_MS": str(TIMEOUT_MS),
    "NBA_REDIS_CONNECT_TIMEOUT_MS": str(TIMEOUT_MS),
    "NBA_REDIS_RETRIES": str(RETRIES),
    "NBA_BREAKER_FAILURES": "3",
    "NBA_BREAKER_RESET_S": "0.3",
}
EMAIL = {"contact_id": "c1", "channel": "email", "profile": {"consents": {"email": True}}}
WEB = {"contact_id": "c1", "channel": "web", "placement": "home_banner",
       "profile": {"first_name": "Ana"}}


@pytest.fixture
def durable_redis(tmp_path):
    """A redis-server that writes every acknowledged command to its append-only file."""
    server = RedisServer("--appendonly", "yes", "--appendfsync", "everysec",
                         directory=tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture
def client(durable_redis):
    app = create_app({**SETTINGS, "NBA_STORE_URL": durable_redis.url})
    yield app.test_client()
    app.extensions["nba"].store.close()


def wait_recovered(client, seconds: float = 5.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        answer = client.post("/v1/decisions", json=EMAIL)
        if answer.status_code == 200:
            return answer
        time.sleep(0.05)
    raise AssertionError("the service did not recover after Redis came back")


def test_while_redis_is_down_web_gets_the_fallback_and_email_fails_closed(client, durable_redis):
    first = client.post("/v1/decisions", json=EMAIL).get_json()
    assert first["recorded"] and first["actions"][0]["action_id"] == "weekly_offer"
    durable_redis.kill()

    web = client.post("/v1/decisions", json=WEB)
    assert web.status_code == 200
    body = web.get_json()
    assert (body["fallback"], body["fallback_reason"], body["recorded"]) == (
        True, "store_unavailable", False)
    assert [(a["action_id"], a["fallback"], a["content"]) for a in body["actions"]] == [
        ("brand_banner", True, {"banner": "brand Ana"})]
    email = client.post("/v1/decisions", json=EMAIL)
    assert email.status_code == 503
    assert email.get_json()["error"]["code"] == "store_unavailable"
    outcome = client.post("/v1/outcomes", json={
        "decision_id": first["decision_id"], "action_id": "weekly_offer", "outcome": "opened"})
    assert outcome.status_code == 503
    assert client.get("/readyz").status_code == 503

    durable_redis.start()
    again = wait_recovered(client).get_json()
    assert again["recorded"] and not again["fallback"]
    history = client.get("/v1/contacts/c1/history").get_json()["entries"]
    assert [e["decision_id"] for e in history] == [first["decision_id"], again["decision_id"]]
    assert client.get("/readyz").status_code == 200


def test_stores_beside_the_contacts_fail_at_once_while_the_circuit_is_open(client,
                                                                          durable_redis):
    """Learning counts, experiment arms and report counters are flushed before
    requests: on a frozen Redis, once the contacts' circuit is open, their writes
    must not each wait for a timeout too."""
    services = client.application.extensions["nba"]
    beside = {"learning": services.learner.store, "reports": services.reports.store,
              "experiments": services.decisions.experiments.store,
              "journeys": services.journeys.store}
    assert client.post("/v1/decisions", json=EMAIL).status_code == 200
    os.kill(durable_redis.process.pid, signal.SIGSTOP)
    try:
        for _ in range(3):
            assert client.post("/v1/decisions", json=EMAIL).status_code == 503
        assert services.store.circuit_state == "open"
        for name, store in beside.items():
            started = time.perf_counter()
            assert not store.ping(), name
            assert time.perf_counter() - started < TIMEOUT_MS / 1000, name
    finally:
        os.kill(durable_redis.process.pid, signal.SIGCONT)


def test_nothing_eligible_on_an_inbound_slot_serves_the_fallback_without_recording_it(client):
    for _ in range(3):
        assert client.post("/v1/decisions", json=WEB).get_json()["recorded"]
    capped = client.post("/v1/decisions", json={**WEB, "explain": True}).get_json()
    assert (capped["fallback"], capped["fallback_reason"], capped["recorded"]) == (
        True, "nothing_eligible", False)
    assert [a["action_id"] for a in capped["actions"]] == ["brand_banner"]
    assert sorted((x["action_id"], x["policy"]) for x in capped["excluded"]) == [
        ("brand_banner", "eligibility"), ("weekly_offer", "pressure")]
    assert len(client.get("/v1/contacts/c1/history").get_json()["entries"]) == 3


def test_a_frozen_redis_costs_at_most_the_budget_then_the_open_circuit_answers_at_once(
        client, durable_redis):
    assert client.post("/v1/decisions", json=EMAIL).status_code == 200
    os.kill(durable_redis.process.pid, signal.SIGSTOP)
    try:
        timings = []
        for _ in range(8):
            started = time.perf_counter()
            answer = client.post("/v1/decisions", json=EMAIL)
            timings.append(time.perf_counter() - started)
            assert answer.status_code == 503
        store = client.application.extensions["nba"].store
        assert store.circuit_state == "open"
        assert max(timings) < BUDGET_S + MARGIN_S, timings
        # Once open, the circuit answers without waiting for any timeout.
        assert max(timings[4:]) < TIMEOUT_MS / 1000, timings
    finally:
        os.kill(durable_redis.process.pid, signal.SIGCONT)
    assert wait_recovered(client).get_json()["recorded"]


# -- under load, with real gunicorn workers ------------------------------------------


@dataclass(frozen=True)
class Seen:
    sent_at: float
    took: float
    channel: str
    status: int
    body: dict


def load(url: str, stop: threading.Event, seen: list[Seen], worker: int) -> None:
    with requests.Session() as session:
        n = 0
        while not stop.is_set():
            n += 1
            # Five requests per contact against a cap of three: caps are reached all along.
            body = dict(EMAIL if n % 2 else WEB, contact_id=f"w{worker}-{n // 5}")
            started = time.monotonic()
            answer = session.post(f"{url}/v1/decisions", json=body, timeout=10)
            took = time.monotonic() - started
            seen.append(Seen(started, took, body["channel"], answer.status_code, answer.json()))


@pytest.mark.slow
def test_killing_redis_under_load_then_restarting_it(durable_redis, tmp_path):
    server = Gunicorn("wsgi:app", {**SETTINGS, "NBA_STORE_URL": durable_redis.url},
                      tmp_path / "gunicorn.log")
    seen: list[Seen] = []
    stop = threading.Event()
    try:
        server.wait_ready()
        clients = [threading.Thread(target=load, args=(server.url, stop, seen, n))
                   for n in range(8)]
        for thread in clients:
            thread.start()
        time.sleep(1.5)
        killed_at = time.monotonic()
        durable_redis.kill()
        time.sleep(1.5)
        durable_redis.start()
        restarted_at = time.monotonic()
        time.sleep(2.0)
        stop.set()
        for thread in clients:
            thread.join(timeout=30)
        contacts = {s.body["contact_id"] for s in seen if s.status == 200 and s.body["recorded"]}
        history = {c: requests.get(f"{server.url}/v1/contacts/{c}/history",
                                   timeout=5).json()["entries"] for c in contacts}
    finally:
        stop.set()
        server.stop()

    assert {s.status for s in seen} <= {200, 503}, "no 500 and nothing else"
    assert all(s.channel == "email" for s in seen if s.status == 503), "only outbound fails"
    assert all(s.body["error"]["code"] == "store_unavailable" for s in seen if s.status == 503)
    outage = [s for s in seen if killed_at + 0.2 < s.sent_at < restarted_at - 0.2]
    assert [s for s in outage if s.channel == "web"], "no web request during the outage"
    assert all(s.body["fallback"] and not s.body["recorded"] for s in outage
               if s.channel == "web")
    assert max(s.took for s in seen) < BUDGET_S + MARGIN_S
    after = [s for s in seen if s.sent_at > restarted_at + 1.0]
    assert any(s.status == 200 and s.body["recorded"] for s in after), "did not recover"
    assert any(len(entries) == 3 for entries in history.values()), "no cap was reached"
    assert all(len(entries) <= 3 for entries in history.values()), "a cap was exceeded"
    stored = {(e["decision_id"], e["action_id"]) for entries in history.values()
              for e in entries}
    acknowledged = {(s.body["decision_id"], a["action_id"]) for s in seen
                    if s.status == 200 and s.body["recorded"] and s.sent_at + s.took < killed_at
                    for a in s.body["actions"]}
    assert acknowledged and acknowledged <= stored, "an acknowledged reservation was lost"
