"""Incremental revenue against the retail pack's global holdout, through the real
wiring on SQLite and on Redis: contacts of both arms are decided for and post
orders over the API, and GET /v1/reports/programs (and, on SQLite,
``python -m engine report programs``) shows what the treated contacts earned
beyond the control group, for the days asked."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from api import create_app
from engine.language.compiler import load_pack
from engine.learning.experiments import CONTROL, TREATMENT, arm_of
from tests.conftest import ROOT
from tests.test_reports_api import AUTHOR, CHANNEL, KEYS, RETAIL, call_and_answer

# Treatment: 60 contacts, 12 ordered 100 and one of them 50 more: 1250, 20.83 each.
# Control: 30 contacts, 3 ordered 100: 10 each. (20.83 - 10) * 60 = 650.
# Variances (132500 - 1250**2/60) / 59 = 1804.3785 and (30000 - 300**2/30) / 29 = 931.0345;
# standard error 60 * sqrt(1804.3785/60 + 931.0345/30) = 469.0276.
FIGURE, LOW, HIGH = 650.0, -269.2771, 1569.2771


def contacts_in(arm: str, count: int) -> list[str]:
    holdout = next(e for e in load_pack(RETAIL).experiments if e.id == "global_holdout")
    found = [f"h{n}" for n in range(5000) if arm_of(holdout, f"h{n}") == arm]
    return found[:count]


def order(client, contact: str, event_id: str, total: float) -> None:
    answer = client.post("/v1/events", headers=CHANNEL, json={
        "event_id": event_id, "contact_id": contact, "type": "order_placed",
        "data": {"total": total}})
    assert answer.status_code == 200, answer.get_json()


def reactivation(client, query: str) -> tuple[dict, dict]:
    answer = client.get(f"/v1/reports/programs?{query}", headers=AUTHOR)
    assert answer.status_code == 200, answer.get_json()
    report = answer.get_json()
    row = next(p for p in report["programs"] if p["program"] == "reactivation")
    return row, report


def test_the_report_shows_what_treated_contacts_earned_beyond_the_control_group(store_url):
    clock = [datetime(2026, 11, 23, 12, tzinfo=timezone.utc)]
    app = create_app({"NBA_STORE_URL": store_url, "NBA_PACK": RETAIL, "NBA_API_KEYS": KEYS,
                      "NBA_CLOCK": lambda: clock[0], "NBA_REPORTS_FLUSH_S": 0,
                      "NBA_LEARNING_FLUSH_S": 0})
    client = app.test_client()
    treated, control = contacts_in(TREATMENT, 60), contacts_in(CONTROL, 30)
    for contact in treated:
        call_and_answer(client, "", contact, [])  # a winback call each
    for contact in control:  # decided for, nothing sent: they join the control group
        client.put(f"/v1/contacts/{contact}", headers=CHANNEL, json={"consents": {}})
        answer = client.post("/v1/decisions", headers=CHANNEL,
                             json={"contact_id": contact, "channel": "call"})
        assert answer.get_json()["experiments"]["global_holdout"] == CONTROL
    for number, contact in enumerate(treated[:12]):
        order(client, contact, f"t{number}", 100.0)
    order(client, treated[0], "t0", 100.0)  # posted twice: counted once
    order(client, treated[0], "t-second", 50.0)
    for number, contact in enumerate(control[:3]):
        order(client, contact, f"c{number}", 100.0)

    row, report = reactivation(client, "from=2026-11-23&to=2026-11-24")
    assert (row["holdout"], row["incremental_reason"]) == ("global_holdout", None)
    assert row["incremental_revenue"] == pytest.approx(FIGURE, abs=1e-6)
    assert (row["incremental_low"], row["incremental_high"]) == \
        (pytest.approx(LOW, abs=1e-3), pytest.approx(HIGH, abs=1e-3))
    holdout = report["holdouts"][0]
    assert holdout["experiment"] == "global_holdout" and holdout["covers"] is None
    assert holdout["treatment"] == {"units": 60, "goal_events": 13, "revenue": 1250.0,
                                    "revenue_per_unit": pytest.approx(1250 / 60)}
    assert holdout["control"] == {"units": 30, "goal_events": 3, "revenue": 300.0,
                                  "revenue_per_unit": 10.0}
    assert holdout["programs"] == ["reactivation"]

    clock[0] += timedelta(days=1)  # an order of the control group the next day
    order(client, control[3], "c-next-day", 100.0)
    row, _ = reactivation(client, "from=2026-11-23&to=2026-11-24")
    assert row["incremental_revenue"] == pytest.approx(FIGURE, abs=1e-6)
    row, _ = reactivation(client, "from=2026-11-23&to=2026-11-25")
    assert row["incremental_revenue"] == pytest.approx(1250 - 400 / 30 * 60, abs=1e-6)
    if store_url.startswith("sqlite"):
        _the_cli_reports_the_same(store_url)


def _the_cli_reports_the_same(store_url: str) -> None:
    done = subprocess.run([sys.executable, "-m", "engine", "report", "programs", "--store-url",
                           store_url, "--pack", RETAIL, "--from", "2026-11-23", "--to",
                           "2026-11-24", "--json"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    row = next(p for p in json.loads(done.stdout)["programs"] if p["program"] == "reactivation")
    assert math.isclose(row["incremental_revenue"], FIGURE, abs_tol=1e-6)
    table = subprocess.run([sys.executable, "-m", "engine", "report", "programs", "--store-url",
                            store_url, "--pack", RETAIL, "--from", "2026-11-23", "--to",
                            "2026-11-24"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    line = next(x for x in table.stdout.splitlines() if x.strip().startswith("reactivation")
                and "global_holdout" in x)
    assert line.split()[1:] == ["650.00", "[-269.28,", "1,569.28]", "global_holdout"]


def test_a_program_no_holdout_withholds_or_an_empty_control_group_says_why(store_url):
    app = create_app({"NBA_STORE_URL": store_url, "NBA_PACK": RETAIL, "NBA_API_KEYS": KEYS,
                      "NBA_CLOCK": lambda: datetime(2026, 11, 23, 12, tzinfo=timezone.utc),
                      "NBA_REPORTS_FLUSH_S": 0})
    client = app.test_client()
    client.put("/v1/contacts/o1", headers=CHANNEL, json={"consents": {"email": True}})
    answer = client.post("/v1/decisions", headers=CHANNEL, json={
        "contact_id": "o1", "channel": "email", "limit": 3,
        "context": {"event": "order_placed", "order_id": "A-1"}})
    assert "order_confirmation" in [a["action_id"] for a in answer.get_json()["actions"]]
    report = client.get("/v1/reports/programs?from=2026-11-23&to=2026-11-24",
                        headers=AUTHOR).get_json()
    row = next(p for p in report["programs"] if p["program"] == "order_confirmation")
    assert row["incremental_revenue"] is None and row["holdout"] is None
    assert "service or transactional" in row["incremental_reason"]
    promotion = next(p for p in report["programs"] if p["program"] == "promotion")
    assert promotion["holdout"] == "global_holdout" and promotion["incremental_revenue"] is None
    assert "the control group has 0 contacts; at least 30" in promotion["incremental_reason"]
    assert [h["programs"] for h in report["holdouts"]] == [["promotion"]]
    bad = client.get("/v1/reports/programs?from=2026-11-24&to=2026-11-23", headers=AUTHOR)
    assert bad.status_code == 400 and "is after to" in bad.get_json()["error"]["message"]
