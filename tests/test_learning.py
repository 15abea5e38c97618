"""Learned propensities: the pack language, the posteriors, Thompson sampling,
the probabilities logged with each choice, and the service learning from
outcomes (in-memory stores through the real wiring; the stores' own contract is
tests/test_learning_store_contract.py)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from engine.decision.decide import decide, decide_with_closures
from engine.errors import InvalidPack
from engine.language.compiler import compile_pack
from engine.learning.learner import Learner
from engine.learning.memory import MemoryLearningStore
from engine.learning.model import Learned
from engine.learning.posterior import Counts, posterior, weight_at
from engine.learning.report import learning_report
from engine.memory import MemoryStore
from engine.model import ContactRecord, ContactSnapshot, DecisionRequest, OutcomeReport
from engine.service import ActivePack, DecisionService

NOW = datetime(2026, 12, 3, 10, 0, tzinfo=timezone.utc)

PACK = """
pack: learner
version: "1"
timezone: Europe/Paris
channels:
  web: {inbound: true, consent: opt_out}
facts:
  - id: vip
    when: contact.tier == "gold"
    set: {lifecycle: vip}
  - id: other
    when: contact.tier != "gold"
    set: {lifecycle: other}
learning:
  success: converted
  prior_weight: 10
  half_life: 30d
  segment_by: [facts.lifecycle]
  exploration: EXPLORATION
actions:
  - id: banner_a
    program: cross_sell
    kind: commercial
    channels: [web]
    propensity: learned(0.1)
    success: clicked
  - id: banner_b
    program: cross_sell
    kind: commercial
    channels: [web]
    propensity: learned(0.1)
    success: clicked
