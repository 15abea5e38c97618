"""Off-policy evaluation of a candidate pack (``python -m engine evaluate``): on a
simulated log whose truth is known, and on decisions a Thompson-sampling pack
recorded in a real SQLite store with their probabilities."""
from __future__ import annotations

import json
import random
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from engine.errors import EngineError
from engine.language.compiler import compile_pack
from engine.learning.evaluation import LoggedDecision, evaluate
from engine.learning.learner import Learner
from engine.model import ContactRecord, DecisionRequest, OutcomeReport
from engine.service import ActivePack, DecisionService
from store import learning_from_url, store_from_url
from tests.conftest import ROOT

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)
CANDIDATE = """
pack: candidate
version: "1"
timezone: Europe/Paris
channels:
  web: {inbound: true, consent: opt_out}
actions:
  - id: shoes
    program: cross_sell
    kind: commercial
    channels: [web]
    when: contact.likes == "shoes"
    priority: 60
  - id: bags
    program: cross_sell
    kind: commercial
    channels: [web]
    priority: 50
"""
# Click rates by (taste, action): the candidate shows shoes to shoe lovers, bags to others.
RATES = {("shoes", "shoes"): 0.30, ("shoes", "bags"): 0.05,
         ("bags", "shoes"): 0.02, ("bags", "bags"): 0.20}


def simulated_log(rounds: int, seed: int) -> list[LoggedDecision]:
    """A uniform-random logging policy over both actions."""
    rng = random.Random(seed)
    logged = []
    for number in range(rounds):
        taste = "shoes" if rng.random() < 0.4 else "bags"
        action = rng.choice(["shoes", "bags"])
        reward = 1.0 if rng.random() < RATES[(taste, action)] else 0.0
        logged.append(LoggedDecision(f"c{number}", "web", NOW, action, 0.5, reward,
                                     profile={"likes": taste}))
    return logged


def test_the_estimates_cover_the_candidates_true_value():
    truth = 0.4 * RATES[("shoes", "shoes")] + 0.6 * RATES[("bags", "bags")]  # 0.24
    result = evaluate(compile_pack(CANDIDATE.encode(), "c.yaml"), simulated_log(4000, 1))
    assert result.logged_value == pytest.approx(0.1375, abs=0.02)  # what random earned
    assert 0.45 < result.agreement < 0.55
    for estimate in result.estimates:
        assert estimate.low <= truth <= estimate.high, estimate
        assert estimate.high - estimate.low < 0.06
    assert result.support.warnings == ()


def test_a_candidate_choosing_what_the_logs_never_tried_is_flagged():
    logged = [item for item in simulated_log(2000, 2) if item.action == "bags"]
    logged = [LoggedDecision(i.contact_id, i.channel, i.at, i.action, 1.0, i.reward, i.placement,
                             i.profile) for i in logged]
    result = evaluate(compile_pack(CANDIDATE.encode(), "c.yaml"), logged)
    assert any("never tried" in w for w in result.support.warnings)


def test_too_few_decisions_are_refused():
    with pytest.raises(EngineError, match="at least two"):
        evaluate(compile_pack(CANDIDATE.encode(), "c.yaml"), simulated_log(1, 3))


def test_the_cli_evaluates_a_log_and_exits_1_on_a_broken_line(tmp_path):
    log = tmp_path / "log.jsonl"
    log.write_text("\n".join(json.dumps({
        "contact_id": i.contact_id, "channel": i.channel, "at": i.at.isoformat(),
        "action": i.action, "probability": i.probability, "reward": i.reward,
        "profile": dict(i.profile)}) for i in simulated_log(500, 4)) + "\n")
    pack = tmp_path / "candidate.yaml"
    pack.write_text(CANDIDATE)
    done = _cli("--pack", str(pack), "--log", str(log), "--json")
    assert done.returncode == 0, done.stderr
    assert {e["estimator"] for e in json.loads(done.stdout)["estimates"]} == {"ipw", "snipw",
                                                                              "dr"}
    log.write_text(log.read_text() + '{"contact_id": "x", "channel": "web"}\n')
    broken = _cli("--pack", str(pack), "--log", str(log))
    assert broken.returncode == 1 and "log.jsonl:501: not a logged decision" in broken.stderr


def test_decisions_recorded_with_thompson_probabilities_evaluate_from_the_store(tmp_path):
    url = f"sqlite:///{tmp_path / 'nba.db'}"
    learning = CANDIDATE.replace("    when: contact.likes == \"shoes\"\n", "").replace(
        "    priority: 60", "    propensity: learned(0.1)\n    success: clicked").replace(
        "    priority: 50", "    propensity: learned(0.1)\n    success: clicked")
    plan = compile_pack(learning.encode(), "learning.yaml")
    store = store_from_url(url)
    learner = Learner(learning_from_url(url), lambda: NOW, refresh_s=0, flush_s=0)
    service = DecisionService(store, ActivePack(plan), learner=learner)
    rng = random.Random(5)
    for number in range(300):
        taste = "shoes" if number % 5 < 2 else "bags"
        store.put_contact(ContactRecord(f"c{number}", {"likes": taste}, {}))
        result = service.decide(DecisionRequest(contact_id=f"c{number}", channel="web",
                                                at=NOW + timedelta(seconds=number)))
        chosen = result.decision.actions[0].action_id
        if rng.random() < RATES[(taste, chosen)]:
            service.record_outcome(OutcomeReport(result.decision_id, chosen, "clicked", NOW))
    assert any(e.probability is not None for e in store.history("c1"))
    pack = tmp_path / "candidate.yaml"
    pack.write_text(CANDIDATE)
    done = _cli("--pack", str(pack), "--from-store", "--store-url", url, "--reward", "clicked",
                "--json")
    assert done.returncode in (0, 1), done.stderr
    report = json.loads(done.stdout)
    assert report["rounds"] == 300 and 0 < report["agreement"] < 1
    ipw = next(e for e in report["estimates"] if e["estimator"] == "ipw")
    assert ipw["low"] < ipw["value"] < ipw["high"]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine", "evaluate", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
