"""Experiments: holdouts, variants and journey splits, from the pack language to
the reports, through the real service over in-memory stores (the stores' own
contract is tests/test_experiment_store_contract.py)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from api import create_app
from engine.errors import InvalidPack
from engine.language.compiler import compile_pack
from engine.learning.experiment_report import experiment_report, winner
from engine.learning.experiments import CONTROL, TREATMENT, arm_of, bucket
from engine.learning.memory import MemoryExperimentStore
from engine.learning.tracking import ArmCounts, ExperimentTracker
from engine.memory import MemoryStore
from engine.model import ContactRecord, DecisionRequest, OutcomeReport
from engine.service import ActivePack, DecisionService
from tests.conftest import ROOT

NOW = datetime(2026, 12, 3, 10, 0, tzinfo=timezone.utc)
PACK = """
pack: trial
version: "1"
timezone: Europe/Paris
channels:
  email: {}
actions:
  - id: receipt
    program: receipts
    kind: service
    channels: [email]
    priority: 90
  - id: promo
    program: promotion
    kind: commercial
    channels: [email]
    priority: 50
    content:
      email: {subject: "Original"}
experiments:
  - id: holdout
    holdout: {share: 0.25}
    goal: {event: order_placed, value: total}
  - id: subject_line
    action: promo
    variants:
      a: {content: {email: {subject: "Variant A"}}}
      b: {share: 1, content: {email: {subject: "Variant B {{ contact.first_name }}"}}}
    goal: {outcome: clicked}
    auto_optimise: 20
"""


def plan(source: str = PACK):
    return compile_pack(source.encode(), "trial.yaml")


def problems(source: str) -> list[str]:
    with pytest.raises(InvalidPack) as caught:
        plan(source)
    return [p.message for p in caught.value.problems]


def contacts_in(experiment, arm: str, count: int, prefix: str = "c") -> list[str]:
    found, number = [], 0
    while len(found) < count:
        contact = f"{prefix}{number}"
        if arm_of(experiment, contact) == arm:
            found.append(contact)
        number += 1
    return found


class Lab:
    def __init__(self, source: str = PACK):
        self.plan = plan(source)
        self.store = MemoryStore()
        self.members = MemoryExperimentStore()
        self.tracker = ExperimentTracker(self.members, lambda: NOW, flush_s=0, refresh_s=0)
        self.service = DecisionService(self.store, ActivePack(self.plan), experiments=self.tracker)

    def experiment(self, experiment_id: str):
        return next(e for e in self.plan.experiments if e.id == experiment_id)

    def decide(self, contact_id: str, **options):
        self.store.put_contact(ContactRecord(contact_id, {"first_name": "Ana"},
                                             {"email": True}))
        return self.service.decide(DecisionRequest(contact_id=contact_id, channel="email",
                                                   at=NOW, limit=2, **options))


# --- the language ----------------------------------------------------------------

@pytest.mark.parametrize("change, expected", [
    (("holdout: {share: 0.25}", "holdout: {share: 0.9}"), "out of range"),
    (("goal: {event: order_placed, value: total}", "goal: {outcome: converted}"),
     "a holdout's control group gets no message"),
    (("action: promo", "action: nope"), "unknown action 'nope'"),
    (("    goal: {outcome: clicked}\n", "    goal: {outcome: liked}\n"), "goal.outcome is one of"),
    (("  - id: subject_line", "  - id: holdout"), "declared twice"),
    (("      b: {share: 1, content: {email: {subject: \"Variant B {{ contact.first_name }}\"}}}\n",
      ""), "at least two variants"),
])
def test_mistakes_in_experiments_are_refused(change, expected):
    found = problems(PACK.replace(*change, 1))
    assert any(expected in p for p in found), found


def test_a_split_experiment_names_a_split_step_of_a_journey():
    source = PACK + """
  - id: delay
    journey: nowhere
    split: later
    goal: {outcome: clicked}
