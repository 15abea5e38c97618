"""Simulation: a population day by day through the real decision path, reported
per action and channel, with pressure hits and contacts who got nothing; the CLI
reads JSON Lines and CSV; authors ask the service for a sample."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from engine.authoring.population import InvalidPopulation, read_population
from engine.authoring.simulate import compare, simulate
from engine.language.compiler import load_pack
from engine.model import ContactRecord
from tests.conftest import PACKS, ROOT, at, engine_backend
from tests.test_packs_api import ADMIN, AUTHOR, CHANNEL, make_client, variant

START = at("2026-11-20T08:00:00Z")


def population(count: int = 4) -> list[ContactRecord]:
    return [ContactRecord(f"c{n}", {"first_name": "Ana"}, {"email": True}) for n in range(count)]


def test_a_week_of_decisions_respects_the_packs_caps_and_gaps():
    plan = load_pack(PACKS / "minimal.yaml")
    report = simulate(plan, population(4) + [ContactRecord(
        "mute", {}, {"email": False, "sms": False, "call": False})], 7, START,
                      engine_backend())
    answer = report.as_dict()
    assert report.decisions == 5 * 7 * 3  # contacts x days x outbound channels
    commercial = sum(r["messages"] for r in answer["sent"] if r["action"].startswith("promo"))
    assert 0 < commercial <= 4 * 3  # weekly_promotions: 3 promotions per 7 days per contact
    assert answer["pressure_hits"]["breathing_space"] > 0
    assert answer["contacts_with_nothing"] == 1  # consent refused on every channel
    assert sum(answer["per_day"][day].get("email", 0) for day in answer["per_day"]) == \
        answer["per_channel"]["email"]
    assert list(answer["per_day"])[0] == "2026-11-20"


def test_comparing_two_packs_gives_each_volume_and_the_difference():
    plan = load_pack(PACKS / "minimal.yaml")
    stricter = load_pack(PACKS / "cap.yaml")
    report = simulate(plan, population(), 5, START, engine_backend())
    other = simulate(stricter, population(), 5, START, engine_backend())
    comparison = compare(report, other)
    rows = {(r["action"], r["channel"]): r for r in comparison["sent"]}
    for row in rows.values():
        assert row["difference"] == row["messages"] - row["against"]
    assert comparison["against"] == stricter.hash


def test_populations_are_read_from_json_lines_and_csv():
    jsonl = read_population('{"id": "a", "profile": {"x": 1}, "consents": {"email": true}}\n\n'
                            '{"contact_id": 7}\n', "jsonl")
    assert [(c.contact_id, dict(c.profile), dict(c.consents)) for c in jsonl] == [
        ("a", {"x": 1}, {"email": True}), ("7", {}, {})]
    csv = read_population("id,total_spend,scores.appetence,vip,consents.email,city\n"
                          "b,2400,0.3,true,yes,\n", "csv")
    assert dict(csv[0].profile) == {"total_spend": 2400, "scores": {"appetence": 0.3},
                                    "vip": True}
    assert dict(csv[0].consents) == {"email": True}


@pytest.mark.parametrize("text, kind, words", [
    ("{not json\n", "jsonl", "line 1: not JSON"),
    ('{"profile": {}}\n', "jsonl", "line 1: a contact needs an id"),
    ('{"id": "a", "consents": {"email": "yes"}}\n', "jsonl", "consents an object"),
    ("id,consents.email\na,perhaps\n", "csv", "line 2: consents.email is true or false"),
    ("", "csv", "no contact"),
])
def test_a_bad_contacts_file_names_the_line_to_blame(text, kind, words):
    with pytest.raises(InvalidPopulation, match=words):
        read_population(text, kind)


def test_the_cli_prints_the_report_and_compares(tmp_path):
    contacts = tmp_path / "contacts.jsonl"
    contacts.write_text("\n".join(json.dumps({"id": f"c{n}", "consents": {"email": True}})
                                  for n in range(3)))
    done = subprocess.run([sys.executable, "-m", "engine", "simulate",
                           str(PACKS / "minimal.yaml"), "--contacts", str(contacts), "--days",
                           "3", "--start", "2026-11-20", "--against", str(PACKS / "cap.yaml"),
                           "--json"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["contacts"] == 3 and report["days"] == 3 and "comparison" in report
    assert "day 3/3" in done.stderr  # the progress bar
    bad = subprocess.run([sys.executable, "-m", "engine", "simulate",
                          str(PACKS / "minimal.yaml"), "--contacts", str(tmp_path / "none.csv")],
                         cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 2 and "simulate:" in bad.stderr


def test_authors_simulate_a_stored_version_against_the_active_one(tmp_path):
    client = make_client(tmp_path)
    stored = client.post("/v1/packs", data=variant(priority="95"), headers=AUTHOR,
                         content_type="application/yaml").get_json()["pack"]["hash"]
    body = {"contacts": [{"id": f"c{n}", "consents": {"email": True}} for n in range(3)],
            "days": 5, "start": "2026-11-20T08:00:00Z", "against": "active"}
    answer = client.post(f"/v1/packs/{stored}/simulate", headers=AUTHOR, json=body)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    report = answer.get_json()
    assert report["pack"] == stored and report["decisions"] == 3 * 5 * 3
    assert report["comparison"]["against"] != stored
    assert client.post(f"/v1/packs/{stored}/simulate", headers=CHANNEL, json=body) \
        .status_code == 403
    assert client.get("/v1/packs", headers=ADMIN).get_json()["active"] != stored


@pytest.mark.parametrize("body, status", [
    ({"contacts": [], "days": 3}, 422),
    ({"contacts": [{"id": "a"}], "days": 0}, 422),
    ({"contacts": [{"id": "a", "consents": {"email": "yes"}}]}, 422),
    ({"contacts": [{"id": f"c{n}"} for n in range(500)], "days": 30}, 422),
    ({"contacts": [{"id": "a"}], "against": "sha256:ffffffffffffffff"}, 404),
])
def test_bad_simulation_requests_get_a_clear_error(tmp_path, body, status):
    client = make_client(tmp_path)
    active = client.get("/v1/packs", headers=AUTHOR).get_json()["active"]
    answer = client.post(f"/v1/packs/{active}/simulate", headers=AUTHOR, json=body)
    assert answer.status_code == status and answer.get_json()["error"]["message"]


def test_the_plot_draws_volumes_per_day_per_channel_to_a_png(tmp_path):
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("id,consents.email,consents.sms\na,true,true\nb,true,false\n")
    png = tmp_path / "volumes.png"
    done = subprocess.run([sys.executable, "-m", "engine", "simulate",
                           str(PACKS / "minimal.yaml"), "--contacts", str(contacts), "--days",
                           "4", "--start", "2026-11-20", "--plot", str(png)], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "messages per action and channel:" in done.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
