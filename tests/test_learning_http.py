"""GET /v1/learning over the API: who may read it, and, with two real gunicorn
workers on SQLite and on Redis, outcomes posted to either worker move the
posterior every worker reports; a worker's last counts are stored when it stops."""
from __future__ import annotations

import time

import pytest
import requests

from api import create_app
from engine.memory import MemoryStore
from tests.conftest import ROOT
from tests.servers import Gunicorn

KEYS = "chan-key-123:channel,auth-key-12:author,admin-key-12:admin"
CHANNEL = {"Authorization": "Bearer chan-key-123"}
AUTHOR = {"Authorization": "Bearer auth-key-12"}
RETAIL = str(ROOT / "rules" / "retail.yaml")
BANNER = {"channel": "web", "placement": "product_page", "context": {"product_id": "p1"}}


@pytest.fixture
def client():
    app = create_app({"NBA_STORE": MemoryStore(), "NBA_PACK": RETAIL, "NBA_API_KEYS": KEYS,
                      "NBA_LEARNING_FLUSH_S": 0, "NBA_LEARNING_REFRESH_S": 0})
    return app.test_client()


def banner(learning: dict) -> dict:
    return next(a for a in learning["actions"] if a["action"] == "cross_sell_block")


def test_authors_read_learning_and_channels_may_not(client):
    assert client.get("/v1/learning", headers=CHANNEL).status_code == 403
    assert client.get("/v1/learning").status_code == 401
    answer = client.get("/v1/learning", headers=AUTHOR)
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["pack"] == "retail" and body["learning"]["exploration"] == "thompson"
    assert banner(body)["prior"] == 0.05 and banner(body)["exposures"] == 0


def test_an_unknown_action_filter_is_a_404(client):
    answer = client.get("/v1/learning?action=nope", headers=AUTHOR)
    assert answer.status_code == 404
    assert "no action 'nope'" in answer.get_json()["error"]["message"]


def test_clicks_posted_as_outcomes_move_the_banner_posterior(client):
    for number in range(10):
        decision = client.post("/v1/decisions", headers=CHANNEL,
                               json={"contact_id": f"c{number}", **BANNER}).get_json()
        assert decision["actions"][0]["action_id"] == "cross_sell_block"
        assert client.post("/v1/outcomes", headers=CHANNEL, json={
            "decision_id": decision["decision_id"], "action_id": "cross_sell_block",
            "outcome": "clicked"}).status_code == 200
    row = banner(client.get("/v1/learning?action=cross_sell_block", headers=AUTHOR).get_json())
    assert (row["exposures"], row["successes"]) == (10, 10)
    assert row["posterior_mean"] > 0.3
    assert row["segments"][0]["segment"] == "lifecycle=prospect"


@pytest.mark.slow
def test_two_workers_learn_together_and_store_their_counts_when_they_stop(store_url, tmp_path):
    # Counts reach the store only when a worker reads them for GET /v1/learning, and
    # when it stops: the last decisions are stored by the stopping workers alone.
    env = {"NBA_PACK": RETAIL, "NBA_STORE_URL": store_url, "NBA_API_KEYS": KEYS,
           "NBA_LEARNING_FLUSH_S": "3600", "NBA_LEARNING_REFRESH_S": "3600"}
    server = Gunicorn("wsgi:app", env, tmp_path / "gunicorn.log")
    try:
        server.wait_ready()
        session = requests.Session()
        for number in range(40):
            decision = session.post(f"{server.url}/v1/decisions", headers=CHANNEL, timeout=10,
                                    json={"contact_id": f"c{number}", **BANNER}).json()
            if number % 4 == 0:
                assert session.post(f"{server.url}/v1/outcomes", headers=CHANNEL, timeout=10,
                                    json={"decision_id": decision["decision_id"],
                                          "action_id": "cross_sell_block",
                                          "outcome": "clicked"}).status_code == 200
        seen = _wait_for_exposures(session, server.url, 40)
        assert (seen["exposures"], seen["successes"]) == (40, 10)
        for number in range(6):
            assert session.post(f"{server.url}/v1/decisions", headers=CHANNEL, timeout=10,
                                json={"contact_id": f"late{number}", **BANNER}).ok
    finally:
        server.stop()
    restarted = Gunicorn("wsgi:app", env, tmp_path / "gunicorn2.log")
    try:
        restarted.wait_ready()
        row = banner(requests.get(f"{restarted.url}/v1/learning", headers=AUTHOR,
                                  timeout=10).json())
        assert (row["exposures"], row["successes"]) == (46, 10)
    finally:
        restarted.stop()


def _wait_for_exposures(session, url: str, expected: int) -> dict:
    """The banner row once both workers report every exposure (asked repeatedly, so
    that each worker answers some), or the last row seen after 20 s."""
    deadline = time.monotonic() + 20
    rows: list[dict] = []
    while time.monotonic() < deadline:
        rows = [banner(session.get(f"{url}/v1/learning", headers=AUTHOR, timeout=10).json())
                for _ in range(6)]
        if all(row["exposures"] == expected for row in rows):
            return rows[-1]
        time.sleep(0.2)
    return rows[-1]