"""
    assert any("unknown journey 'nowhere'" in p for p in problems(source))


# --- assignment ----------------------------------------------------------------------

def test_assignment_is_stable_and_close_to_the_share():
    experiment = plan().experiments[0]
    arms = [arm_of(experiment, f"contact-{n}") for n in range(4000)]
    assert arms == [arm_of(experiment, f"contact-{n}") for n in range(4000)]
    assert 0.22 < arms.count(CONTROL) / len(arms) < 0.28
    assert bucket("holdout", "x") != bucket("other", "x")  # experiments assign independently


def test_a_control_contact_gets_no_marketing_but_its_service_message_goes():
    lab = Lab()
    contact = contacts_in(lab.experiment("holdout"), CONTROL, 1)[0]
    result = lab.decide(contact, explain=True)
    assert [a.action_id for a in result.decision.actions] == ["receipt"]
    held = next(e for e in result.decision.excluded if e.action_id == "promo")
    assert held.policy == "holdout" and "control group of experiment holdout" in held.reason
    assert result.decision.experiments["holdout"] == CONTROL


def test_a_treatment_contact_gets_its_variant_content_and_the_decision_says_which():
    lab = Lab()
    contact = contacts_in(lab.experiment("holdout"), TREATMENT, 1)[0]
    arm = arm_of(lab.experiment("subject_line"), contact)
    result = lab.decide(contact, explain=True)
    promo = next(a for a in result.decision.actions if a.action_id == "promo")
    assert promo.content["subject"] == ("Variant A" if arm == "a" else "Variant B Ana")
    assert f"content of variant {arm} of experiment subject_line" in promo.reasons
    assert result.decision.experiments == {"holdout": TREATMENT, "subject_line": arm}


def test_generated_code_agrees_with_the_closures_on_holdouts():
    from engine.decision.decide import decide, decide_with_closures
    from engine.model import ContactSnapshot

    compiled = plan()
    for number in range(40):
        snapshot = ContactSnapshot(f"c{number}", consents={"email": True})
        request = DecisionRequest(contact_id=f"c{number}", channel="email", at=NOW, limit=2)
        assert decide(compiled, snapshot, request, "d") == \
            decide_with_closures(compiled, snapshot, request, "d")


# --- tracking and reports ----------------------------------------------------------------

def test_the_holdout_report_counts_contacts_and_orders_per_arm():
    lab = Lab()
    holdout = lab.experiment("holdout")
    control = contacts_in(holdout, CONTROL, 4)
    treated = contacts_in(holdout, TREATMENT, 6)
    for contact in control + treated + control:  # a contact is counted once
        lab.decide(contact)
    from engine.journeys.model import ContactEvent

    for number, contact in enumerate([control[0], *treated[:3], treated[0]]):
        lab.tracker.event_ingested(lab.plan, ContactEvent(f"e{number}", contact, "order_placed",
                                                          NOW, {"total": 50}))
    arms = lab.tracker.arms("holdout")
    assert arms[CONTROL] == ArmCounts(4, 1, 50.0, 0, 0)
    assert arms[TREATMENT] == ArmCounts(6, 3, 150.0, 0, 0)  # a second order is no conversion
    report = experiment_report(holdout, arms)
    treatment = next(a for a in report["arms"] if a["arm"] == TREATMENT)
    assert treatment["rate"] == 0.5 and treatment["lift"] == 0.25
    assert treatment["lift_low"] < 0 < treatment["lift_high"]  # 10 contacts prove nothing
    assert treatment["significant"] is False


def test_clicks_on_a_variant_count_for_its_arm_and_unsubscriptions_too():
    lab = Lab()
    results = [lab.decide(c) for c in contacts_in(lab.experiment("holdout"), TREATMENT, 12)]
    for result in results:
        lab.service.record_outcome(OutcomeReport(result.decision_id, "promo", "clicked", NOW))
    lab.service.record_outcome(OutcomeReport(results[0].decision_id, "promo", "unsubscribed",
                                             NOW))
    arms = lab.tracker.arms("subject_line")
    assert sum(a.units for a in arms.values()) == 12
    assert sum(a.conversions for a in arms.values()) == 12
    assert sum(a.unsubscribed for a in arms.values()) == 1


def test_auto_optimise_concludes_on_a_significant_winner_and_serves_it():
    lab = Lab()
    experiment = lab.experiment("subject_line")
    assert winner(experiment, {"a": ArmCounts(20, 2), "b": ArmCounts(19, 15)}) is None  # sample
    assert winner(experiment, {"a": ArmCounts(20, 9), "b": ArmCounts(20, 11)}) is None  # noise
    treated = contacts_in(lab.experiment("holdout"), TREATMENT, 80)
    for contact in treated:
        result = lab.decide(contact)
        if result.decision.experiments["subject_line"] == "b":
            lab.service.record_outcome(OutcomeReport(result.decision_id, "promo", "clicked", NOW))
    lab.decide(treated[0])  # the tracker looks again
    assert lab.plan.winners == {"subject_line": "b"}
    late = [lab.decide(c).decision for c in contacts_in(lab.experiment("holdout"), TREATMENT, 10,
                                                         prefix="late")]
    assert all(d.experiments["subject_line"] == "b" for d in late)
    assert all(a.content["subject"] == "Variant B Ana" for d in late for a in d.actions
               if a.action_id == "promo")


def test_a_dry_run_joins_no_experiment():
    lab = Lab()
    lab.decide("c1", dry_run=True)
    assert lab.tracker.arms("holdout") == {}


# --- the shipped pack over the API -----------------------------------------------------------

def test_the_welcome_delay_split_reports_runs_and_clicks_per_branch():
    clock = [NOW]
    app = create_app({"NBA_STORE": MemoryStore(), "NBA_PACK": str(ROOT / "rules/retail.yaml"),
                      "NBA_CLOCK": lambda: clock[0], "NBA_LEARNING_FLUSH_S": 0,
                      "NBA_LEARNING_REFRESH_S": 0})
    client = app.test_client()
    nba = app.extensions["nba"]
    for number in range(30):
        contact = f"w{number}"
        client.put(f"/v1/contacts/{contact}", json={"consents": {"email": True}})
        assert client.post("/v1/events", json={"event_id": f"s{number}", "contact_id": contact,
                                                "type": "signed_up"}).status_code == 200
    for _ in range(5):  # a day at a time: the welcome email, then the tips
        clock[0] += timedelta(days=1)
        nba.journeys.run_due(clock[0], limit=1000)
    sent = [entry for number in range(30) for entry in nba.store.history(f"w{number}")
            if entry.step_id in ("tips_after_1d", "tips_after_3d")]
    assert len(sent) == 30
    for entry in sent[:12]:
        client.post("/v1/outcomes", json={"decision_id": entry.decision_id,
                                          "action_id": entry.action_id, "outcome": "clicked"})
    report = client.get("/v1/experiments/welcome_tips_delay").get_json()
    assert report["unit"] == "run" and report["kind"] == "split"
    arms = {a["arm"]: a for a in report["arms"]}
    assert set(arms) == {"one_day", "three_days"}
    assert arms["one_day"]["units"] + arms["three_days"]["units"] == 30
    assert arms["one_day"]["conversions"] + arms["three_days"]["conversions"] == 12
    assert all(a["rate_low"] <= a["rate"] <= a["rate_high"] for a in arms.values())


def test_an_unknown_experiment_is_a_404_naming_the_known_ones():
    app = create_app({"NBA_STORE": MemoryStore(), "NBA_PACK": str(ROOT / "rules/retail.yaml")})
    answer = app.test_client().get("/v1/experiments/nope")
    assert answer.status_code == 404
    assert "global_holdout" in answer.get_json()["error"]["message"]


def test_no_experiment_or_learning_query_causes_a_500():
    from urllib.parse import quote

    from hypothesis import given, settings
    from hypothesis import strategies as st

    app = create_app({"NBA_STORE": MemoryStore(), "NBA_PACK": str(ROOT / "rules/retail.yaml")})
    client = app.test_client()

    @settings(max_examples=60, deadline=None)
    @given(st.text(min_size=1, max_size=40))
    def probe(text):
        for path in (f"/v1/experiments/{quote(text, safe='')}",
                     f"/v1/learning?action={quote(text, safe='')}"):
            assert client.get(path).status_code in (200, 404), path

    probe()
