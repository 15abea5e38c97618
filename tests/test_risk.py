"""The cost of pressure in the arbitration: risk.unsubscribe learned per channel
and pressure group from recorded messages and unsubscriptions, and min_score
keeping a message whose expected churn costs more than it brings from going."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from engine.decision.decide import decide, decide_with_closures
from engine.language.compiler import compile_pack
from engine.learning.learner import Learner
from engine.learning.memory import MemoryLearningStore
from engine.learning.risk import group, points
from engine.memory import MemoryStore
from engine.model import ContactRecord, ContactSnapshot, DecisionRequest, OutcomeReport
from engine.service import ActivePack, DecisionService

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
PACK = """
pack: fatigue
version: "1"
timezone: UTC
channels:
  email: {cost: 0.01, consent: opt_out}
actions:
  - {id: offer, program: offers, kind: commercial, channels: [email], value: 2,
     propensity: 0.05}
policies:
  pressure:
    - {id: points, budget: 100, per: 7d, weights: {email: 1}}
  arbitration: "propensity * value - cost - risk.unsubscribe * 40"
  min_score: 0
"""


def shop():
    plan = compile_pack(PACK.encode(), "fatigue.yaml")
    store = MemoryStore()
    learner = Learner(MemoryLearningStore(), lambda: NOW, refresh_s=0, flush_s=0)
    return plan, store, DecisionService(store, ActivePack(plan), learner=learner)


def test_pressure_points_count_the_last_seven_days_by_weight():
    plan = compile_pack(PACK.encode(), "fatigue.yaml")
    _, store, service = shop()
    for day in range(9):
        store.put_contact(ContactRecord("c", {}, {}))
        service.decide(DecisionRequest(contact_id="c", channel="email",
                                       at=NOW + timedelta(days=day)))
    history = store.history("c")
    assert points(history, NOW + timedelta(days=9), plan.risk_weights) == 7
    assert [group(p) for p in (0, 2, 3, 9, 10, 30)] == ["p0", "p1", "p3", "p6", "p10", "p10"]


def test_at_first_the_prior_risk_lets_the_message_go():
    plan, store, service = shop()
    result = service.decide(DecisionRequest(contact_id="c", channel="email", at=NOW,
                                            explain=True))
    assert [a.action_id for a in result.decision.actions] == ["offer"]
    # 0.05 * 2 - 0.01 - 0.002 * 40 = 0.01
    assert abs(result.decision.actions[0].score - 0.01) < 0.001


def test_unsubscriptions_under_pressure_raise_the_risk_and_stop_the_heavy_sends():
    plan, store, service = shop()
    # 60 contacts receive a message a day for six days; those at 3 points or more
    # unsubscribe one time in ten.
    for number in range(200):
        contact = f"c{number}"
        for day in range(6):
            result = service.decide(DecisionRequest(contact_id=contact, channel="email",
                                                    at=NOW + timedelta(days=day)))
            if not result.decision.actions:
                break
            if day >= 3 and number % 10 == day:
                service.record_outcome(OutcomeReport(result.decision_id, "offer",
                                                     "unsubscribed", NOW + timedelta(days=day)))
    light = service.decide(DecisionRequest(contact_id="new", channel="email",
                                           at=NOW + timedelta(days=7), explain=True))
    assert [a.action_id for a in light.decision.actions] == ["offer"]  # no pressure: it goes
    heavy = service.decide(DecisionRequest(contact_id="c5", channel="email",
                                           at=NOW + timedelta(days=6), explain=True))
    assert heavy.decision.actions == ()
    assert heavy.decision.excluded[0].policy == "score"
    assert "below the pack's min_score" in heavy.decision.excluded[0].reason


def test_the_generated_code_reads_risk_as_the_closures_do():
    plan, store, service = shop()
    for day in range(4):
        service.decide(DecisionRequest(contact_id="c", channel="email",
                                       at=NOW + timedelta(days=day)))
    snapshot = ContactSnapshot("c", history=store.history("c"))
    request = DecisionRequest(contact_id="c", channel="email", at=NOW + timedelta(days=5))
    assert decide(plan, snapshot, request, "d") == decide_with_closures(plan, snapshot, request,
                                                                        "d")
    assert plan.programs.get("email") is not None  # generated, not refused
