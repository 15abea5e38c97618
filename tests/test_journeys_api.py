"""Events, outboxes and journey statistics over the HTTP API (Flask test client,
in-memory stores), and the worker moving time in between."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from api import create_app
from tests.conftest import PACKS

KEYS = "chan-key-123:channel,author-key-1:author,admin-key-12:admin"
CHANNEL = {"Authorization": "Bearer chan-key-123"}
ADMIN = {"Authorization": "Bearer admin-key-12"}


@pytest.fixture
def app():
    return create_app({"NBA_STORE_URL": "memory://", "NBA_PACK": str(PACKS / "journeys.yaml"),
                       "NBA_API_KEYS": KEYS})


@pytest.fixture
def client(app):
    return app.test_client()


def work(app, until: str):
    return app.extensions["nba"].journeys.run_until_idle(
        datetime.fromisoformat(until.replace("Z", "+00:00")))


def abandon(client, event_id="e1", contact="c1", value=80, at="2026-11-20T09:00:00Z"):
    return client.post("/v1/events", headers=CHANNEL, json={
        "event_id": event_id, "contact_id": contact, "type": "cart_abandoned", "at": at,
        "data": {"cart_value": value}})


def test_an_event_starts_a_run_and_the_same_event_again_is_a_duplicate(client):
    client.put("/v1/contacts/c1", headers=CHANNEL, json={"consents": {"email": True}})
    first = abandon(client).get_json()
    assert first["duplicate"] is False
    assert [r["journey_id"] for r in first["started"]] == ["cart_recovery"]
    again = abandon(client).get_json()
    assert (again["duplicate"], again["started"]) == (True, [])
    runs = client.get("/v1/contacts/c1/journeys", headers=CHANNEL).get_json()["runs"]
    assert [(r["journey_id"], r["step_id"], r["state"], r["next_due_at"]) for r in runs] == [
        ("cart_recovery", "reminder", "active", "2026-11-20T10:00:00+00:00")]
    events = client.get("/v1/contacts/c1/events", headers=CHANNEL).get_json()["events"]
    assert [(e["event_id"], e["type"], e["data"]) for e in events] == [
        ("e1", "cart_abandoned", {"cart_value": 80})]


def test_the_outbox_leases_the_reminder_and_a_click_ends_the_run(app, client):
    client.put("/v1/contacts/c1", headers=CHANNEL, json={"consents": {"email": True}})
    abandon(client)
    work(app, "2026-11-20T10:00:00Z")
    app.extensions["nba"].clock = lambda: datetime(2026, 11, 20, 10, 5, tzinfo=timezone.utc)
    leased = client.get("/v1/outbox/email?limit=5", headers=CHANNEL).get_json()
    [message] = leased["messages"]
    assert (message["action_id"], message["step_id"], message["content"]) == (
        "cart_email", "reminder", {"subject": "Your cart of 80 EUR"})
    assert client.get("/v1/outbox/email", headers=CHANNEL).get_json()["messages"] == []
    acked = client.post("/v1/outbox/email/ack", headers=CHANNEL,
                        json={"message_ids": [message["message_id"], "nope"]}).get_json()
    assert (acked["acked"], acked["unknown"]) == ([message["message_id"]], ["nope"])
    clicked = client.post("/v1/outcomes", headers=CHANNEL, json={
        "decision_id": message["decision_id"], "action_id": "cart_email",
        "outcome": "clicked", "at": "2026-11-20T11:00:00Z"})
    assert clicked.status_code == 200
    [run] = client.get("/v1/contacts/c1/journeys", headers=CHANNEL).get_json()["runs"]
    assert (run["state"], run["end"]) == ("ended", "converted_or_not")
    stats = client.get("/v1/journeys/cart_recovery/stats", headers=CHANNEL).get_json()
    assert stats["entered"] == 1
    assert stats["steps"]["reminder"]["sent"] == 1
    assert stats["steps"]["reminder"]["outcomes"] == {"clicked": 1}
    assert stats["ends"] == {"converted_or_not": 1}
    history = client.get("/v1/contacts/c1/history", headers=CHANNEL).get_json()["entries"]
    assert (history[0]["journey_id"], history[0]["step_id"]) == ("cart_recovery", "reminder")


def test_bad_events_get_clear_errors_and_change_nothing(client):
    wrong = abandon(client, value="eighty")
    assert wrong.status_code == 422
    assert wrong.get_json()["error"]["code"] == "invalid_event"
    assert "data.cart_value" in wrong.get_json()["error"]["fields"]
    missing = client.post("/v1/events", headers=CHANNEL, json={"contact_id": "c1",
                                                               "type": "x"})
    assert missing.status_code == 422 and "event_id" in missing.get_json()["error"]["fields"]
    bad_type = client.post("/v1/events", headers=CHANNEL, json={
        "event_id": "e", "contact_id": "c1", "type": "no spaces!"})
    assert bad_type.status_code == 422
    assert client.post("/v1/events", headers=CHANNEL, data="{nope").status_code == 400
    assert client.get("/v1/contacts/c1/events", headers=CHANNEL).status_code == 404


def test_outbox_requests_name_known_outbound_channels_and_sane_limits(client):
    assert client.get("/v1/outbox/fax", headers=CHANNEL).status_code == 404
    assert client.get("/v1/outbox/email?limit=0", headers=CHANNEL).status_code == 422
    assert client.get("/v1/outbox/email?limit=abc", headers=CHANNEL).status_code == 422
    assert client.post("/v1/outbox/email/ack", headers=CHANNEL,
                       json={"message_ids": []}).status_code == 422
    assert client.get("/v1/outbox/email",
                      headers={"Authorization": "Bearer author-key-1"}).status_code == 403


def test_the_journeys_of_the_pack_are_listed_and_unknown_ones_are_404(client):
    journeys = client.get("/v1/journeys", headers=CHANNEL).get_json()["journeys"]
    assert [j["id"] for j in journeys][:2] == ["cart_recovery", "welcome"]
    assert journeys[0]["trigger"] == {"kind": "event", "event": "cart_abandoned"}
    assert client.get("/v1/journeys/nope/stats", headers=CHANNEL).status_code == 404


def test_erasing_a_contact_removes_its_runs_events_and_queued_messages(app, client):
    client.put("/v1/contacts/c1", headers=CHANNEL, json={"consents": {"email": True}})
    abandon(client)
    work(app, "2026-11-20T10:00:00Z")
    assert client.delete("/v1/contacts/c1", headers=ADMIN).status_code == 204
    assert client.get("/v1/contacts/c1/journeys", headers=CHANNEL).status_code == 404
    app.extensions["nba"].clock = lambda: datetime(2026, 11, 20, 10, 5, tzinfo=timezone.utc)
    assert client.get("/v1/outbox/email", headers=CHANNEL).get_json()["messages"] == []


def test_metrics_show_the_due_queue(app, client):
    abandon(client)
    app.extensions["nba"].clock = lambda: datetime(2026, 11, 20, 10, 30, tzinfo=timezone.utc)
    text = client.get("/metrics").get_data(as_text=True)
    assert "nba_journey_due_lag_seconds 1800.0" in text
    assert "nba_journey_timers 2" in text  # the run's step and the winback watch
