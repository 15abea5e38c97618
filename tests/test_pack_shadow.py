"""Shadow runs: a candidate version decides beside the active one on live
decision traffic, recording nothing, and the report says how often and where
they differ. In process (Flask's test client, an injected clock), then over
real HTTP with two gunicorn workers on SQLite and on a real Redis, whose
comparisons add up in the store."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest
import requests

from api import create_app
from engine.authoring.memory import MemoryShadowStore
from engine.authoring.model import Actor
from engine.authoring.shadow import ShadowService
from tests.conftest import PACKS
from tests.servers import Gunicorn, RedisServer

KEYS = "chan-key-123:channel,author-key-1:author,admin-key-12:admin"
AUTHOR = {"Authorization": "Bearer author-key-1"}
CHANNEL = {"Authorization": "Bearer chan-key-123"}
SHOP = (PACKS / "shop.yaml").read_text()
CANDIDATE = SHOP.replace('version: "1"', 'version: "2"').replace(
    "priority: 40", "priority: 90").replace("expect: {actions: [newsletter]}",
                                            "expect: {actions: [promo]}")
T0 = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock():
    return Clock(T0)


@pytest.fixture
def client(tmp_path, clock):
    return create_app({"NBA_STORE_URL": f"sqlite:///{tmp_path}/nba.db",
                       "NBA_PACK": str(PACKS / "shop.yaml"), "NBA_API_KEYS": KEYS,
                       "NBA_CLOCK": clock}).test_client()


def upload_candidate(post) -> str:
    answer = post("/v1/packs", data=CANDIDATE, headers={**AUTHOR, "Content-Type":
                                                          "application/yaml"})
    assert answer.status_code == 201
    body = answer.json() if callable(answer.json) else answer.get_json()
    return body["pack"]["hash"]


def seed(client, spends: dict[str, float]) -> None:
    for contact, spend in spends.items():
        assert client.put(f"/v1/contacts/{contact}", headers=CHANNEL, json={
            "profile": {"total_spend": spend}, "consents": {"email": True}}).status_code == 200


def decide(client, contact: str, **extra) -> dict:
    with client.post("/v1/decisions", headers=CHANNEL, json={
            "contact_id": contact, "channel": "email", **extra}) as answer:
        assert answer.status_code == 200
        return answer.get_json()


def test_a_shadow_compares_every_drawn_request_and_reports_where_the_candidate_differs(client):
    seed(client, {"big1": 500, "big2": 800, "small": 10})
    candidate = upload_candidate(client.post)
    started = client.post(f"/v1/packs/{candidate}/shadow", headers=AUTHOR,
                          json={"share": 1.0, "duration": "60s"})
    assert started.status_code == 201
    assert started.get_json()["state"] == "running" and started.get_json()["compared"] == 0
    active = client.get("/v1/packs", headers=AUTHOR).get_json()["active"]
    answers = [decide(client, c) for c in ("big1", "big2", "small", "big1")]
    assert {a["pack"]["hash"] for a in answers} == {active}         # live answers unchanged
    assert [a["actions"][0]["action_id"] for a in answers] == ["newsletter"] * 4

    report = client.get(f"/v1/packs/{candidate}/shadow", headers=AUTHOR).get_json()
    assert (report["compared"], report["differing"]) == (4, 3)
    assert report["difference_rate"] == 0.75 and report["against"] == active
    assert report["by_channel"] == {"email": {"compared": 4, "differing": 3}}
    assert report["by_action"] == {"newsletter": {"active": 4, "candidate": 1},
                                   "promo": {"active": 0, "candidate": 3}}
    assert report["changes"] == [{"active": "newsletter", "candidate": "promo", "count": 3}]
    assert [(e["contact_id"], e["active"], e["candidate"]) for e in report["examples"]] == [
        ("big1", ["newsletter"], ["promo"]), ("big2", ["newsletter"], ["promo"]),
        ("big1", ["newsletter"], ["promo"])]


def test_the_candidate_records_nothing(client):
    seed(client, {"big1": 500})
    candidate = upload_candidate(client.post)
    client.post(f"/v1/packs/{candidate}/shadow", headers=AUTHOR,
                json={"share": 1, "duration": "10m"})
    decide(client, "big1")
    entries = client.get("/v1/contacts/big1/history", headers=CHANNEL).get_json()["entries"]
    assert [e["action_id"] for e in entries] == ["newsletter"]
    decide(client, "big1")
    report = client.get(f"/v1/packs/{candidate}/shadow", headers=AUTHOR).get_json()
    assert report["compared"] == 2
    assert len(client.get("/v1/contacts/big1/history", headers=CHANNEL)
               .get_json()["entries"]) == 2


def test_an_ended_or_stopped_shadow_compares_nothing_more_and_keeps_its_report(client, clock):
    seed(client, {"big1": 500})
    candidate = upload_candidate(client.post)
    client.post(f"/v1/packs/{candidate}/shadow", headers=AUTHOR,
                json={"share": 1, "duration": "60s"})
    decide(client, "big1", dry_run=True)
    clock.now = T0 + timedelta(seconds=61)
    decide(client, "big1", dry_run=True)
    report = client.get(f"/v1/packs/{candidate}/shadow", headers=AUTHOR).get_json()
    assert report["state"] == "ended" and report["compared"] == 1

    client.post(f"/v1/packs/{candidate}/shadow", headers=AUTHOR,
                json={"share": 1, "duration": "1h"})      # a new run starts from zero
    assert client.get(f"/v1/packs/{candidate}/shadow", headers=AUTHOR).get_json()["compared"] == 0
    stopped = client.delete(f"/v1/packs/{candidate}/shadow", headers=AUTHOR)
    assert stopped.status_code == 200 and stopped.get_json()["state"] == "ended"
    decide(client, "big1", dry_run=True)
    assert client.get(f"/v1/packs/{candidate}/shadow", headers=AUTHOR).get_json()["compared"] == 0
    assert client.delete(f"/v1/packs/{candidate}/shadow", headers=AUTHOR).status_code == 409
    audit = client.get("/v1/audit", headers=AUTHOR).get_json()["entries"]
    assert [e["action"] for e in audit[:3]] == ["shadow_stop", "shadow_start", "shadow_start"]
    assert audit[1]["what"]["hash"] == candidate and audit[1]["what"]["share"] == 1
    assert audit[1]["actor"]["role"] == "author"


def test_once_the_candidate_is_activated_its_shadow_says_so_and_stops_comparing(client):
    seed(client, {"big1": 500})
    candidate = upload_candidate(client.post)
    client.post(f"/v1/packs/{candidate}/shadow", headers=AUTHOR,
                json={"share": 1, "duration": "1h"})
    assert client.post(f"/v1/packs/{candidate}/activate",
                       headers={"Authorization": "Bearer admin-key-12"}).status_code == 200
    assert decide(client, "big1", dry_run=True)["actions"][0]["action_id"] == "promo"
    report = client.get(f"/v1/packs/{candidate}/shadow", headers=AUTHOR).get_json()
    assert report["state"] == "candidate_active" and report["compared"] == 0


@pytest.mark.parametrize("body", [
    {"share": 0, "duration": "60s"}, {"share": 1.5, "duration": "60s"},
    {"share": "half", "duration": "60s"}, {"duration": "60s"}, {"share": 0.1},
    {"share": 0.1, "duration": "forever"}, {"share": 0.1, "duration": "0s"},
    {"share": 0.1, "duration": "8d"}, {"share": 0.1, "duration": True},
    {"share": 0.1, "duration": "60s", "extra": 1},
])
def test_a_bad_shadow_request_is_refused_and_starts_nothing(client, body):
    candidate = upload_candidate(client.post)
    answer = client.post(f"/v1/packs/{candidate}/shadow", headers=AUTHOR, json=body)
    assert answer.status_code == 422 and answer.get_json()["error"]["message"]
    assert client.get(f"/v1/packs/{candidate}/shadow", headers=AUTHOR).status_code == 404


def test_shadowing_the_active_or_an_unknown_version_or_without_an_author_key_is_refused(client):
    active = client.get("/v1/packs", headers=AUTHOR).get_json()["active"]
    body = {"share": 0.1, "duration": "60s"}
    refused = client.post(f"/v1/packs/{active}/shadow", headers=AUTHOR, json=body)
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "shadow_refused"
    assert client.post("/v1/packs/sha256:0123456789abcdef/shadow", headers=AUTHOR,
                       json=body).status_code == 404
    assert client.post("/v1/packs/nonsense/shadow", headers=AUTHOR, json=body).status_code == 404
    assert client.post(f"/v1/packs/{active}/shadow", headers=CHANNEL, json=body).status_code == 403
    assert client.get(f"/v1/packs/{active}/shadow", headers=AUTHOR).status_code == 404


def test_only_the_drawn_share_of_requests_is_shadowed():
    draws = iter([0.05, 0.5, 0.09, 0.99, 0.1])
    store = MemoryShadowStore()
    service = ShadowService(store, plan_of=lambda h: None, active=lambda: "sha256:active",
                            backend=lambda: None, clock=lambda: T0,
                            draw=lambda: next(draws))
    service.start("sha256:candidate", 0.1, timedelta(minutes=1), Actor("author"))
    assert [service.sample() is not None for _ in range(5)] == [True, False, True, False, False]


# Over real HTTP: two gunicorn workers add to one report in the store.

@pytest.fixture(params=["sqlite", "redis"])
def served(request, tmp_path):
    redis = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/nba.db"
    else:
        redis = RedisServer().start()
        url = redis.url
    env = {"NBA_STORE_URL": url, "NBA_PACK": str(PACKS / "shop.yaml"), "NBA_API_KEYS": KEYS,
           "NBA_LOG_LEVEL": "WARNING"}
    server = Gunicorn("wsgi:app", env, tmp_path / "gunicorn.log")
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()
        if redis is not None:
            redis.stop()


def test_two_workers_add_their_comparisons_to_one_report(served):
    session = threading.local()

    def call(method: str, path: str, headers=AUTHOR, **kwargs) -> requests.Response:
        if not hasattr(session, "s"):
            session.s = requests.Session()
        return session.s.request(method, served.url + path, headers=headers, timeout=30, **kwargs)

    spends = {f"c{n}": (500 if n % 3 else 10) for n in range(30)}
    for contact, spend in spends.items():
        assert call("PUT", f"/v1/contacts/{contact}", CHANNEL, json={
            "profile": {"total_spend": spend}, "consents": {"email": True}}).status_code == 200
    candidate = upload_candidate(lambda path, **kw: call("POST", path, **kw))
    assert call("POST", f"/v1/packs/{candidate}/shadow",
                json={"share": 1, "duration": "10m"}).status_code == 201

    def live(contact: str) -> dict:
        answer = call("POST", "/v1/decisions", CHANNEL, json={
            "contact_id": contact, "channel": "email", "at": "2026-11-23T10:00:00Z"})
        assert answer.status_code == 200, answer.text
        return answer.json()

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(live, list(spends) * 2))
    assert {a["actions"][0]["action_id"] for a in answers} == {"newsletter"}
    report = wait_for_comparisons(call, candidate, len(answers))
    big = sum(1 for s in spends.values() if s >= 100) * 2
    assert (report["compared"], report["differing"]) == (len(answers), big)
    assert report["by_channel"]["email"] == {"compared": len(answers), "differing": big}
    assert report["changes"] == [{"active": "newsletter", "candidate": "promo", "count": big}]
    assert len(report["examples"]) == 10
    histories = [call("GET", f"/v1/contacts/{c}/history", CHANNEL).json()["entries"]
                 for c in spends]
    assert all([e["action_id"] for e in h] == ["newsletter", "newsletter"] for h in histories)


def wait_for_comparisons(call, candidate: str, expected: int) -> dict:
    """The report once every comparison is counted: each is made after its answer
    was sent, so the last ones may still be running when the load ends."""
    report: dict = {}
    for _ in range(300):
        report = call("GET", f"/v1/packs/{candidate}/shadow").json()
        if report["compared"] >= expected:
            return report
        threading.Event().wait(0.05)
    raise AssertionError(f"only {report.get('compared')} of {expected} comparisons counted")