"""


def pack(exploration: str = "thompson", source: str = PACK):
    return compile_pack(source.replace("EXPLORATION", exploration).encode(), "learner.yaml")


def problems(source: str) -> list[str]:
    with pytest.raises(InvalidPack) as caught:
        compile_pack(source.encode(), "bad.yaml")
    return [f"{p.line}: {p.message}" for p in caught.value.problems]


class Shop:
    """A decision service with a learner over in-memory stores."""

    def __init__(self, exploration: str = "thompson"):
        self.plan = pack(exploration)
        self.store = MemoryStore()
        self.counts = MemoryLearningStore()
        self.clock = NOW
        self.learner = Learner(self.counts, lambda: self.clock, refresh_s=0, flush_s=0)
        self.service = DecisionService(self.store, ActivePack(self.plan), learner=self.learner)
        self.number = 0

    def decide(self, contact_id: str = "c1", explain: bool = False):
        self.number += 1
        request = DecisionRequest(contact_id=contact_id, channel="web", at=self.clock,
                                  explain=explain)
        return self.service.decide(request, f"d{self.number:06d}")

    def outcome(self, result, outcome: str = "clicked"):
        action = result.decision.actions[0].action_id
        return self.service.record_outcome(
            OutcomeReport(result.decision_id, action, outcome, self.clock))

    def report(self):
        return learning_report(self.plan, self.learner.refresh(self.plan), self.clock)


# --- the language -------------------------------------------------------------

def test_learned_compiles_to_its_prior_and_success_outcome():
    plan = pack()
    assert plan.action("banner_a").propensity == Learned(0.1, "clicked")
    assert plan.learning.exploration == "thompson"
    assert plan.learning.half_life == timedelta(days=30)
    assert [name for name, _ in plan.learning.segment_by] == ["lifecycle"]


def test_a_pack_without_learned_propensities_has_no_learning():
    source = PACK.replace("learned(0.1)", "0.1").replace("    success: clicked\n", "")
    assert pack(source=source).learning is None


@pytest.mark.parametrize("change, expected", [
    (("learned(0.1)", "learned(1.5)"), "learned(p) takes the prior mean"),
    (("learned(0.1)", "learned(x)"), "learned(p) takes the prior mean"),
    (("success: clicked", "success: liked"), "success is an outcome"),
    (("exploration: EXPLORATION", "exploration: random"), "exploration is one of"),
    (("half_life: 30d", "half_life: 10m"), "half_life is at least 1h"),
    (("segment_by: [facts.lifecycle]", "segment_by: [lifecycle]"), "segment_by lists"),
    (("segment_by: [facts.lifecycle]", "segment_by: [facts.tier]"), "facts.tier is not set"),
])
def test_mistakes_in_learning_are_refused_with_their_line(change, expected):
    found = problems(PACK.replace(*change, 1).replace("EXPLORATION", "thompson"))
    assert any(expected in p for p in found), found
    assert all(p.split(":")[0].isdigit() for p in found)


def test_success_without_a_learned_propensity_is_refused():
    found = problems(PACK.replace("EXPLORATION", "greedy").replace("learned(0.1)", "0.1", 1))
    assert any("success names the outcome a learned propensity learns from" in p for p in found)


# --- posteriors ----------------------------------------------------------------

def test_evidence_counts_half_after_one_half_life():
    half_life = timedelta(days=30)
    then = NOW - half_life
    counts = Counts(10 * weight_at(then, half_life), 4 * weight_at(then, half_life), 10, 4)
    belief = posterior(0.1, 10, counts, NOW, half_life)
    assert belief.evidence == pytest.approx(5)
    assert belief.successes == pytest.approx(2)
    assert belief.mean == pytest.approx((0.1 * 10 + 2) / (10 + 5))


def test_no_evidence_leaves_the_prior():
    assert posterior(0.08, 20, None, NOW, timedelta(days=30)).mean == pytest.approx(0.08)


# --- the service learns ----------------------------------------------------------

def test_outcomes_move_the_posterior_and_the_report_shows_it():
    shop = Shop("greedy")
    for _ in range(20):
        result = shop.decide()
        if result.decision.actions[0].action_id == "banner_a":
            shop.outcome(result)
    rows = {row["action"]: row for row in shop.report()["actions"]}
    exposed = rows["banner_a"]["exposures"]
    assert exposed > 0 and rows["banner_a"]["successes"] == exposed
    assert rows["banner_a"]["posterior_mean"] > 0.1
    assert rows["banner_a"]["segments"][0]["segment"] == "lifecycle=other"
    assert rows["banner_a"]["cold"] is True


def test_a_duplicate_or_another_outcome_is_not_a_success():
    shop = Shop("greedy")
    result = shop.decide()
    shop.outcome(result)
    shop.outcome(result)  # the same outcome again: one effect
    shop.outcome(result, "converted")  # these banners learn from clicks
    row = next(r for r in shop.report()["actions"]
               if r["action"] == result.decision.actions[0].action_id)
    assert (row["exposures"], row["successes"]) == (1, 1)


def test_greedy_keeps_choosing_the_better_posterior():
    shop = Shop("greedy")
    for _ in range(30):
        result = shop.decide()
        if result.decision.actions[0].action_id == "banner_b":
            shop.outcome(result)
    chosen = [shop.decide().decision.actions[0].action_id for _ in range(20)]
    assert chosen == ["banner_b"] * 20


def test_thompson_explores_then_favours_the_action_that_converts():
    shop = Shop("thompson")
    chosen = []
    for _ in range(300):
        result = shop.decide()
        action = result.decision.actions[0].action_id
        chosen.append(action)
        if action == "banner_a" and shop.number % 2 == 0:
            shop.outcome(result)  # banner_a converts half the time, banner_b never
    assert chosen[:40].count("banner_b") > 0  # it tried both
    assert chosen[-100:].count("banner_a") > 80


def test_the_reasons_name_the_propensity_used_its_mean_and_evidence():
    shop = Shop("thompson")
    shop.store.put_contact(ContactRecord("c1", {"tier": "gold"}, {}))
    result = shop.decide(explain=True)
    reasons = result.decision.actions[0].reasons
    learned = next(r for r in reasons if "learned posterior" in r)
    assert "drawn from" in learned and "segment lifecycle=vip" in learned
    assert "mean 0.1" in learned and "evidence 0 exposures" in learned


def test_the_same_decision_id_draws_the_same_propensities():
    plan = pack()
    plan.attach_learner(Learner(MemoryLearningStore(), lambda: NOW, 0, 0))
    snapshot = ContactSnapshot("c1")
    request = DecisionRequest(contact_id="c1", channel="web", at=NOW, explain=True)
    first = decide(plan, snapshot, request, "same")
    assert decide(plan, snapshot, request, "same").actions == first.actions


def test_generated_code_and_closures_agree_on_learned_decisions():
    plan = pack()
    plan.attach_learner(Learner(MemoryLearningStore(), lambda: NOW, 0, 0))
    request = DecisionRequest(contact_id="c1", channel="web", at=NOW, limit=2)
    for number in range(50):
        snapshot = ContactSnapshot("c1", {"tier": "gold" if number % 2 else "silver"})
        fast = decide(plan, snapshot, request, f"d{number}")
        assert fast == decide_with_closures(plan, snapshot, request, f"d{number}")


def test_without_a_learner_a_learned_propensity_is_its_prior():
    plan = pack()
    request = DecisionRequest(contact_id="c1", channel="web", at=NOW, explain=True)
    decision = decide(plan, ContactSnapshot("c1"), request, "d")
    assert "propensity 0.1 the mean of" in decision.actions[0].reasons[2]
    assert decision.reservation.entries[0].probability is None


# --- nested segments -----------------------------------------------------------------

TWO_LEVELS = PACK.replace("segment_by: [facts.lifecycle]", "segment_by: [facts.lifecycle, contact.city]")


def evidence(exposures: int, successes: int) -> Counts:
    scale = weight_at(NOW, timedelta(days=30))
    return Counts(exposures * scale, successes * scale, exposures, successes)


def test_a_sparse_segment_borrows_from_the_broader_segment_it_nests_in():
    """With segment_by [lifecycle, city], a city seen once among "other" contacts
    starts from what "other" contacts did, not from every contact."""
    plan = pack("greedy", TWO_LEVELS)
    counts = {("banner_a", ""): evidence(200, 20),
              ("banner_a", "lifecycle=other"): evidence(100, 20),
              ("banner_a", "lifecycle=vip"): evidence(100, 0),
              ("banner_a", "lifecycle=other,city=nice"): evidence(1, 0)}
    rows = learning_report(plan, counts, NOW)["actions"]
    segments = {row["segment"]: row for row in rows[0]["segments"]}
    other = segments["lifecycle=other"]["posterior_mean"]
    assert other > 0.15 > rows[0]["posterior_mean"]
    # One failure in Nice moves it a little below "other", far above every contact's mean.
    assert other * 0.85 < segments["lifecycle=other,city=nice"]["posterior_mean"] < other


def test_the_learner_counts_every_segment_a_decision_nests_in():
    shop = Shop("greedy")
    shop.plan = pack("greedy", TWO_LEVELS)
    shop.service = DecisionService(shop.store, ActivePack(shop.plan), learner=shop.learner)
    shop.store.put_contact(ContactRecord("c7", {"tier": "gold", "city": "Lyon"}, {}))
    shop.outcome(shop.decide("c7"))
    segments = {segment for (_, segment) in shop.learner.refresh(shop.plan)}
    assert segments == {"", "lifecycle=vip", "lifecycle=vip,city=Lyon"}
    assert shop.store.history("c7")[0].segment == "lifecycle=vip,city=Lyon"


# --- logged probabilities ------------------------------------------------------------

def test_thompson_choices_log_their_probability_and_segment():
    shop = Shop("thompson")
    for _ in range(200):
        shop.decide()
    entries = shop.store.history("c1")
    probabilities = [e.probability for e in entries]
    assert all(0 < p < 1 for p in probabilities)
    # Two identical posteriors: each is chosen about half the time, and says so.
    assert 0.4 < sum(probabilities) / len(probabilities) < 0.6
    assert {e.segment for e in entries} == {"lifecycle=other"}


def test_a_clear_favourite_logs_a_high_probability():
    shop = Shop("thompson")
    for _ in range(150):
        result = shop.decide()
        if result.decision.actions[0].action_id == "banner_a":
            shop.outcome(result)
    last = shop.store.history("c1")[-20:]
    assert all(e.action_id == "banner_a" and e.probability > 0.9 for e in last)


def test_greedy_choices_are_certain():
    shop = Shop("greedy")
    shop.decide()
    assert shop.store.history("c1")[0].probability is None  # chosen with probability 1


# --- the learner's cache -----------------------------------------------------------------

def test_a_process_sees_others_evidence_after_its_refresh_and_its_own_at_once():
    counts = MemoryLearningStore()
    ticks = [0.0]
    plan = pack()
    mine = Learner(counts, lambda: NOW, refresh_s=5, flush_s=1, monotonic=lambda: ticks[0])
    other = Learner(counts, lambda: NOW, refresh_s=5, flush_s=0, monotonic=lambda: ticks[0])
    assert mine.counts(plan) == {}
    entry = _entry("banner_a")
    mine.exposed(plan, [entry])
    assert mine.counts(plan)[("banner_a", "")].exposures == 1  # its own, before any flush
    other.exposed(plan, [entry])  # flushed at once
    assert mine.counts(plan)[("banner_a", "")].exposures == 1  # not refreshed yet
    ticks[0] = 5.0
    assert mine.counts(plan)[("banner_a", "")].exposures == 2
    assert counts.read("learner:h2592000")[("banner_a", "")].exposures == 2


def test_decisions_of_one_second_share_posteriors_until_the_process_adds_evidence():
    plan = pack()
    learner = Learner(MemoryLearningStore(), lambda: NOW, refresh_s=3600, flush_s=3600)
    plan.attach_learner(learner)
    request = DecisionRequest(contact_id="c1", channel="web", at=NOW, explain=True)
    later = DecisionRequest(contact_id="c1", channel="web", at=NOW + timedelta(seconds=0.7),
                            explain=True)
    decide(plan, ContactSnapshot("c1"), request, "d1")
    shared = dict(learner.posteriors(plan))
    decide(plan, ContactSnapshot("c1"), later, "d2")  # the same second: the same objects
    assert all(learner.posteriors(plan)[key][2] is entry[2] for key, entry in shared.items())
    key = ("banner_a", "lifecycle=other", 0.1, 10.0)
    assert shared[key][2].alpha == pytest.approx(1.0)  # the prior: 0.1 worth 10
    learner.exposed(plan, [_entry("banner_a")])  # its own evidence counts at once
    decide(plan, ContactSnapshot("c1"), later, "d3")
    # banner_a shown once without a click: mean 1/11, the segment's prior mean
    assert learner.posteriors(plan)[key][2].alpha == pytest.approx(10 / 11)
    assert learner.posteriors(plan)[key][1] == NOW  # computed at the second's start
    b_key = ("banner_b", "lifecycle=other", 0.1, 10.0)
    assert learner.posteriors(plan)[b_key][2] is shared[b_key][2]  # unchanged counts


def test_choices_of_different_actions_share_one_estimate_and_none_is_zero():
    shop = Shop("thompson")
    shop.learner.refresh_s = 3600  # one estimate for the whole run
    for _ in range(60):
        shop.decide()
    logged = {(e.action_id, e.probability) for e in shop.store.history("c1")}
    assert {action for action, _ in logged} == {"banner_a", "banner_b"}
    assert len(logged) == 2  # one probability per action
    # limit 1: each of the 50 draws ranks exactly one first, and each choice counts
    # its own draw: (n_a + 1) / 51 + (n_b + 1) / 51 = 52 / 51
    assert sum(p for _, p in logged) == pytest.approx(52 / 51, abs=1e-5)
    assert all(p > 0 for _, p in logged)


def test_evidence_waits_in_the_process_while_the_store_is_down():
    class Down(MemoryLearningStore):
        up = False

        def add(self, *args):
            if not self.up:
                raise ConnectionError("down")
            super().add(*args)

    counts = Down()
    plan = pack()
    learner = Learner(counts, lambda: NOW, refresh_s=0, flush_s=0)
    learner.exposed(plan, [_entry("banner_a")])
    assert learner.counts(plan)[("banner_a", "")].exposures == 1
    counts.up = True
    learner.flush()
    assert counts.read("learner:h2592000")[("banner_a", "")].exposures == 1


def _entry(action_id: str):
    from engine.model import HistoryEntry

    return HistoryEntry("d", action_id, "cross_sell", "commercial", "web", NOW)


def test_an_idle_process_adds_its_counts_when_asked_once_due():
    counts = MemoryLearningStore()
    ticks = [0.0]
    plan = pack()
    learner = Learner(counts, lambda: NOW, refresh_s=5, flush_s=1, monotonic=lambda: ticks[0])
    learner.exposed(plan, [_entry("banner_a")])
    learner.flush_if_due()
    assert counts.read("learner:h2592000") == {}  # not due yet
    ticks[0] = 1.0
    learner.flush_if_due()  # what each request does first
    assert counts.read("learner:h2592000")[("banner_a", "")].exposures == 1
