"""Agents, call tasks, agendas and results over the HTTP API (Flask test client)
on memory, SQLite and Redis, with the service's clock set by the test and the worker
moving time in between."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api import create_app

UTC = timezone.utc
KEYS = ("chan-key-123:channel,admin-key-12:admin,agent-key-12:agent,"
        "super-key-123:supervisor,author-key-1:author")
CHANNEL = {"Authorization": "Bearer chan-key-123"}
ADMIN = {"Authorization": "Bearer admin-key-12"}
AGENT = {"Authorization": "Bearer agent-key-12"}
SUPERVISOR = {"Authorization": "Bearer super-key-123"}
AUTHOR = {"Authorization": "Bearer author-key-1"}
WEEK = {d: "09:00-12:30,14:00-18:00" for d in ("mon", "tue", "wed", "thu", "fri")}
TUESDAY = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # 16:00 in Paris
WEDNESDAY_9 = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)  # 09:00 in Paris


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(params=["memory", "sqlite", "redis"])
def app(request, tmp_path):
    if request.param == "redis":
        server = request.getfixturevalue("redis_server")
        server.cli("FLUSHALL")
        url = server.url
    else:
        url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path}/nba.db"
    clock = Clock(TUESDAY)
    built = create_app({"NBA_STORE_URL": url, "NBA_API_KEYS": KEYS, "NBA_CLOCK": clock,
                        "NBA_LOG_LEVEL": "WARNING"})
    built.clock = clock
    return built


@pytest.fixture
def client(app):
    return app.test_client()


def put_agent(client, agent_id, headers=ADMIN, **fields):
    body = {"name": agent_id, "team": "field", "working_hours": WEEK, **fields}
    return client.put(f"/v1/agents/{agent_id}", headers=headers, json=body)


def lead(client, contact, postal_code="75011", product="sofa", at=TUESDAY):
    client.put(f"/v1/contacts/{contact}", headers=CHANNEL, json={
        "profile": {"first_name": contact.title()}, "consents": {"email": True}})
    return client.post("/v1/events", headers=CHANNEL, json={
        "event_id": f"lead-{contact}", "contact_id": contact, "type": "lead_form",
        "at": at.isoformat(), "data": {"product": product, "postal_code": postal_code}})


def tasks_of(client, contact):
    return client.get(f"/v1/contacts/{contact}/tasks", headers=CHANNEL).get_json()["tasks"]


def work(app, until: datetime):
    app.clock.now = until
    return app.extensions["nba"].journeys.run_until_idle(until)


@pytest.fixture
def reps(client):
    assert put_agent(client, "paris_rep", zones=["75"], capacity_per_day=2).status_code == 201
    assert put_agent(client, "paris_rep_2", zones=["75"], active=False).status_code == 201
    assert put_agent(client, "lyon_rep", zones=["69"]).status_code == 201


def test_admin_keys_write_agents_channel_keys_read_them_and_agents_may_not_write(client, reps):
    listed = client.get("/v1/agents", headers=CHANNEL).get_json()["agents"]
    assert [a["agent_id"] for a in listed] == ["lyon_rep", "paris_rep", "paris_rep_2"]
    one = client.get("/v1/agents/paris_rep", headers=AGENT).get_json()
    assert (one["zones"], one["working_hours"]["mon"]) == (["75"], "09:00-12:30,14:00-18:00")
    assert put_agent(client, "x", headers=AGENT).status_code == 403
    assert put_agent(client, "x", headers=CHANNEL).status_code == 403
    assert client.delete("/v1/agents/lyon_rep", headers=SUPERVISOR).status_code == 403
    assert client.get("/v1/agents/nobody", headers=CHANNEL).status_code == 404
    assert client.get("/v1/agents", headers=AUTHOR).status_code == 403
    assert put_agent(client, "paris_rep", zones=["75", "92"]).status_code == 200  # replaced


def test_a_wrong_agent_gets_every_problem_and_changes_nothing(client, reps):
    answer = put_agent(client, "paris_rep", working_hours={"mon": "18:00-09:00"},
                       capacity_per_day="lots", timezone="Nowhere/City")
    assert answer.status_code == 422
    assert set(answer.get_json()["error"]["fields"]) >= {"working_hours.mon",
                                                         "capacity_per_day", "timezone"}
    unknown = put_agent(client, "paris_rep", shoe_size=42).get_json()["error"]["fields"]
    assert list(unknown) == ["shoe_size"]
    malformed = client.put("/v1/agents/paris_rep", headers=ADMIN, data="{",
                           content_type="application/json")
    assert malformed.status_code == 400
    assert client.get("/v1/agents/paris_rep", headers=ADMIN).get_json()["capacity_per_day"] == 2


def test_a_lead_is_in_the_agents_agenda_with_the_contact_card_and_a_preview(client, reps):
    assert lead(client, "lea").status_code == 200
    agenda = client.get("/v1/agents/paris_rep/agenda?date=2026-12-02", headers=AGENT).get_json()
    [entry] = agenda["tasks"]
    assert (entry["contact_id"], entry["slot_at"], entry["status"], entry["assigned_by"]) == (
        "lea", "2026-12-02T08:00:00+00:00", "planned", "zones")
    assert entry["contact"]["profile"]["postal_code"] == "75011"
    assert entry["preview"] is True and "sofa" in entry["content"]["text"]
    assert "eligible: contact.lead_at != null" in entry["reasons"]
    assert client.get("/v1/agents/paris_rep/agenda?date=2026-12-03",
                      headers=AGENT).get_json()["tasks"] == []
    assert client.get("/v1/agents/paris_rep/agenda?date=tomorrow",
                      headers=AGENT).status_code == 422


def test_a_result_needs_the_call_open_then_counts_once_and_moves_the_run(app, client, reps):
    lead(client, "lea")
    [task] = tasks_of(client, "lea")
    early = client.post(f"/v1/tasks/{task['task_id']}/result", headers=AGENT,
                        json={"outcome": "rejected"})
    assert early.status_code == 409 and early.get_json()["error"]["code"] == "task_not_open"
    work(app, WEDNESDAY_9)
    app.clock.now = WEDNESDAY_9 + timedelta(minutes=10)
    first = client.post(f"/v1/tasks/{task['task_id']}/result", headers=AGENT,
                        json={"outcome": "rejected", "notes": "pas tout de suite"}).get_json()
    again = client.post(f"/v1/tasks/{task['task_id']}/result", headers=AGENT,
                        json={"outcome": "converted"}).get_json()
    assert (first["duplicate"], again["duplicate"]) == (False, True)
    assert again["task"]["result"]["outcome"] == "rejected"
    assert first["run"]["step_id"] == "follow_up"
    history = client.get("/v1/contacts/lea/history", headers=CHANNEL).get_json()["entries"]
    assert [[o["outcome"] for o in h["outcomes"]] for h in history] == [["rejected"]]
    follow_up = tasks_of(client, "lea")[-1]
    assert (follow_up["action_id"], follow_up["slot_at"]) == (
        "lead_follow_up_call", "2026-12-14T08:00:00+00:00")  # 10 days later is a Saturday


def test_an_agent_at_capacity_pushes_the_next_lead_to_the_next_working_day(client, reps):
    for contact in ("a1", "a2", "a3"):
        lead(client, contact)
    slots = [tasks_of(client, c)[0]["slot_at"] for c in ("a1", "a2", "a3")]
    assert slots == ["2026-12-02T08:00:00+00:00", "2026-12-02T08:15:00+00:00",
                     "2026-12-03T08:00:00+00:00"]  # capacity 2 a day


def test_a_lead_no_zone_matches_is_in_the_unassigned_queue_for_supervisors(client, reps):
    lead(client, "mars", postal_code="13001")
    assert client.get("/v1/tasks/unassigned", headers=CHANNEL).status_code == 403
    queue = client.get("/v1/tasks/unassigned", headers=SUPERVISOR).get_json()["tasks"]
    assert [(t["contact_id"], t["agent_id"], t["team"]) for t in queue] == [
        ("mars", None, "field")]
    moved = client.post(f"/v1/tasks/{queue[0]['task_id']}/reassign", headers=SUPERVISOR,
                        json={"agent_id": "lyon_rep"}).get_json()
    assert (moved["agent_id"], moved["assigned_by"]) == ("lyon_rep", "supervisor")
    assert client.get("/v1/tasks/unassigned", headers=SUPERVISOR).get_json()["tasks"] == []
    runs = client.get("/v1/contacts/mars/journeys", headers=CHANNEL).get_json()["runs"]
    assert runs[0]["next_due_at"] == moved["slot_at"]  # the run follows the new slot


def test_an_agent_who_leaves_hands_their_calls_to_another_agent_of_the_zone(client, reps):
    lead(client, "lea")
    put_agent(client, "paris_rep_2", zones=["75"], active=True)
    answer = put_agent(client, "paris_rep", zones=["75"], active=False).get_json()
    [task] = tasks_of(client, "lea")
    assert answer["reassigned_tasks"] == [task["task_id"]]
    assert (task["agent_id"], task["slot_at"]) == ("paris_rep_2", "2026-12-02T08:00:00+00:00")
    lead(client, "tom")  # and the next lead: not to the inactive agent
    assert tasks_of(client, "tom")[0]["agent_id"] == "paris_rep_2"


def test_a_contact_keeps_their_agent_for_later_calls(client, reps):
    lead(client, "lea")
    put_agent(client, "paris_rep_2", zones=["75"], active=True)
    [task] = tasks_of(client, "lea")
    client.post(f"/v1/tasks/{task['task_id']}/reassign", headers=SUPERVISOR, json={})
    assert tasks_of(client, "lea")[0]["agent_id"] == "paris_rep_2"


def test_erasing_a_contact_removes_their_tasks(client, reps):
    lead(client, "lea")
    [task] = tasks_of(client, "lea")
    assert client.delete("/v1/contacts/lea", headers=ADMIN).status_code == 204
    assert tasks_of(client, "lea") == []
    assert client.get(f"/v1/tasks/{task['task_id']}", headers=AGENT).status_code == 404
    assert client.get("/v1/agents/paris_rep/agenda?date=2026-12-02",
                      headers=AGENT).get_json()["tasks"] == []


@pytest.mark.parametrize("body, status", [
    ({"outcome": "sold"}, 422), ({}, 422), ({"outcome": "callback"}, 422),
    ({"outcome": "converted", "callback_at": "2026-12-05T10:00:00Z"}, 422),
    ({"outcome": "converted", "value": -3}, 422), ({"outcome": "converted", "x": 1}, 422)])
def test_wrong_results_are_refused_and_change_nothing(app, client, reps, body, status):
    lead(client, "lea")
    work(app, WEDNESDAY_9)
    [task] = tasks_of(client, "lea")
    answer = client.post(f"/v1/tasks/{task['task_id']}/result", headers=AGENT, json=body)
    assert answer.status_code == status, answer.get_json()
    assert tasks_of(client, "lea")[0]["status"] == "open"
    assert client.post("/v1/tasks/nope/result", headers=AGENT,
                       json={"outcome": "converted"}).status_code == 404


values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                      lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=8)


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.dictionaries(st.sampled_from(["name", "team", "working_hours", "zones",
                                             "skills", "capacity_per_day", "active",
                                             "timezone", "default", "agent_id"]),
                            values, max_size=6),
       agent_id=st.text(min_size=1, max_size=30).filter(lambda s: "/" not in s))
def test_random_agents_and_results_never_cause_a_500(client, body, agent_id):
    answer = client.put(f"/v1/agents/{agent_id}", headers=ADMIN, data=json.dumps(body),
                        content_type="application/json")
    assert answer.status_code in (200, 201, 404, 422), answer.get_json()
    result = client.post(f"/v1/tasks/{agent_id}/result", headers=AGENT, data=json.dumps(body),
                         content_type="application/json")
    assert result.status_code in (404, 422), result.get_json()


def test_an_agent_may_start_a_call_early_when_the_decision_allows_it_now(app, client, reps):
    lead(client, "lea")
    [task] = tasks_of(client, "lea")
    app.clock.now = TUESDAY + timedelta(minutes=30)  # 16:30 in Paris, before the slot
    started = client.post(f"/v1/tasks/{task['task_id']}/start", headers=AGENT).get_json()
    assert (started["status"], started["slot_at"]) == ("open", app.clock.now.isoformat())
    assert started["decision_id"] is not None
    done = client.post(f"/v1/tasks/{task['task_id']}/result", headers=AGENT,
                       json={"outcome": "converted"}).get_json()
    assert done["run"]["step_id"] == "newsletter"
    again = client.post(f"/v1/tasks/{task['task_id']}/start", headers=AGENT)
    assert again.status_code == 409


def test_a_call_started_without_consent_is_refused_with_the_reason_and_the_run_goes_on(
        app, client, reps):
    lead(client, "lea")
    client.patch("/v1/contacts/lea", headers=CHANNEL, json={"consents": {"call": False}})
    [task] = tasks_of(client, "lea")
    app.clock.now = TUESDAY + timedelta(minutes=30)
    refused = client.post(f"/v1/tasks/{task['task_id']}/start", headers=AGENT)
    assert refused.status_code == 409
    error = refused.get_json()["error"]
    assert error["code"] == "call_not_allowed" and "consent" in error["message"]
    assert tasks_of(client, "lea")[0]["status"] == "cancelled"
    runs = client.get("/v1/contacts/lea/journeys", headers=CHANNEL).get_json()["runs"]
    assert runs[0]["step_id"] in ("missed_email", "lost")  # on: skipped
