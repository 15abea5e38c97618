"""GET /metrics and the JSON logs, in one process and across real gunicorn workers."""
from __future__ import annotations

import json
import logging

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from api import create_app
from api.core.logs import JsonFormatter
from engine.memory import MemoryStore
from tests.conftest import PACKS
from tests.servers import Gunicorn

EMAIL = {"contact_id": "m1", "channel": "email", "profile": {"consents": {"email": True}}}


def samples(text: str) -> dict[tuple, float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(text: str, name: str, **labels) -> float:
    return samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def client():
    app = create_app({"NBA_STORE": MemoryStore(), "NBA_PACK": str(PACKS / "faults.yaml"),
                      "NBA_STORE_URL": "memory://"})
    return app.test_client()


def test_decisions_exclusions_and_fallbacks_are_counted_by_label(client):
    before = client.get("/metrics").get_data(as_text=True)
    for _ in range(4):  # the cap is 3 a week: the fourth is refused by pressure
        client.post("/v1/decisions", json=EMAIL)
    client.post("/v1/decisions", json={"contact_id": "m1", "channel": "web",
                                       "placement": "home_banner"})
    after = client.get("/metrics")
    assert after.status_code == 200 and after.content_type.startswith("text/plain")
    text = after.get_data(as_text=True)

    def delta(name, **labels):
        return value(text, name, **labels) - value(before, name, **labels)

    assert delta("nba_decisions_total", channel="email", pack="faults", result="chosen") == 3
    assert delta("nba_decisions_total", channel="email", pack="faults", result="empty") == 1
    assert delta("nba_decisions_total", channel="web", pack="faults", result="fallback") == 1
    assert delta("nba_fallbacks_total", channel="web", reason="nothing_eligible") == 1
    assert delta("nba_exclusions_total", policy="pressure") == 2  # the 4th email, then web
    assert delta("nba_decision_seconds_count", channel="email") == 4


def test_outcomes_are_counted_once(client):
    decision = client.post("/v1/decisions", json={**EMAIL, "contact_id": "m2"}).get_json()
    before = client.get("/metrics").get_data(as_text=True)
    body = {"decision_id": decision["decision_id"], "action_id": "weekly_offer",
            "outcome": "clicked"}
    client.post("/v1/outcomes", json=body)
    client.post("/v1/outcomes", json=body)
    text = client.get("/metrics").get_data(as_text=True)
    assert (value(text, "nba_outcomes_total", outcome="clicked")
            - value(before, "nba_outcomes_total", outcome="clicked")) == 1


def test_a_log_record_is_one_json_line():
    record = logging.LogRecord("nba.api", logging.INFO, __file__, 1, "served %s", ("x",), None)
    line = json.loads(JsonFormatter().format(record))
    assert (line["level"], line["logger"], line["message"]) == ("info", "nba.api", "served x")


@pytest.mark.slow
def test_across_two_gunicorn_workers_metrics_add_up_and_logs_carry_the_decision_id(tmp_path):
    key = "k-channel-secret-123"
    log = tmp_path / "gunicorn.log"
    server = Gunicorn("wsgi:app", {"NBA_PACK": str(PACKS / "faults.yaml"),
                                   "NBA_STORE_URL": f"sqlite:///{tmp_path / 'nba.db'}",
                                   "NBA_API_KEYS": f"{key}:channel"}, log, config=True)
    try:
        server.wait_ready()
        ids = []
        for n in range(20):  # a new connection each time: both workers answer
            answer = requests.post(f"{server.url}/v1/decisions", timeout=10,
                                   headers={"Authorization": f"Bearer {key}"},
                                   json={**EMAIL, "contact_id": f"g{n}"})
            assert answer.status_code == 200
            ids.append(answer.json()["decision_id"])
        text = requests.get(f"{server.url}/metrics", timeout=10).text
    finally:
        server.stop()
    total = sum(v for (name, _), v in samples(text).items() if name == "nba_decisions_total")
    assert total == 20
    lines = [json.loads(line) for line in log.read_text().splitlines()
             if line.startswith("{")]
    access = [line for line in lines if line["logger"] == "nba.access"
              and line.get("decision_id") == ids[0]]
    assert access and access[0]["status"] == 200 and access[0]["path"] == "/v1/decisions"
    assert key not in log.read_text()
