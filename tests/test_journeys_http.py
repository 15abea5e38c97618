"""A journey as a new user drives it: real gunicorn workers, real HTTP, and the
real worker process moving time with ``--once --now``."""
from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.conftest import PACKS, ROOT
from tests.servers import Gunicorn

pytestmark = pytest.mark.slow
PACK = str(PACKS / "journeys.yaml")


@pytest.fixture(params=["sqlite", "redis"])
def service(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/nba.db"
    else:
        server = request.getfixturevalue("redis_server")
        server.cli("FLUSHALL")
        url = server.url
    env = {"NBA_STORE_URL": url, "NBA_PACK": PACK, "NBA_LOG_LEVEL": "WARNING"}
    server = Gunicorn("wsgi:app", env, tmp_path / "gunicorn.log", config=True)
    server.wait_ready()
    server.env = env
    yield server
    server.stop()


def worker_once(service, now: str) -> None:
    done = subprocess.run([sys.executable, "-m", "engine", "worker", "--once", "--now", now],
                          cwd=ROOT, env={**os.environ, **service.env}, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_a_cart_posted_sixteen_times_at_once_starts_one_run_and_a_click_ends_it(service):
    base = service.url
    assert requests.put(f"{base}/v1/contacts/c1", json={
        "consents": {"email": True, "sms": True}}, timeout=10).status_code == 200
    event = {"event_id": "cart-1", "contact_id": "c1", "type": "cart_abandoned",
             "at": "2026-11-20T09:00:00Z", "data": {"cart_value": 80}}
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda _: requests.post(f"{base}/v1/events", json=event,
                                                        timeout=30).json(), range(16)))
    assert sorted(a["duplicate"] for a in answers) == [False] + [True] * 15
    runs = requests.get(f"{base}/v1/contacts/c1/journeys", timeout=10).json()["runs"]
    assert [(r["journey_id"], r["state"]) for r in runs] == [("cart_recovery", "active")]

    worker_once(service, "2026-11-20T10:00:00Z")
    leased = requests.get(f"{base}/v1/outbox/email?limit=10", timeout=10).json()["messages"]
    assert [(m["action_id"], m["step_id"]) for m in leased] == [("cart_email", "reminder")]
    message = leased[0]
    assert requests.post(f"{base}/v1/outbox/email/ack", json={
        "message_ids": [message["message_id"]]}, timeout=10).json()["acked"] == [
        message["message_id"]]
    assert requests.post(f"{base}/v1/outcomes", json={
        "decision_id": message["decision_id"], "action_id": "cart_email",
        "outcome": "clicked", "at": "2026-11-20T11:00:00Z"}, timeout=10).status_code == 200
    worker_once(service, "2026-11-25T10:00:00Z")
    [run] = requests.get(f"{base}/v1/contacts/c1/journeys", timeout=10).json()["runs"]
    assert (run["state"], run["end"]) == ("ended", "converted_or_not")
    assert requests.get(f"{base}/v1/outbox/sms", timeout=10).json()["messages"] == []
    stats = requests.get(f"{base}/v1/journeys/cart_recovery/stats", timeout=10).json()
    assert stats["steps"]["reminder"]["outcomes"] == {"clicked": 1}
