"""GET /v1/reports/programs over the API: who may read it, bad queries are 400s,
and decisions and outcomes posted through the API appear in it; with two real
gunicorn workers on SQLite and on Redis, what either worker recorded is reported
by both."""
from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta, timezone

import pytest
import requests

from api import create_app
from engine.memory import MemoryStore
from engine.reports.model import Tally
from tests.conftest import ROOT
from tests.servers import Gunicorn

KEYS = "chan-key-123:channel,auth-key-12:author,admin-key-12:admin"
CHANNEL = {"Authorization": "Bearer chan-key-123"}
AUTHOR = {"Authorization": "Bearer auth-key-12"}
ADMIN = {"Authorization": "Bearer admin-key-12"}
RETAIL = str(ROOT / "rules" / "retail.yaml")
AT = "2026-11-23T10:00:00Z"
RANGE = "from=2026-11-23&to=2026-11-24"
LAPSED_VIP = {"profile": {"first_name": "Ana", "orders_count": 6, "last_order_at": "2026-06-01",
                          "total_spend": 2400, "scores": {"appetence": 0.3, "attrition": 0.7}},
              "consents": {"email": True, "sms": True, "call": True}}


@pytest.fixture
def client():
    app = create_app({"NBA_STORE": MemoryStore(), "NBA_PACK": RETAIL, "NBA_API_KEYS": KEYS,
                      "NBA_REPORTS_FLUSH_S": 3600,
                      "NBA_CLOCK": lambda: datetime(2026, 11, 23, 12, tzinfo=timezone.utc)})
    return app.test_client()


def call_and_answer(http, base: str, contact: str, outcomes: list[tuple[str, float | None]]):
    """A lapsed VIP called (winback_call, 3.5 per call), then ``outcomes`` posted."""
    assert http.put(f"{base}/v1/contacts/{contact}", headers=CHANNEL,
                    json=LAPSED_VIP).status_code == 200
    answer = http.post(f"{base}/v1/decisions", headers=CHANNEL,
                       json={"contact_id": contact, "channel": "call", "at": AT})
    decision = answer.get_json() if hasattr(answer, "get_json") else answer.json()
    assert decision["actions"][0]["action_id"] == "winback_call"
    for outcome, value in outcomes:
        body = {"decision_id": decision["decision_id"], "action_id": "winback_call",
                "outcome": outcome, **({"value": value} if value is not None else {})}
        assert http.post(f"{base}/v1/outcomes", headers=CHANNEL, json=body).status_code == 200


def reactivation(report: dict) -> dict:
    return next(p for p in report["programs"] if p["program"] == "reactivation")


def test_authors_and_admins_read_reports_and_channels_may_not(client):
    assert client.get("/v1/reports/programs").status_code == 401
    assert client.get("/v1/reports/programs", headers=CHANNEL).status_code == 403
    for key in (AUTHOR, ADMIN):
        answer = client.get("/v1/reports/programs", headers=key)
        assert answer.status_code == 200
        body = answer.get_json()
        assert (body["from"], body["to"]) == ("2026-10-27", "2026-11-24")
        assert body["programs"] == [] and body["costs"] == {"unsubscribed": 40.0,
                                                            "complained": 60.0}


def test_decisions_and_outcomes_posted_appear_in_the_report_at_once(client):
    call_and_answer(client, "", "c1", [("converted", 250.0)])
    call_and_answer(client, "", "c2", [("unsubscribed", None)])
    call_and_answer(client, "", "c3", [("rejected", None), ("complained", None)])
    answer = client.get(f"/v1/reports/programs?{RANGE}", headers=AUTHOR)
    assert answer.status_code == 200
    program = reactivation(answer.get_json())
    assert (program["messages"], program["contacts"], program["cost"]) == (3, 3, 10.5)
    assert (program["conversions"], program["revenue"]) == (1, 250.0)
    assert (program["unsubscriptions"], program["complaints"]) == (1, 1)
    assert program["churn_cost"] == 100.0
    assert program["net_value"] == 250 - 10.5 - 100
    assert program["roi"] == pytest.approx(139.5 / 10.5, abs=1e-6)
    assert program["actions"][0]["action"] == "winback_call"
    empty = client.get("/v1/reports/programs?from=2026-11-24&to=2026-11-30", headers=AUTHOR)
    assert empty.get_json()["programs"] == []


@pytest.mark.parametrize("query, message", [
    ("from=2026-13-01&to=2026-12-02", "YYYY-MM-DD"),
    ("from=yesterday", "YYYY-MM-DD"),
    ("from=2026-12-02&to=2026-12-01", "is after to"),
    ("from=2025-01-01&to=2026-12-01", "at most 400 days"),
    ("to=0001-01-01", "no report range"),
    ("from=9999-12-31", "is after to"),
    ("from=2026-12-01&program=x", "see fields"),
    ("from=", "YYYY-MM-DD"),
])
def test_a_bad_query_is_a_400_that_says_what_is_wrong(client, query, message):
    answer = client.get(f"/v1/reports/programs?{query}", headers=AUTHOR)
    assert answer.status_code == 400
    error = answer.get_json()["error"]
    assert error["code"] == "bad_report_query" and message in error["message"]


def test_the_report_is_in_the_openapi_document(client):
    spec = client.get("/openapi.json").get_json()
    assert "/v1/reports/programs" in spec["paths"]
    assert "ProgramReport" in spec["components"]["schemas"]


@pytest.mark.slow
def test_two_workers_report_what_either_recorded(store_url, tmp_path):
    env = {"NBA_PACK": RETAIL, "NBA_STORE_URL": store_url, "NBA_API_KEYS": KEYS,
           "NBA_REPORTS_FLUSH_S": "0.2"}
    server = Gunicorn("wsgi:app", env, tmp_path / "gunicorn.log")
    try:
        server.wait_ready()
        http = requests  # a connection per request, four at once: both workers get some

        def flow(number: int) -> int:
            outcomes = [("converted", 100.0)] if number % 4 == 0 else []
            if number == 5:
                outcomes = [("unsubscribed", None)]
            call_and_answer(http, server.url, f"c{number}", outcomes)
            return http.get(f"{server.url}/healthz", timeout=10).json()["worker_pid"]

        pids: set[int] = set()
        done = 0
        with ThreadPoolExecutor(4) as pool:  # until both workers answered (48 flows at most)
            while done < 12 or (len(pids) < 2 and done < 48):
                pids |= set(pool.map(flow, range(done, done + 4)))
                done += 4
        conversions = len(range(0, done, 4))
        program = _wait_for_messages(http, server.url, done, conversions)
    finally:
        server.stop()
    assert len(pids) == 2
    assert (program["messages"], program["cost"]) == (done, 3.5 * done)
    assert (program["conversions"], program["revenue"], program["unsubscriptions"]) == \
        (conversions, 100.0 * conversions, 1)
    assert program["net_value"] == 100 * conversions - 3.5 * done - 40
    assert program["contacts"] == done


def _wait_for_messages(http, url: str, expected: int, conversions: int) -> dict:
    """The reactivation row once several answers in a row (from either worker) count
    every message, or the last one seen after 20 s."""
    deadline = time.monotonic() + 20
    rows: list[dict] = []
    while time.monotonic() < deadline:
        rows = [reactivation(http.get(f"{url}/v1/reports/programs?{RANGE}", headers=AUTHOR,
                                      timeout=10).json()) for _ in range(6)]
        if all(row["messages"] == expected and row["conversions"] == conversions
               for row in rows):
            return rows[-1]
        time.sleep(0.3)
    return rows[-1]


@pytest.mark.slow
def test_a_year_of_counters_on_redis_is_reported(redis_server):
    # 400 days of 40 rows with 100 contacts each (16,000 HyperLogLogs): reads that can
    # take longer than the 50 ms a decision allows a Redis call, which is why reports
    # read with their own timeout (NBA_REPORTS_READ_TIMEOUT_MS; this machine's timing
    # varies too much to prove that 50 ms fails).
    redis_server.cli("FLUSHALL")
    app = create_app({"NBA_STORE_URL": redis_server.url, "NBA_PACK": RETAIL,
                      "NBA_API_KEYS": KEYS})
    writer = app.extensions["nba"].reports.store
    first = date(2025, 11, 1)
    for n in range(400):
        day = first + timedelta(days=n)
        rows = {(day, f"p{k // 2}", f"a{k}", "email"): Tally(100, 0.2, 30.0, {"converted": 1})
                for k in range(40)}
        writer.add("retail", uuid.uuid4().hex, rows,
                   {row: frozenset(f"c{n}-{i}" for i in range(100)) for row in rows})
    answer = app.test_client().get("/v1/reports/programs?from=2025-11-01&to=2026-12-06",
                                   headers=AUTHOR)
    assert answer.status_code == 200, answer.get_json()
    totals = answer.get_json()["totals"]
    assert (totals["messages"], totals["conversions"]) == (1_600_000, 16_000)
